"""In-memory model of the emulated Fly world (what ``FlyEmulator.state`` returns).

Shape of ``FlyState``:

* ``apps``: ``{app_name: App}``; ``App.secrets_version`` counts secret writes.
* ``volumes``: ``{volume_id: Volume}``; ``Volume.app`` names the app. Deleted volumes stay with
  state ``pending_destroy`` (docs/reference/fly-machines-api.md §1.3: soft delete, kept 24 h).
* ``machines``: ``{machine_id: Machine}``; ``Machine.app`` names the app. Destroyed machines stay
  with state ``destroyed`` (hidden from GET, listed with ``include_deleted``).
* ``ips``: ``{app_name: [IpAssignment]}``.
* ``secrets``: ``{app_name: {secret_name: Secret}}``.
* ``certificates``: ``{app_name: {hostname: Certificate}}``.

Time-driven transitions (machine states, volume creation, volume unbinding) are applied lazily by
``FlyState.tick(now)``, which the server calls under its lock before every request.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from secrets import token_hex
from typing import Any

_ULID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
MAX_EVENTS = 10  # Fly keeps a machine's last few events; older ones drop off
CHECK_STATUSES = ("passing", "warning", "critical")


def iso(ts: float) -> str:
    """RFC 3339 UTC timestamp of epoch seconds `ts`, the format Fly uses for created_at/updated_at."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def new_machine_id() -> str:
    return token_hex(7)


def new_volume_id() -> str:
    return "vol_" + token_hex(8)


def new_instance_id() -> str:
    """A ULID-shaped version id; Fly's instance_id looks like ``01HXYZ...`` (26 chars)."""
    raw = int.from_bytes(bytes.fromhex(token_hex(17)), "big")
    chars = [_ULID_ALPHABET[(raw >> (5 * i)) & 31] for i in range(25)]
    return "0" + "".join(chars)


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:16]


@dataclass
class App:
    id: str
    name: str
    org: str
    network: str
    created_at_ms: int
    visible_at: float  # clock.monotonic() time from which GET /v1/apps/{app} answers 200
    secrets_version: int = 0


@dataclass
class Lease:
    nonce: str
    owner: str
    description: str
    expires_at: float  # clock.time() epoch seconds
    version: str

    def live(self, now: float) -> bool:
        return self.expires_at > now

    def to_json(self) -> dict[str, Any]:
        return {
            "nonce": self.nonce,
            "expires_at": int(self.expires_at),
            "owner": self.owner,
            "description": self.description,
            "version": self.version,
        }


@dataclass
class Machine:
    id: str
    app: str
    name: str
    region: str
    config: dict[str, Any]
    image_ref: dict[str, Any]
    instance_id: str
    private_ip: str
    state: str
    created_at: str
    updated_at: str
    past_instances: list[str] = field(default_factory=list)
    plan: list[tuple[float, str]] = field(default_factory=list)  # (clock.monotonic() due time, state)
    lease: Lease | None = None
    cordoned: bool = False
    destroyed_at: float | None = None  # clock.monotonic()
    events: list[dict[str, Any]] = field(default_factory=list)  # newest first, at most MAX_EVENTS
    # name -> {"status", "output", "updated_at"}; reset to "passing" on every boot, set by FlyEmulator.set_check.
    check_results: dict[str, dict[str, str]] = field(default_factory=dict)
    boot_checks: str = "passing"  # what every check reports after a boot (FlyEmulator.set_boot_checks)

    def go(self, now: float, steps: list[str], transition: float) -> None:
        """Enter steps[0] now and each later step `transition` seconds after the previous one."""
        self.state = steps[0]
        self.plan = [(now + i * transition, step) for i, step in enumerate(steps[1:], start=1)]
        if self.state == "destroyed":
            self.destroyed_at = now

    def record(self, kind: str, status: str, source: str, at: float, request: dict[str, Any] | None = None) -> None:
        """Prepend one event (`at` in epoch seconds; Fly stamps events in epoch milliseconds)."""
        event: dict[str, Any] = {"type": kind, "status": status, "source": source, "timestamp": int(at * 1000)}
        event["request"] = request or {}
        self.events = [event, *self.events][:MAX_EVENTS]

    def boot(self, source: str, at: float, kind: str = "start") -> None:
        """A (re)boot: its event, and every configured check reporting `boot_checks` afresh (passing,
        unless a test made the guest unhealthy with FlyEmulator.set_boot_checks)."""
        self.record(kind, "started", source, at)
        stamp = iso(at)
        self.check_results = {
            name: {"status": self.boot_checks, "output": "", "updated_at": stamp} for name in self.check_names()
        }

    def check_names(self) -> list[str]:
        """The configured checks: `config.checks` names, then each service's checks as Fly names them."""
        names = list(self.config.get("checks") or {})
        for service in self.config.get("services") or []:
            for i, check in enumerate(service.get("checks") or []):
                kind = check.get("type", "tcp") if isinstance(check, dict) else "tcp"
                names.append(f"servicecheck-{i:02d}-{kind}-{service.get('internal_port', 0)}")
        return names

    def checks_json(self) -> list[dict[str, Any]]:
        configured = self.check_names()
        return [{"name": name, **self.check_results[name]} for name in configured if name in self.check_results]

    def live_lease(self, now: float) -> Lease | None:
        """The lease unless it expired by `now` (epoch seconds)."""
        if self.lease is not None and not self.lease.live(now):
            self.lease = None
        return self.lease

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "region": self.region,
            "instance_id": self.instance_id,
            "private_ip": self.private_ip,
            "config": self.config,
            "image_ref": self.image_ref,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "events": [dict(e) for e in self.events],
            "checks": self.checks_json(),
            "host_status": "ok",
            "cordoned": self.cordoned,
        }


