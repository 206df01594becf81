"""What the edge looks like on Fly, read-only: its routers, the wildcard certificate, custom domains.

`scripts.status` prints it under the tenants' table. GETs only: the machine list of the edge app and
one certificate per hostname (the wildcard, then each custom domain in the roster). For each custom
domain it gives the DNS records the customer must create, as Fly's certificate API states them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from config.stack_config import StackConfig
from providers.fly import endpoints
from providers.fly.client import FlyClient
from providers.fly.errors import FlyNotFoundError
from providers.fly.states import MACHINE_GONE
from tenants.roster import RosterEntry
from tenants.states import TenantState


@dataclass
class DomainStatus:
    hostname: str
    tenant: str
    certificate: str  # Fly's status, or "none"
    records: list[dict[str, str]] = field(default_factory=list)


@dataclass
class EdgeStatus:
    app: str
    routers: dict[str, str] = field(default_factory=dict)  # region -> machine state (checks when not passing)
    wildcard: str = "none"
    domains: list[DomainStatus] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def customer_records(hostname: str, cert: Mapping[str, Any], edge_app: str) -> list[dict[str, str]]:
    """The records the customer creates: the CNAME to the edge and the DNS-01 challenge CNAME."""
    dns = cert.get("dns_requirements") or {}
    records = [{"type": "CNAME", "name": hostname, "content": str(dns.get("cname") or f"{edge_app}.fly.dev")}]
    acme = dns.get("acme_challenge") or {}
    if acme.get("name") and acme.get("target"):
        records.append({"type": "CNAME", "name": str(acme["name"]), "content": str(acme["target"])})
    return records


def read_edge(fly: FlyClient, config: StackConfig, roster: Sequence[RosterEntry]) -> EdgeStatus:
    app = config.edge_app_name
    status = EdgeStatus(app)
    try:
        machines = endpoints.list_machines(fly, app)
    except FlyNotFoundError:
        status.problems.append(f"the edge app {app} does not exist: no tenant is reachable")
        return status
    for machine in machines:
        if machine.get("state") in MACHINE_GONE:  # a replaced router's remains
            continue
        region, state = str(machine.get("region") or "?"), str(machine.get("state") or "?")
        failing = [
            f"{c.get('name')}={c.get('status')}"
            for c in machine.get("checks") or []
            if isinstance(c, Mapping) and c.get("status") != "passing"
        ]
        status.routers[region] = state + (f" ({', '.join(failing)})" if failing else "")
        if state != "started" or failing:
            status.problems.append(f"router in {region} is {status.routers[region]}")
    for region in config.edge_regions:
        if region not in status.routers:
            status.problems.append(f"no router in {region}")
    wildcard = endpoints.get_certificate(fly, app, f"*.{config.domain}")
    status.wildcard = str(wildcard.get("status") or "unknown") if wildcard else "none"
    if wildcard is None:
        status.problems.append(f"no certificate for *.{config.domain}")
    for entry in roster:
        if entry.state == TenantState.PURGING:
            continue
        for hostname in entry.domains or ():
            cert = endpoints.get_certificate(fly, app, hostname)
            domain = DomainStatus(hostname, entry.id, str(cert.get("status") or "unknown") if cert else "none")
            domain.records = customer_records(hostname, cert or {}, app)
            if cert is None:
                status.problems.append(f"no certificate for {hostname} (tenant {entry.id})")
            status.domains.append(domain)
    return status
