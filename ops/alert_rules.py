"""The alert rules: one per `AlertKind` (drift excepted: it comes from `pulumi preview`), drawn from a
`TenantHealth` the collector filled. Pure: no I/O, `now` is passed in.

Which rules apply in which roster state, and why:

| rule                | active | suspended | cancelled | purging |
|---------------------|--------|-----------|-----------|---------|
| machine-failed      | yes    | yes       | yes       | no      |
| backup-stale        | yes    | no        | no        | no      |
| over-quota          | yes    | yes       | yes       | no      |
| certificate-pending | yes    | no        | no        | no      |
| restore-failed      | yes    | yes       | yes       | no      |

- Purging tenants are being deleted: nothing about them is worth an issue.
- Suspended and cancelled machines are stopped on purpose, so they take no backups and serve no
  hostname; their data and machine are still kept, so a failed machine, a failed restore and bytes
  over quota (billed whatever the state) still count.
- backup-stale: the newest backup evidence is the newer of the newest `db/` snapshot and the image's
  own `last_backup_at` (the image skips a snapshot identical to the last one, so an unchanged library
  keeps an old snapshot). It fires when that evidence is older than the threshold *and* the machine ran
  since (it is started now, or its last start is later than the evidence): an active tenant that
  scaled to zero and stayed asleep has nothing new to back up. A tenant with no evidence at all fires
  once it is past its first day (the roster's created_at plus the threshold).
- Unknown values (None: could not be read) never fire a rule; the collector lists why among problems.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from common.sizes import human_bytes
from config.config_keys import ConfigKey
from config.stack_config import stack_file
from ops.fleet_health import Alert, AlertKind, TenantHealth
from tenants.inputs import InputError, load_yaml, read_text
from tenants.states import TenantState

# The stack config key holding the thresholds (optional; every field optional): see `parse_thresholds`.
ALERTS_CONFIG_KEY = ConfigKey.ALERTS.qualified
ISSUED = frozenset({"active", "ready", "issued"})  # certificate statuses that mean "serving"

APPLIES: dict[AlertKind, frozenset[str]] = {
    AlertKind.MACHINE_FAILED: frozenset({TenantState.ACTIVE, TenantState.SUSPENDED, TenantState.CANCELLED}),
    AlertKind.BACKUP_STALE: frozenset({TenantState.ACTIVE}),
    AlertKind.OVER_QUOTA: frozenset({TenantState.ACTIVE, TenantState.SUSPENDED, TenantState.CANCELLED}),
    AlertKind.CERTIFICATE_PENDING: frozenset({TenantState.ACTIVE}),
    AlertKind.RESTORE_FAILED: frozenset({TenantState.ACTIVE, TenantState.SUSPENDED, TenantState.CANCELLED}),
}


class ThresholdsError(ValueError):
    """The `alex-hosted:alerts` value is not usable; the message names every bad field."""


@dataclass(frozen=True)
class Thresholds:
    snapshot_max_age_hours: float = 24.0  # backup-stale: newest backup evidence older than this
    certificate_pending_hours: float = 2.0  # certificate-pending: not issued this long after its creation
    machine_restarts: int = 3  # machine-failed: this many restarts in the machine's recent events

    @property
    def snapshot_max_age(self) -> timedelta:
        return timedelta(hours=self.snapshot_max_age_hours)

    @property
    def certificate_pending(self) -> timedelta:
        return timedelta(hours=self.certificate_pending_hours)


# Config spelling (camelCase, like the other alex-hosted keys) -> field, and the largest value accepted.
_CONFIG_FIELDS: dict[str, tuple[str, float]] = {
    "snapshotMaxAgeHours": ("snapshot_max_age_hours", 24 * 365),
    "certificatePendingHours": ("certificate_pending_hours", 24 * 365),
    "machineRestarts": ("machine_restarts", 1000),
}


def parse_thresholds(value: Any) -> Thresholds:
    """`alex-hosted:alerts` (a mapping, or None for the defaults) as Thresholds; ThresholdsError otherwise.

    alex-hosted:alerts:
      snapshotMaxAgeHours: 24      # a number above 0
      certificatePendingHours: 2   # a number above 0
      machineRestarts: 3           # a whole number, 1 or more
    """
    if value is None:
        return Thresholds()
    if isinstance(value, Thresholds):
        return value
    if not isinstance(value, Mapping):
        raise ThresholdsError(f"{ALERTS_CONFIG_KEY}: expected a mapping of {', '.join(_CONFIG_FIELDS)}")
    problems: list[str] = []
    chosen: dict[str, float | int] = {}
    for key, raw in value.items():
        if key not in _CONFIG_FIELDS:
            problems.append(f"{ALERTS_CONFIG_KEY}.{str(key)[:40]!r}: unknown (known: {', '.join(_CONFIG_FIELDS)})")
            continue
        name, ceiling = _CONFIG_FIELDS[key]
        whole = name == "machine_restarts"
        good = isinstance(raw, int) if whole else isinstance(raw, int | float)
        if isinstance(raw, bool) or not good or not (0 < raw <= ceiling) or raw != raw:  # raw != raw: NaN
            kind = "a whole number from 1" if whole else "a number above 0 and at most"
            problems.append(f"{ALERTS_CONFIG_KEY}.{key}: expected {kind} {ceiling:g}, got {str(raw)[:40]!r}")
            continue
        chosen[name] = raw
    if problems:
        raise ThresholdsError("; ".join(problems))
    return Thresholds(**chosen)  # type: ignore[arg-type]  # names and types checked above


def read_thresholds(stack: str) -> Thresholds:
    """The thresholds in `stacks/Pulumi.<stack>.yaml` (`alex-hosted:alerts`), else the defaults.

    Read from the stack file until the stack settings (config/stack_config.py) carry the key.
    ThresholdsError names the file or the key at fault.
    """
    path = stack_file(stack)
    try:
        data = load_yaml(read_text(path)) or {}
    except InputError as exc:
        raise ThresholdsError(f"{path.name}: {exc}") from None
    config = data.get("config") if isinstance(data, Mapping) else None
    return parse_thresholds(config.get(ALERTS_CONFIG_KEY) if isinstance(config, Mapping) else None)


def evaluate(health: TenantHealth, thresholds: Thresholds, stack: str, now: datetime) -> list[Alert]:
    """The alerts this tenant raises now, in AlertKind order."""
    alerts: list[Alert] = []
    for kind, rule in _RULES.items():
        if health.state not in APPLIES[kind]:
            continue
        detail = rule(health, thresholds, now)
        if detail is not None:
            alerts.append(Alert(kind, health.tenant, stack, f"{health.tenant}: {_TITLES[kind]}", detail))
    return alerts


def _machine_failed(health: TenantHealth, thresholds: Thresholds, now: datetime) -> str | None:
    states = (health.machine_state or "").split(",")
    if "failed" in states:
        return f"the machine of app {health.app} is failed"
    restarts = health.machine_restarts
    if restarts is not None and restarts >= thresholds.machine_restarts:
        return (
            f"the machine of app {health.app} restarted {restarts} times in its recent events "
            f"(threshold {thresholds.machine_restarts})"
        )
    return None


def _backup_stale(health: TenantHealth, thresholds: Thresholds, now: datetime) -> str | None:
    evidence = [t for t in (health.newest_snapshot_at, health.last_backup_at) if t is not None]
    if not evidence:
        if health.created_at is not None and now - health.created_at > thresholds.snapshot_max_age:
            # Details name fixed times, never ages: an unchanged alert must not rewrite its issue every hour.
            return f"no database snapshot at all since the tenant was created ({health.created_at.isoformat()})"
        return None
    newest = max(evidence)
    age = now - newest
    if age <= thresholds.snapshot_max_age:
        return None
    running = "started" in (health.machine_state or "").split(",")
    ran_since = health.machine_last_start is not None and health.machine_last_start > newest
    if not (running or ran_since):
        return None  # asleep since its last backup: nothing new to back up
    return (
        f"newest backup at {newest.isoformat()}, older than the {thresholds.snapshot_max_age_hours:g} h threshold, "
        "and the machine ran since"
    )


def _over_quota(health: TenantHealth, thresholds: Thresholds, now: datetime) -> str | None:
    used = health.storage_bytes
    if used is None or used <= health.quota_bytes:
        return None
    return f"R2 use {human_bytes(used)} is above the {health.plan} plan's quota of {human_bytes(health.quota_bytes)}"


def _certificate_pending(health: TenantHealth, thresholds: Thresholds, now: datetime) -> str | None:
    status, created = health.certificate_status, health.certificate_created_at
    if status is None or created is None or status.lower() in ISSUED:
        return None
    waited = now - created
    if waited <= thresholds.certificate_pending:
        return None
    return (
        f"certificate {status} since it was requested at {created.isoformat()} "
        f"(threshold {thresholds.certificate_pending_hours:g} h)"
    )


def _restore_failed(health: TenantHealth, thresholds: Thresholds, now: datetime) -> str | None:
    if health.restore_error is None:
        return None
    return f"the image recorded a failed restore: {health.restore_error[:200]}"


_RULES = {
    AlertKind.MACHINE_FAILED: _machine_failed,
    AlertKind.BACKUP_STALE: _backup_stale,
    AlertKind.OVER_QUOTA: _over_quota,
    AlertKind.CERTIFICATE_PENDING: _certificate_pending,
    AlertKind.RESTORE_FAILED: _restore_failed,
}
_TITLES = {
    AlertKind.MACHINE_FAILED: "machine failed or restarting",
    AlertKind.BACKUP_STALE: "database backup is stale",
    AlertKind.OVER_QUOTA: "over its storage quota",
    AlertKind.CERTIFICATE_PENDING: "certificate not issued",
    AlertKind.RESTORE_FAILED: "restore failed",
}
assert set(_RULES) == set(AlertKind) - {AlertKind.DRIFT}, "one rule per AlertKind except drift"
assert {f.name for f in fields(Thresholds)} == {name for name, _ in _CONFIG_FIELDS.values()}
