"""`python -m scripts.dashboard --stack S [--output dashboard.html]`: the fleet as one static HTML page.

Reads every tenant through the fleet collector (ops/collector.py; read-only): Fly (machines,
volumes, certificates), each tenant bucket in R2 (newest snapshot, newest book, the image's status
object) and Cloudflare's R2 analytics (one account query); draws the alerts (ops/alert_rules.py,
thresholds from `alex-hosted:alerts`) and writes one HTML file: totals, charts, a sortable table with
problem rows marked. The page holds no secret and no customer email unless --show-emails is given.

Environment: FLY_API_TOKEN (FLY_API_URL), CLOUDFLARE_API_TOKEN (CLOUDFLARE_BASE_URL), R2_ACCESS_KEY_ID and
R2_SECRET_ACCESS_KEY of an operator key with read on the tenant buckets (R2_ENDPOINT, default the
stack's account endpoint). Exit codes: 0 no alert and no problem, 1 some tenant needs attention, 2 could
not run.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from config.config_keys import CLOUDFLARE_API_TOKEN_ENV
from ops import alert_rules, collector
from ops.collector import FleetUnreadable
from ops.fleet_health import Alert, TenantHealth
from ops.quota import DEFAULT_BASE_URL, fetch_usage
from ops.r2 import BadInput, r2_client
from providers.fly.client import open_client
from providers.fly.errors import FlyConfigError, FlyError
from scripts import cli
from scripts.dashboard_html import Page, render


def thresholds_of(stack: str) -> alert_rules.Thresholds:
    """The stack's `alex-hosted:alerts` thresholds, else the defaults; one error line when unusable."""
    try:
        return alert_rules.read_thresholds(stack)
    except alert_rules.ThresholdsError as exc:
        raise cli.CliError(f"stack {stack!r}: {exc}") from None


def write_atomically(path: Path, text: str) -> None:
    """A reader never sees half a page: write beside it, then rename over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, delete=False, suffix=".tmp") as out:
        out.write(text)
    os.replace(out.name, path)


def _body(argv: Sequence[str] | None) -> int:
    parser = cli.stack_parser("dashboard", __doc__ or "")
    parser.add_argument("--output", type=Path, default=Path("dashboard.html"), metavar="PATH", help="the HTML file")
    parser.add_argument("--show-emails", action="store_true", help="add each tenant's email to the table")
    parser.add_argument("--json", action="store_true", help="also print the tenants and alerts as one JSON envelope")
    parser.add_argument("--now", help="the current time, ISO (for tests and replays)")
    parser.add_argument(
        "--workers", type=cli.whole_number, default=collector.DEFAULT_WORKERS, help="tenants read at once"
    )
    parser.add_argument("--timeout", type=cli.seconds, default=30.0, help="HTTP timeout in seconds (default 30)")
    args = parser.parse_args(argv)
    if not 1 <= args.workers <= 64:
        raise cli.UsageError(f"--workers: expected 1 to 64, got {args.workers}")
    now = cli.parse_now(args.now)
    config, tenants = cli.load_stack(args)
    thresholds = thresholds_of(config.stack)
    cf_token = cli.require_credential(CLOUDFLARE_API_TOKEN_ENV, "a Cloudflare token with Account Analytics read")
    key_id = cli.require_credential("R2_ACCESS_KEY_ID", "an operator R2 key with read on tenant buckets")
    secret = cli.require_credential("R2_SECRET_ACCESS_KEY", "the secret of that R2 key")
    endpoint = os.environ.get("R2_ENDPOINT") or config.r2_endpoint
    source = "R2_ENDPOINT" if os.environ.get("R2_ENDPOINT") else f"the r2 endpoint of stack {args.stack}"
    try:
        r2 = r2_client(endpoint, key_id, secret, timeout=args.timeout, endpoint_name=source)
    except BadInput as exc:
        raise cli.CliError(str(exc)) from None
    try:
        fly = open_client()
    except FlyConfigError as exc:
        raise cli.CliError(str(exc)) from None
    base_url = cli.env_url("CLOUDFLARE_BASE_URL", DEFAULT_BASE_URL)
    cli.progress(f"reading {len(tenants)} tenant(s) of stack {args.stack}: Fly, R2 and R2 analytics")
    usage = fetch_usage(base_url, cf_token, config.cloudflare_account_id, now, timeout=args.timeout)
    try:
        with fly:
            found = collector.collect(
                tenants,
                config,
                now=now,
                fly=fly,
                r2=r2,
                usage=usage,
                workers=args.workers,
                progress=lambda done, total: cli.progress(f"  {done}/{total} tenants read"),
            )
    except FleetUnreadable as exc:
        raise cli.CliError(exc.message) from None
    except FlyError as exc:
        raise cli.CliError(fly.scrub(str(exc))) from None
    alerts = {h.tenant: alert_rules.evaluate(h, thresholds, args.stack, now) for h in found}
    emails = {t.id: t.email for t in tenants} if args.show_emails else None
    page = Page(stack=args.stack, generated_at=now, tenants=found, alerts=alerts, emails=emails)
    try:
        write_atomically(args.output, render(page))
    except OSError as exc:
        raise cli.CliError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    attention = [h.tenant for h in found if h.problems or alerts[h.tenant]]
    code = cli.EXIT_ATTENTION if attention else cli.EXIT_OK
    if args.json:
        cli.print_json("dashboard", args.stack, code, _json_data(found, alerts, args.output, attention, emails))
        return code
    count = sum(len(a) for a in alerts.values())
    print(f"wrote {args.output}: {len(found)} tenant(s), {len(attention)} need attention, {count} alert(s)")
    return code


def _json_data(
    found: Sequence[TenantHealth],
    alerts: dict[str, list[Alert]],
    output: Path,
    attention: list[str],
    emails: dict[str, str] | None,
) -> dict[str, Any]:
    rows = []
    for health in found:
        row = asdict(health)
        if emails is not None:
            row["email"] = emails.get(health.tenant, "")
        rows.append(row)
    listed = [
        {"key": a.key, "kind": a.kind.value, "tenant": a.tenant, "title": a.title, "detail": a.detail}
        for tenant_alerts in alerts.values()
        for a in tenant_alerts
    ]
    return {"output": str(output), "tenants": rows, "alerts": listed, "needs_attention": attention}


def main(argv: Sequence[str] | None = None) -> int:
    return cli.run("dashboard", _body, argv)


if __name__ == "__main__":
    raise SystemExit(main())
