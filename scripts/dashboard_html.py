"""The fleet dashboard as one static HTML file: totals, inline SVG bar charts and a sortable tenant table.

No server, no framework and no external resource (no font, script or image is fetched): the page works
offline and from a file:// URL. The markup is a Jinja2 template (scripts/templates/dashboard.html) with
autoescaping on: every value from the fleet (usernames, problems, error text) is escaped by the engine;
emails appear only when the caller passes them (`--show-emails`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import jinja2

from common.sizes import human_bytes
from ops.fleet_health import Alert, TenantHealth

AGE_BUCKETS: tuple[tuple[str, float], ...] = (
    ("< 1 h", 1),
    ("1-6 h", 6),
    ("6-24 h", 24),
    ("1-3 days", 72),
    ("3-7 days", 168),
    ("> 7 days", float("inf")),
)
NO_BACKUP = "none"
BAR_COLOR = "#3b6ea8"
WARN_COLOR = "#c0392b"


@dataclass(frozen=True)
class Page:
    stack: str
    generated_at: datetime
    tenants: Sequence[TenantHealth]
    alerts: Mapping[str, Sequence[Alert]]  # tenant id -> its alerts
    emails: Mapping[str, str] | None = None  # tenant id -> email, only with --show-emails
    top_storage: int = 20


_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).resolve().parent / "templates"),
    autoescape=True,  # HTML: every value escaped, whatever the file's name
    undefined=jinja2.StrictUndefined,  # a misspelt value is an error, never an empty string
    keep_trailing_newline=True,
)


@dataclass(frozen=True)
class Bar:
    label: str
    shown: str
    label_x: int
    text_y: int
    x: int
    y: int
    width: str
    height: int
    color: str
    shown_x: str


@dataclass(frozen=True)
class Chart:
    title: str
    width: int
    height: int
    bars: Sequence[Bar]
    limit_x: str | None
    limit_color: str = WARN_COLOR


@dataclass(frozen=True)
class Cell:
    text: str
    sort: float | str | None = None


@dataclass(frozen=True)
class Row:
    tenant: str
    classes: str
    cells: Sequence[Cell]
    problems: Sequence[str]


def backup_hours(health: TenantHealth, now: datetime) -> float | None:
    """Hours since the newest backup evidence (snapshot or the image's last backup), None when none."""
    found = [t for t in (health.newest_snapshot_at, health.last_backup_at) if t is not None]
    return (now - max(found)).total_seconds() / 3600 if found else None


def age_bucket(hours: float | None) -> str:
    if hours is None:
        return NO_BACKUP
    return next(label for label, ceiling in AGE_BUCKETS if hours < ceiling)


def _age_text(when: datetime | None, now: datetime) -> str:
    if when is None:
        return "-"
    hours = (now - when).total_seconds() / 3600
    if hours < 1:
        return f"{max(hours * 60, 0):.0f} min"
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} d"


# -- charts --------------------------------------------------------------------------------------------
def bar_chart(
    title: str,
    items: Sequence[tuple[str, float, str]],
    *,
    colors: Sequence[str] | None = None,
    limit: float | None = None,
) -> Chart:
    """A horizontal bar chart (inline SVG in the page): one (label, value, shown text) per bar; `limit`
    draws a dashed line at that value (the quota's 100 %)."""
    label_w, bar_w, text_w, row_h = 150, 300, 110, 22
    height = 30 + row_h * max(len(items), 1)
    top = max([v for _, v, _ in items] + [limit or 0, 1e-9])
    bars = []
    for index, (label, value, shown) in enumerate(items):
        y = 26 + index * row_h
        width = max(bar_w * value / top, 1 if value > 0 else 0)
        bars.append(
            Bar(
                label=label,
                shown=shown,
                label_x=label_w - 6,
                text_y=y + 14,
                x=label_w,
                y=y + 3,
                width=f"{width:.1f}",
                height=row_h - 6,
                color=colors[index] if colors else BAR_COLOR,
                shown_x=f"{label_w + width + 4:.1f}",
            )
        )
    limit_x = None if limit is None else f"{label_w + bar_w * limit / top:.1f}"
    return Chart(title=title, width=label_w + bar_w + text_w, height=height, bars=bars, limit_x=limit_x)


