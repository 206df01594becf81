"""The fleet dashboard as one static HTML file: totals, inline SVG bar charts and a sortable tenant table.

No server, no framework and no external resource (no font, script or image is fetched): the page works
offline and from a file:// URL. Every value from the fleet (usernames, problems, error text) goes through
`html.escape`; emails appear only when the caller passes them (`--show-emails`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape

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


def _e(value: object) -> str:
    return escape(str(value), quote=True)


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
) -> str:
    """A horizontal bar chart as inline SVG: one (label, value, shown text) per bar; `limit` draws a
    dashed line at that value (the quota's 100 %)."""
    label_w, bar_w, text_w, row_h = 150, 300, 110, 22
    height = 30 + row_h * max(len(items), 1)
    top = max([v for _, v, _ in items] + [limit or 0, 1e-9])
    parts = [
        f'<svg class="chart" role="img" aria-label="{_e(title)}" width="{label_w + bar_w + text_w}" '
        f'height="{height}" viewBox="0 0 {label_w + bar_w + text_w} {height}" xmlns="http://www.w3.org/2000/svg">',
        f'<text x="0" y="16" class="chart-title">{_e(title)}</text>',
    ]
    if not items:
        parts.append('<text x="0" y="42">no data</text>')
    for index, (label, value, shown) in enumerate(items):
        y = 26 + index * row_h
        width = max(bar_w * value / top, 1 if value > 0 else 0)
        color = colors[index] if colors else BAR_COLOR
        parts.append(f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end">{_e(label[:22])}</text>')
        parts.append(
            f'<rect x="{label_w}" y="{y + 3}" width="{width:.1f}" height="{row_h - 6}" fill="{color}">'
            f"<title>{_e(label)}: {_e(shown)}</title></rect>"
        )
        parts.append(f'<text x="{label_w + width + 4:.1f}" y="{y + 14}">{_e(shown)}</text>')
    if limit is not None:
        x = label_w + bar_w * limit / top
        parts.append(
            f'<line x1="{x:.1f}" y1="22" x2="{x:.1f}" y2="{height}" stroke="{WARN_COLOR}" stroke-dasharray="4 3"/>'
        )
    parts.append("</svg>")
    return "".join(parts)


def charts(page: Page) -> list[str]:
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


def _cell(text: str, sort: float | str | None = None) -> str:
    key = "" if sort is None else f' data-sort="{_e(sort)}"'
    return f"<td{key}>{_e(text)}</td>"


def _since(when: datetime | None, now: datetime) -> float:
    """Seconds since `when` for sorting; unknown sorts as the oldest."""
    return (now - when).total_seconds() if when is not None else 1e12


def _row(health: TenantHealth, page: Page) -> str:
    now = page.generated_at
    alerts = page.alerts.get(health.tenant, ())
    problems = [*(a.title.removeprefix(f"{health.tenant}: ") for a in alerts), *health.problems]
    classes = ["problem", *(f"alert-{a.kind.value}" for a in alerts)] if problems else []
    percent = (
        100 * health.storage_bytes / health.quota_bytes
        if health.storage_bytes is not None and health.quota_bytes
        else None
    )
    cells = [_cell(health.tenant), _cell(health.username)]
    if page.emails is not None:
        cells.append(_cell(page.emails.get(health.tenant, "")))
    cells += [
        _cell(health.state),
        _cell(health.plan),
        _cell(health.machine_state or "-"),
        _cell(_age_text(health.machine_last_start, now), _since(health.machine_last_start, now)),
        _cell("-" if health.machine_restarts is None else str(health.machine_restarts), health.machine_restarts or 0),
        _cell(health.check_status or "-"),
        _cell("-" if health.volume_gb is None else f"{health.volume_gb} GB", health.volume_gb or 0),
        _cell("-" if health.storage_bytes is None else human_bytes(health.storage_bytes), health.storage_bytes or -1),
        _cell("-" if percent is None else f"{percent:.0f}%", -1 if percent is None else round(percent, 3)),
        _cell(_age_text(health.newest_snapshot_at, now), _since(health.newest_snapshot_at, now)),
        _cell(_age_text(health.newest_book_backup_at, now), _since(health.newest_book_backup_at, now)),
        _cell(health.certificate_status or "-"),
        _cell(f"${health.monthly_cost_usd:,.2f}", round(health.monthly_cost_usd, 4)),
        f'<td data-sort="{len(problems)}">{"<br>".join(_e(p) for p in problems) or "-"}</td>',
    ]
    kind = f' class="{" ".join(classes)}"' if classes else ""
    return f'<tr{kind} data-tenant="{_e(health.tenant)}">{"".join(cells)}</tr>'


STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#1d232a;background:#fafafa}
h1{margin:0 0 .2rem}.meta{color:#555;margin:0 0 1rem}
.totals{display:flex;flex-wrap:wrap;gap:.8rem;margin-bottom:1.2rem}
.total{background:#fff;border:1px solid #ddd;border-radius:6px;padding:.5rem .9rem;min-width:8rem}
.total b{display:block;font-size:1.4rem}
.charts{display:flex;flex-wrap:wrap;gap:1rem;margin-bottom:1.2rem}
.chart{background:#fff;border:1px solid #ddd;border-radius:6px;padding:.4rem;font-size:12px}
.chart-title{font-weight:bold;font-size:13px}
table{border-collapse:collapse;background:#fff;font-size:13px}
th,td{border:1px solid #ddd;padding:.25rem .45rem;text-align:left;vertical-align:top}
th{background:#eef1f5;cursor:pointer;user-select:none;white-space:nowrap}
th[aria-sort=ascending]::after{content:" \\25B2"}th[aria-sort=descending]::after{content:" \\25BC"}
tr.problem{background:#fdecea}tr.problem td:last-child{color:#a42a1d;font-weight:600}
"""

# Nothing may load from anywhere: the page is self-contained (inline style and script only).
CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'"

# Sorts the table by a clicked header: numbers by data-sort, text by content; a second click reverses.
SCRIPT = """
document.querySelectorAll("table.fleet th").forEach(function (th, col) {
  th.addEventListener("click", function () {
    var table = th.closest("table"), body = table.tBodies[0];
    var asc = th.getAttribute("aria-sort") !== "ascending";
    table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
    var numeric = th.dataset.type === "num";
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[col], y = b.cells[col];
      var p = numeric ? parseFloat(x.dataset.sort) : x.textContent;
      var q = numeric ? parseFloat(y.dataset.sort) : y.textContent;
      var d = numeric ? p - q : p.localeCompare(q);
      return asc ? d : -d;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
"""


def render(page: Page) -> str:
    now = page.generated_at
    show_emails = page.emails is not None
    header = "".join(
        f'<th scope="col"{" data-type=num" if numeric else ""}>{_e(name)}</th>'
        for name, numeric in _columns(show_emails)
    )
    header = header.replace(" data-type=num", ' data-type="num"')
    rows = "\n".join(_row(t, page) for t in page.tenants)
    boxes = "".join(f'<div class="total"><b>{_e(v)}</b>{_e(k)}</div>' for k, v in totals(page))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<title>alex-hosted fleet: {_e(page.stack)}</title>
<style>{STYLE}</style></head>
<body>
<h1>Fleet of stack {_e(page.stack)}</h1>
<p class="meta">Generated {_e(now.isoformat(timespec="seconds"))}. R2 use is Cloudflare's analytics and lags real use;
costs are list prices (ops/pricing.py). Click a column header to sort.</p>
<section class="totals">{boxes}</section>
<section class="charts">{"".join(charts(page))}</section>
<table class="fleet"><thead><tr>{header}</tr></thead>
<tbody>
{rows}
</tbody></table>
<script>{SCRIPT}</script>
</body></html>
"""
