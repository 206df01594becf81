"""What a sync run did and found: the record the reconciler fills, and its human and JSON forms."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

ChangeKind = Literal[
    "added", "upgraded", "downgraded", "suspended", "reactivated", "cancelled", "rescheduled",
    "purging", "removed", "renamed", "email",
]  # fmt: skip
# skipped/warning need an operator; missing/pending/settled are information only.
NoticeKind = Literal["skipped", "warning", "missing", "pending", "settled"]
ATTENTION: tuple[NoticeKind, ...] = ("skipped", "warning")


@dataclass(frozen=True)
class Change:
    kind: ChangeKind
    tenant_id: str
    username: str
    customer: str
    detail: str


@dataclass(frozen=True)
class Notice:
    kind: NoticeKind
    customer: str
    tenant_id: str | None
    message: str


@dataclass(frozen=True)
class LostClaim:
    """A new, live subscription whose username another tenant holds: billing.name_taken settles it."""

    customer: str
    subscription: str
    username: str
    email: str
    holder: str  # the tenant id that has the name


@dataclass
class Report:
    changes: list[Change] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    lost_claims: list[LostClaim] = field(default_factory=list)
    subscriptions: int = 0
    customers: int = 0
    stripe_tenants: int = 0  # roster entries with stripe_customer after the run
    hand_managed: int = 0

    @property
    def needs_attention(self) -> bool:
        return any(n.kind in ATTENTION for n in self.notices)

    def drop_changes_of(self, tenant_id: str) -> None:
        self.changes = [c for c in self.changes if c.tenant_id != tenant_id]

    def count(self, kind: str) -> int:
        return sum(1 for c in self.changes if c.kind == kind) + sum(1 for n in self.notices if n.kind == kind)


@dataclass(frozen=True)
class ReadSummary:
    """How the run read Stripe (billing.incremental) and what became of the cursor (billing.cursor)."""

    mode: Literal["full", "incremental"] = "full"
    fallback: str = ""  # why a run asked to be incremental listed everything
    events: int = 0  # new events read since the cursor
    customers: int = 0  # customers re-read
    cursor: str = ""  # the cursor file; "" when the run keeps none
    cursor_outcome: str = ""  # written | unchanged | taken | not written (dry run) | not written (...)


@dataclass(frozen=True)
class RunSummary:
    """The report plus how the run ended, for printing."""

    report: Report
    roster: str
    now: str
    dry_run: bool
    written: bool
    read: ReadSummary = ReadSummary()


def _read_line(read: ReadSummary) -> str | None:
    if read.mode == "incremental":
        return (
            f"Read: the changes since the cursor, {read.events} new event(s) naming "
            f"{read.customers} customer(s), re-read from Stripe"
        )
    if read.fallback:
        return f"Read: every subscription (incremental asked, but {read.fallback})"
    return "Read: every subscription" if read.cursor else None


_CURSOR_OUTCOMES = {
    "written": "written",
    "unchanged": "unchanged",
    "taken": "left as it is (another run wrote it meanwhile; the next run reads those events again)",
}


def render_human(summary: RunSummary) -> str:
    report = summary.report
    mode = " (dry run)" if summary.dry_run else ""
    head = (
        f"Stripe sync{mode} at {summary.now}: {report.subscriptions} subscriptions of "
        f"{report.customers} customers; {len(report.changes)} change(s)"
    )
    skipped = report.count("skipped")
    warnings = report.count("warning")
    if skipped or warnings:
        head += f", {skipped} skipped, {warnings} warning(s)"
    lines = [head]
    read = _read_line(summary.read)
    if read:
        lines.append(read)
    for change in report.changes:
        who = f"{change.tenant_id} ({change.username})"
        lines.append(f"  {change.kind:<11} {who} [{change.customer}]: {change.detail}")
    for notice in report.notices:
        who = f"tenant {notice.tenant_id} " if notice.tenant_id else ""
        whose = f"[{notice.customer}]: " if notice.customer else ""  # a notice about the run itself names none
        lines.append(f"  {notice.kind:<11} {who}{whose}{notice.message}")
    outcome = "not written (dry run)" if summary.dry_run else "written" if summary.written else "unchanged"
    lines.append(f"Roster {summary.roster}: {outcome}")
    if summary.read.cursor:
        kept = summary.read.cursor_outcome
        lines.append(f"Cursor {summary.read.cursor}: {_CURSOR_OUTCOMES.get(kept, kept)}")
    if report.needs_attention:
        lines.append("Needs attention: see the skipped and warning lines above.")
    return "\n".join(lines) + "\n"


def to_json(summary: RunSummary) -> dict[str, Any]:
    report = summary.report
    return {
        "roster": summary.roster,
        "now": summary.now,
        "dry_run": summary.dry_run,
        "written": summary.written,
        "changed": bool(report.changes),
        "needs_attention": report.needs_attention,
        "counts": {
            "subscriptions": report.subscriptions,
            "customers": report.customers,
            "stripe_tenants": report.stripe_tenants,
            "hand_managed": report.hand_managed,
        },
        "changes": [asdict(c) for c in report.changes],
        "notices": [asdict(n) for n in report.notices],
        "read": {
            "mode": summary.read.mode,
            "fallback": summary.read.fallback,
            "events": summary.read.events,
            "customers": summary.read.customers,
        },
        "cursor": {"path": summary.read.cursor, "outcome": summary.read.cursor_outcome},
    }


def render_json(summary: RunSummary) -> str:
    return json.dumps(to_json(summary), indent=2, sort_keys=True) + "\n"
