"""What the fleet collector knows about one tenant, and the alerts drawn from it: the shared vocabulary of
`scripts.status`, `scripts.storage`, `scripts.dashboard` and `scripts.alerts`.

The collector (ops/collector.py) fills `TenantHealth` read-only from the Fly API, R2 and
Cloudflare's analytics; `ops/alert_rules.py` turns it into `Alert`s; the dashboard shows both; the
alerts script keeps one GitHub issue open per alert (deduplicated by `Alert.key`) and closes it when the
alert is gone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class AlertKind(StrEnum):
    MACHINE_FAILED = "machine-failed"  # failed, or restarting again and again
    BACKUP_STALE = "backup-stale"  # newest database snapshot older than the threshold
    OVER_QUOTA = "over-quota"  # R2 use above the plan's quota
    CERTIFICATE_PENDING = "certificate-pending"  # not issued after the threshold
    RESTORE_FAILED = "restore-failed"  # the image recorded a failed restore
    DRIFT = "drift"  # pulumi preview --refresh found changes (stack-wide, tenant "-")


@dataclass(frozen=True)
class TenantHealth:
    """One tenant as the collector saw it; None means "could not be read" (never "fine")."""

    tenant: str
    username: str
    state: str
    plan: str
    app: str
    machine_state: str | None = None  # "started", "stopped", ..., "none" (no machine), "no app"
    machine_last_start: datetime | None = None
    machine_restarts: int | None = None  # exits followed by a restart in the machine's recent events
    check_status: str | None = None  # the machine's health check: "passing", "warning", "critical"
    volume_gb: int | None = None
    storage_bytes: int | None = None
    quota_bytes: int = 0
    newest_snapshot_at: datetime | None = None
    newest_book_backup_at: datetime | None = None
    last_backup_at: datetime | None = None  # from the image's own status object in the bucket
    restore_error: str | None = None  # the image's last failed restore, if any
    certificate_status: str | None = None
    certificate_created_at: datetime | None = None
    monthly_cost_usd: float = 0.0
    created_at: datetime | None = None  # the roster's created_at, midnight UTC (a first day has no snapshot)
    problems: tuple[str, ...] = field(default_factory=tuple)
    # The sources that could not be read for this tenant ("fly", "r2", "health"): the facts they give are
    # unknown, so the alerts script keeps their issues open rather than closing them as resolved.
    unread: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Alert:
    """One problem worth an issue. `key` is stable across runs: the alerts script finds its issue by it."""

    kind: AlertKind
    tenant: str  # a tenant id, or "-" for stack-wide alerts such as drift
    stack: str
    title: str
    detail: str

    @property
    def key(self) -> str:
        return f"{self.stack}/{self.tenant}/{self.kind.value}"
