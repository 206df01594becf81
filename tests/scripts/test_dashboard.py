"""scripts.dashboard: the static page's content (escaping, no email unless asked, no secret), the command
end to end on the Fly emulator, moto and the Cloudflare stand-in, and the page in real headless Chromium:
it renders, sorts on a header click, marks problem rows, and a screenshot lands in the test output."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ops.alert_rules import Thresholds, evaluate
from ops.fleet_health import TenantHealth
from scripts.dashboard import main
from scripts.dashboard_html import Page, age_bucket, render
from tests.conftest import FLY_TEST_TOKEN
from tests.support.browser import chromium, page, screenshot  # noqa: F401 - fixtures

from .conftest import CF_TOKEN, R2_SECRET, STACK
from .test_collector import ALL, EXPECTED, NOW, fleet, fly_emu  # noqa: F401 - fixtures

GIB = 1024**3
T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
HOSTILE = '<script>alert("x")</script>&"\''


def health(tenant: str, **changes) -> TenantHealth:
    base = TenantHealth(
        tenant=tenant,
        username=tenant.removesuffix("01"),
        state="active",
        plan="reader",
        app=f"alexdev-{tenant}",
        machine_state="started",
        machine_restarts=0,
        storage_bytes=GIB // 4,
        quota_bytes=GIB,
        newest_snapshot_at=T0 - timedelta(hours=1),
        certificate_status="active",
        certificate_created_at=T0 - timedelta(days=9),
        monthly_cost_usd=1.5,
        created_at=T0 - timedelta(days=30),
    )
    return replace(base, **changes)


def page_of(tenants: list[TenantHealth], emails: dict[str, str] | None = None) -> str:
    alerts = {t.tenant: evaluate(t, Thresholds(), "dev", T0) for t in tenants}
    return render(Page(stack="dev", generated_at=T0, tenants=tenants, alerts=alerts, emails=emails))


def test_hostile_values_are_escaped_everywhere():
    text = page_of(
        [
            health("evil01", username=HOSTILE, plan=HOSTILE, state="active", problems=(HOSTILE,)),
            health("okay01", restore_error=HOSTILE),
        ],
        emails={"evil01": f"{HOSTILE}@example.com"},
    )
    assert HOSTILE not in text
    assert "<script>alert" not in text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&amp;&#34;&#39;" in text  # Jinja2's autoescape
    assert text.count("<script>") == 1  # only the page's own sorter


def test_no_email_unless_asked():
    tenants = [health("mailuser01")]
    quiet = page_of(tenants)
    assert "@" not in quiet and "Email" not in quiet
    shown = page_of(tenants, emails={"mailuser01": "reader@example.com"})
    assert "reader@example.com" in shown and ">Email<" in shown


def test_problem_rows_carry_a_class_per_alert_and_healthy_rows_none():
    text = page_of(
        [health("fine01"), health("full01", storage_bytes=2 * GIB), health("odd01", problems=("no machine",))]
    )
    rows = {m.group(2): m.group(1) for m in re.finditer(r'<tr(?: class="([^"]*)")? data-tenant="([^"]+)"', text)}
    assert rows == {"fine01": None, "full01": "problem alert-over-quota", "odd01": "problem"}


def test_the_page_loads_nothing_from_anywhere():
    text = page_of([health("one01")])
    assert "default-src 'none'" in text
    assert not re.search(r'\b(?:src|href)\s*=\s*["\']?(?:https?:)?//', text)
    assert "@import" not in text and "url(" not in text


@pytest.mark.parametrize(
    ("hours", "bucket"),
    [(None, "none"), (0.5, "< 1 h"), (1, "1-6 h"), (23.9, "6-24 h"), (24, "1-3 days"), (200, "> 7 days")],
)
def test_backup_age_buckets(hours, bucket):
    assert age_bucket(hours) == bucket


@pytest.fixture
def fly_env(request, monkeypatch):
    monkeypatch.setenv("FLY_API_URL", request.getfixturevalue("fly_emu").url)
    monkeypatch.setenv("FLY_API_TOKEN", FLY_TEST_TOKEN)
    monkeypatch.setenv("ALEX_FLY_RETRIES", "1")
    monkeypatch.setenv("ALEX_FLY_RETRY_BASE_S", "0.01")
    monkeypatch.setenv("ALEX_FLY_RATE_PER_S", "0")


def run_dashboard(run_cli, make_roster, tmp_path: Path, *extra: str):
    output = tmp_path / "out" / "fleet.html"
    argv = ["--stack", STACK, "--roster", str(make_roster(ALL)), "--now", NOW.isoformat(), "--output", str(output)]
    return run_cli(main, [*argv, *extra]), output


@pytest.mark.usefixtures("fleet", "fly_env")
def test_dashboard_writes_the_page_and_exits_1_with_alerts(run_cli, make_roster, tmp_path):
    result, output = run_dashboard(run_cli, make_roster, tmp_path, "--json")

    assert result.code == 1, result
    data = json.loads(result.out)["data"]
    kinds: dict[str, set[str]] = {}
    for alert in data["alerts"]:
        kinds.setdefault(alert["tenant"], set()).add(alert["kind"])
    assert kinds == {tenant: {k.value for k in expected} for tenant, expected in EXPECTED.items() if expected}
    assert all("email" not in row for row in data["tenants"])
    text = output.read_text()
    everything = text + result.out + result.err
    for secret in (FLY_TEST_TOKEN, CF_TOKEN, R2_SECRET):
        assert secret not in everything
    assert "@example.com" not in everything
    assert "secret-ish output" not in everything  # a health check's output is never shown
    assert "13/13 tenants read" in result.err  # progress on stderr


@pytest.mark.usefixtures("fleet", "fly_env")
def test_dashboard_shows_emails_only_with_the_flag(run_cli, make_roster, tmp_path):
    result, output = run_dashboard(run_cli, make_roster, tmp_path, "--show-emails")

    assert result.code == 1, result
    assert "wrote " in result.out and "need attention" in result.out
    assert "welluser01@example.com" in output.read_text()


@pytest.mark.parametrize(
    ("unset", "named"),
    [
        ("CLOUDFLARE_API_TOKEN", "CLOUDFLARE_API_TOKEN"),
        ("R2_ACCESS_KEY_ID", "R2_ACCESS_KEY_ID"),
        ("FLY_API_TOKEN", "token"),
    ],
)
@pytest.mark.usefixtures("fleet", "fly_env")
def test_dashboard_without_a_credential_exits_2_and_writes_nothing(
    run_cli, make_roster, tmp_path, monkeypatch, unset, named
):
    monkeypatch.delenv(unset)
    result, output = run_dashboard(run_cli, make_roster, tmp_path)
    assert result.code == 2, result
    assert named in result.error
    assert not output.exists()


@pytest.mark.usefixtures("fleet", "fly_env")
def test_dashboard_refused_fly_token_exits_2_without_printing_it(run_cli, make_roster, tmp_path, monkeypatch):
    monkeypatch.setenv("FLY_API_TOKEN", "refused-token-xyz")
    result, output = run_dashboard(run_cli, make_roster, tmp_path)
    assert result.code == 2, result
    assert "refused FLY_API_TOKEN" in result.error and "refused-token-xyz" not in result.out + result.err
    assert not output.exists()


@pytest.mark.parametrize("workers", ["0", "65", "x"])
def test_dashboard_bad_workers_is_a_usage_error(run_cli, make_roster, tmp_path, workers):
    result, _ = run_dashboard(run_cli, make_roster, tmp_path, "--workers", workers)
    assert result.code == 2, result
    assert "--workers" in result.error


def _column(view, index: int) -> list[str]:
    cells = view.eval_on_selector_all("table.fleet tbody tr", f"rows => rows.map(r => r.cells[{index}].textContent)")
    return [str(cell) for cell in cells]


@pytest.mark.usefixtures("fleet", "fly_env")
def test_the_page_in_chromium_renders_sorts_and_marks_problem_rows(
    run_cli,
    make_roster,
    tmp_path,
    page,  # noqa: F811 - the browser page fixture
):
    result, output = run_dashboard(run_cli, make_roster, tmp_path)
    assert result.code == 1, result
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))

    page.goto(output.resolve().as_uri())

    assert page.title() == f"alex-hosted fleet: {STACK}"
    assert page.locator("svg.chart").count() == 5
    assert page.locator("table.fleet tbody tr").count() == len(ALL)
    flagged = page.eval_on_selector_all("tr.problem", "rows => rows.map(r => r.dataset.tenant)")
    assert set(flagged) >= {tenant for tenant, kinds in EXPECTED.items() if kinds}
    assert "welluser01" not in flagged
    assert page.locator("tr.alert-over-quota").count() == 1
    assert page.locator("tr.alert-machine-failed").count() == 2

    headers = page.locator("table.fleet th")
    names = headers.all_text_contents()
    tenant_col, cost_col = names.index("Tenant"), names.index("Cost / month")
    before = _column(page, tenant_col)
    assert sorted(before) == sorted(e.id for e in ALL)
    headers.nth(tenant_col).click()
    assert _column(page, tenant_col) == sorted(before)
    headers.nth(tenant_col).click()
    descending = _column(page, tenant_col)
    assert descending == sorted(before, reverse=True) and descending != before
    assert headers.nth(tenant_col).get_attribute("aria-sort") == "descending"
    headers.nth(cost_col).click()
    costs = [float(c.strip("$").replace(",", "")) for c in _column(page, cost_col)]
    assert costs == sorted(costs)
    assert all(url.startswith("file://") for url in requested), requested

    headers.nth(names.index("Problems")).click()
    headers.nth(names.index("Problems")).click()  # most problems first, for the picture
    shot = screenshot(page, "fleet-dashboard")
    assert shot.stat().st_size > 10_000
