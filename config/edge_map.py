"""The edge's map: every hostname the router answers for, and what it does with each.

Built from a list of (settings, roster) sources, so one edge can serve every tenant stack of a
domain. The format is the router's (image/router/README.md, version 1):

    {"version": 1, "digest": "<sha256 of the hosts>", "hosts": {
        "alice.books.example.com": {"app": "alex-t000001"},
        "bob.books.example.com": {"app": "alex-t000002", "state": "suspended"},
        "carol.books.example.com": {"app": "alex-t000003", "state": "cancelled", "exportUntil": "2026-12-31"}}}

Purging tenants are left out (their hostnames answer 404): their app is on its way out. The map goes
to the edge machines as a gzip file in their config; `file_value` is deterministic, and the Fly
machine provider compares such files by their content (providers/fly/machine.py), so a different
zlib on another operator's machine never makes an unchanged roster look changed.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from config.hostnames import tenant_hostnames
from config.stack_config import StackConfig
from tenants.roster import RosterEntry
from tenants.states import TenantState

MAP_VERSION = 1
# Where the router reads it (image/router: EDGE_MAP).
MAP_PATH = "/etc/alex-edge/map.json"


class EdgeMapError(ValueError):
    """Two tenants claim one hostname across the sources (the rosters of one domain)."""


@dataclass(frozen=True)
class EdgeSource:
    """One tenant stack the edge serves: its settings (domain, app prefix) and its roster."""

    settings: StackConfig
    roster: Sequence[RosterEntry]


def _target(entry: RosterEntry, settings: StackConfig) -> dict[str, str]:
    target = {"app": settings.app_name(entry.id)}
    if entry.state == TenantState.SUSPENDED:
        target["state"] = "suspended"
    elif entry.state == TenantState.CANCELLED:
        target["state"] = "cancelled"
        if entry.purge_after is not None:
            target["exportUntil"] = entry.purge_after.isoformat()
    return target


def edge_hosts(sources: Iterable[EdgeSource], apps: Mapping[str, str] | None = None) -> dict[str, dict[str, str]]:
    """hostname -> target, sorted; raises EdgeMapError naming both claimants of a hostname claimed twice.

    `apps` adds the control plane's own hostnames (the signup site's `www.<domain>`: hostname -> app).
    """
    hosts: dict[str, dict[str, str]] = {host: {"app": app} for host, app in (apps or {}).items()}
    owners: dict[str, str] = {host: f"the app {app}" for host, app in (apps or {}).items()}
    clashes: list[str] = []
    for source in sources:
        for entry in source.roster:
            if entry.state == TenantState.PURGING:
                continue
            owner = f"{source.settings.stack}/{entry.id}"
            target = _target(entry, source.settings)
            for hostname in tenant_hostnames(entry, source.settings):
                if hostname in owners:
                    first = owners[hostname]
                    first = first if first.startswith("the app ") else f"tenant {first}"
                    clashes.append(f"{hostname} is claimed by {first} and tenant {owner}")
                    continue
                owners[hostname] = owner
                hosts[hostname] = target
    if clashes:
        raise EdgeMapError("the edge map has hostnames claimed twice:\n" + "\n".join(f"  - {c}" for c in clashes))
    return dict(sorted(hosts.items()))


def map_document(hosts: dict[str, dict[str, str]]) -> dict[str, Any]:
    body = json.dumps(hosts, sort_keys=True, separators=(",", ":"))
    return {"version": MAP_VERSION, "digest": hashlib.sha256(body.encode()).hexdigest(), "hosts": hosts}


def map_bytes(hosts: dict[str, dict[str, str]], document: dict[str, Any] | None = None) -> bytes:
    """The map file as the router reads it: compact JSON, gzip-compressed (no name, no timestamp).
    `document`: map_document(hosts) when the caller has it already (10,000 hosts take a while)."""
    text = json.dumps(document or map_document(hosts), sort_keys=True, separators=(",", ":"))
    return gzip.compress(text.encode(), compresslevel=9, mtime=0)


def file_value(hosts: dict[str, dict[str, str]], document: dict[str, Any] | None = None) -> str:
    """The map as a machine config `files[].raw_value` (base64)."""
    return base64.b64encode(map_bytes(hosts, document)).decode("ascii")