@dataclass
class Volume:
    id: str
    app: str
    name: str
    region: str
    zone: str
    size_gb: int
    encrypted: bool
    snapshot_retention: int
    auto_backup_enabled: bool
    require_unique_zone: bool
    fstype: str
    state: str
    created_at: str
    attached_machine_id: str | None = None
    plan: list[tuple[float, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "size_gb": self.size_gb,
            "region": self.region,
            "zone": self.zone,
            "encrypted": self.encrypted,
            "attached_machine_id": self.attached_machine_id,
            "attached_alloc_id": None,
            "created_at": self.created_at,
            "blocks": 0,
            "blocks_free": 0,
            "blocks_avail": 0,
            "block_size": 4096,
            "fstype": self.fstype,
            "snapshot_retention": self.snapshot_retention,
            "auto_backup_enabled": self.auto_backup_enabled,
            "host_dedication_key": "",
            "host_status": "ok",
            "bytes_total": self.size_gb * 1024**3,
            "bytes_used": 0,
        }


@dataclass
class IpAssignment:
    ip: str
    type: str
    region: str
    service_name: str
    shared: bool
    created_at: str

    def to_json(self) -> dict[str, Any]:
        return {
            "ip": self.ip,
            "region": self.region,
            "service_name": self.service_name,
            "shared": self.shared,
            "created_at": self.created_at,
        }


@dataclass
class Secret:
    name: str
    value: str
    digest: str
    created_at: str
    updated_at: str

    def to_json(self, show_value: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "digest": self.digest,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }
        if show_value:
            out["value"] = self.value
        return out


@dataclass
class Certificate:
    hostname: str
    app: str
    status: str
    created_at: str
    acme_target: str  # "<host>.<random>.flydns.net"


@dataclass
class FlyState:
    apps: dict[str, App] = field(default_factory=dict)
    volumes: dict[str, Volume] = field(default_factory=dict)
    machines: dict[str, Machine] = field(default_factory=dict)
    ips: dict[str, list[IpAssignment]] = field(default_factory=dict)
    secrets: dict[str, dict[str, Secret]] = field(default_factory=dict)
    certificates: dict[str, dict[str, Certificate]] = field(default_factory=dict)

    def tick(self, now: float, volume_unbind_after: float) -> None:
        """Apply every transition that is due by `now`."""
        for machine in self.machines.values():
            while machine.plan and machine.plan[0][0] <= now:
                due, step = machine.plan.pop(0)
                machine.state = step
                if step == "destroyed":
                    machine.destroyed_at = due
                    machine.lease = None
        for volume in self.volumes.values():
            while volume.plan and volume.plan[0][0] <= now:
                volume.state = volume.plan.pop(0)[1]
            holder = self.machines.get(volume.attached_machine_id or "")
            # docs/reference/fly-machines-api.md §1.3/§5 (TF #154): a volume stays bound for a while after its
            # machine is destroyed.
            if (
                holder is not None
                and holder.destroyed_at is not None
                and now >= holder.destroyed_at + volume_unbind_after
            ):
                volume.attached_machine_id = None

    def machines_of(self, app: str, include_deleted: bool = False) -> list[Machine]:
        return [m for m in self.machines.values() if m.app == app and (include_deleted or m.state != "destroyed")]

    def volumes_of(self, app: str) -> list[Volume]:
        return [v for v in self.volumes.values() if v.app == app and v.state != "destroyed"]

    def drop_app(self, name: str) -> None:
        """Cascade of DELETE /v1/apps/{app} (docs/reference/fly-machines-api.md §1.2): machines, volumes, IPs,
        secrets, certs."""
        self.apps.pop(name, None)
        for mid in [m.id for m in self.machines.values() if m.app == name]:
            del self.machines[mid]
        for vid in [v.id for v in self.volumes.values() if v.app == name]:
            del self.volumes[vid]
        self.ips.pop(name, None)
        self.secrets.pop(name, None)
        self.certificates.pop(name, None)
