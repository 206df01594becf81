"""Who a client is, for limits: one address, or one IPv6 /64.

An IPv6 customer is usually handed a whole /64 (often more), so keying on the full address would
give one client 2**64 fresh identities; a /64 is the smallest block that is one customer. An IPv4
address mapped into IPv6 (`::ffff:203.0.113.7`) is that IPv4 address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

IPV6_PREFIX = 64
FLY_CLIENT_IP = "fly-client-ip"


def client_key(address: str) -> str:
    """The limiter key of an address: itself for IPv4, its /64 for IPv6, the text itself for anything else."""
    try:
        parsed = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, IPV6_PREFIX), strict=False))
    return str(parsed)


def client_address(headers: Mapping[str, str], peer: str) -> str:
    """Fly's proxy sets Fly-Client-IP (and replaces one a client sent); elsewhere the socket's peer.

    The site is reached only through Fly's proxy (components/signup.py: no public IPs of its own), so
    the header is the client's; a value that is not an address is ignored.
    """
    given = next((v for k, v in headers.items() if k.lower() == FLY_CLIENT_IP), "").strip()
    if given and len(given) <= 64:
        try:
            return str(ipaddress.ip_address(given))
        except ValueError:
            pass
    return peer
