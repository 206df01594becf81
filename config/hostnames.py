"""A tenant's hostnames: `<username>.<domain>` under the stack's domain, and its own custom domains.

One home for the rule, used by the edge map (which hostnames reach the tenant), the bucket's CORS rule
(which origins may upload) and the machine's NEXTAUTH_URL (the primary hostname).
"""

from __future__ import annotations

from config.stack_config import StackConfig
from tenants.roster import RosterEntry


def primary_hostname(entry: RosterEntry, settings: StackConfig) -> str:
    """Where the tenant's Alex lives (NEXTAUTH_URL): its first custom domain, else <username>.<domain>."""
    return entry.domains[0] if entry.domains else settings.hostname(entry.username)


def tenant_hostnames(entry: RosterEntry, settings: StackConfig) -> tuple[str, ...]:
    """Every hostname the tenant answers on: <username>.<domain> first, then its custom domains."""
    return (settings.hostname(entry.username), *(entry.domains or ()))