def charts(page: Page) -> list[Chart]:
    tenants, now = page.tenants, page.generated_at
    by_state = Counter(t.state for t in tenants)
    by_plan = Counter(t.plan for t in tenants)
    cost: dict[str, float] = defaultdict(float)
    for t in tenants:
        cost[t.plan] += t.monthly_cost_usd
    measured = [t for t in tenants if t.storage_bytes is not None and t.quota_bytes]
    heavy = sorted(measured, key=lambda t: -(t.storage_bytes or 0) / t.quota_bytes)[: page.top_storage]
    ages = Counter(age_bucket(backup_hours(t, now)) for t in tenants)
    age_labels = [label for label, _ in AGE_BUCKETS] + [NO_BACKUP]
    return [
        bar_chart("Tenants by state", [(s, n, str(n)) for s, n in sorted(by_state.items())]),
        bar_chart("Tenants by plan", [(p, n, str(n)) for p, n in sorted(by_plan.items())]),
        bar_chart("Monthly cost by plan (USD, list prices)", [(p, c, f"${c:,.2f}") for p, c in sorted(cost.items())]),
        bar_chart(
            f"Storage use against quota (top {len(heavy)})",
            [
                (
                    t.tenant,
                    100 * (t.storage_bytes or 0) / t.quota_bytes,
                    f"{100 * (t.storage_bytes or 0) / t.quota_bytes:.0f}%",
                )
                for t in heavy
            ],
            colors=[WARN_COLOR if (t.storage_bytes or 0) > t.quota_bytes else BAR_COLOR for t in heavy],
            limit=100.0,
        ),
        bar_chart(
            "Newest backup age (tenants)",
            [(label, ages.get(label, 0), str(ages.get(label, 0))) for label in age_labels],
            colors=[WARN_COLOR if label in ("> 7 days", NO_BACKUP) else BAR_COLOR for label in age_labels],
        ),
    ]


# -- totals and table ----------------------------------------------------------------------------------
def totals(page: Page) -> list[tuple[str, str]]:
    tenants = page.tenants
    alerts = sum(len(a) for a in page.alerts.values())
    flagged = sum(1 for t in tenants if t.problems or page.alerts.get(t.tenant))
    used = sum(t.storage_bytes or 0 for t in tenants)
    quota = sum(t.quota_bytes for t in tenants)
    started = sum(1 for t in tenants if "started" in (t.machine_state or "").split(","))
    return [
        ("Tenants", str(len(tenants))),
        ("Need attention", str(flagged)),
        ("Alerts", str(alerts)),
        ("Machines started", str(started)),
        ("R2 used / quota", f"{human_bytes(used)} / {human_bytes(quota)}"),
        ("Monthly cost (list)", f"${sum(t.monthly_cost_usd for t in tenants):,.2f}"),
    ]


# (header, numeric sort?)
def _columns(show_emails: bool) -> list[tuple[str, bool]]:
    columns = [("Tenant", False), ("Username", False)]
    if show_emails:
        columns.append(("Email", False))
    return [
        *columns,
        ("State", False),
        ("Plan", False),
        ("Machine", False),
        ("Last start", True),
        ("Restarts", True),
        ("Check", False),
        ("Volume", True),
        ("R2 used", True),
        ("Use %", True),
        ("Snapshot age", True),
        ("Books backup age", True),
        ("Certificate", False),
        ("Cost / month", True),
        ("Problems", True),
    ]


def _since(when: datetime | None, now: datetime) -> float:
    """Seconds since `when` for sorting; unknown sorts as the oldest."""
    return (now - when).total_seconds() if when is not None else 1e12


def _row(health: TenantHealth, page: Page) -> Row:
    now = page.generated_at
    alerts = page.alerts.get(health.tenant, ())
    problems = [*(a.title.removeprefix(f"{health.tenant}: ") for a in alerts), *health.problems]
    classes = ["problem", *(f"alert-{a.kind.value}" for a in alerts)] if problems else []
    percent = (
        100 * health.storage_bytes / health.quota_bytes
        if health.storage_bytes is not None and health.quota_bytes
        else None
    )
    cells = [Cell(health.tenant), Cell(health.username)]
    if page.emails is not None:
        cells.append(Cell(page.emails.get(health.tenant, "")))
    cells += [
        Cell(health.state),
        Cell(health.plan),
        Cell(health.machine_state or "-"),
        Cell(_age_text(health.machine_last_start, now), _since(health.machine_last_start, now)),
        Cell("-" if health.machine_restarts is None else str(health.machine_restarts), health.machine_restarts or 0),
        Cell(health.check_status or "-"),
        Cell("-" if health.volume_gb is None else f"{health.volume_gb} GB", health.volume_gb or 0),
        Cell("-" if health.storage_bytes is None else human_bytes(health.storage_bytes), health.storage_bytes or -1),
        Cell("-" if percent is None else f"{percent:.0f}%", -1 if percent is None else round(percent, 3)),
        Cell(_age_text(health.newest_snapshot_at, now), _since(health.newest_snapshot_at, now)),
        Cell(_age_text(health.newest_book_backup_at, now), _since(health.newest_book_backup_at, now)),
        Cell(health.certificate_status or "-"),
        Cell(f"${health.monthly_cost_usd:,.2f}", round(health.monthly_cost_usd, 4)),
    ]
    return Row(tenant=health.tenant, classes=" ".join(classes), cells=cells, problems=problems)


def render(page: Page) -> str:
    return _ENV.get_template("dashboard.html").render(
        stack=page.stack,
        generated=page.generated_at.isoformat(timespec="seconds"),
        totals=totals(page),
        charts=charts(page),
        columns=_columns(page.emails is not None),
        rows=[_row(t, page) for t in page.tenants],
    )
