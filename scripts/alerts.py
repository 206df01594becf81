"""`python -m scripts.alerts --stack S`: one GitHub issue per fleet alert, opened once, closed when the alert is gone.

A full run reads every tenant of the stack with the fleet collector (Fly machines and certificates, the
R2 buckets, Cloudflare's usage analytics), draws the alerts (`ops/alert_rules.py`: machine failed
or restarting, backup stale, over quota, certificate pending, restore failed; thresholds from the stack
config key `alex-hosted:alerts`) and syncs them with the repository's issues (`ops/github_issues.py`:
found by a hidden marker, labelled `alert`, `alert:<kind>`, `stack:<stack>`, `tenant:<id>`).
`--drift success|failure` instead turns the outcome of `pulumi preview --refresh --expect-no-changes`
into the stack's one drift alert (tenant "-"); such a run checks drift only and never touches the tenant
alerts, and a full run never touches the drift alert. `--from-json FILE` takes the alerts from a file
(a replay, or a check of the issue handling alone). A run that cannot read its sources closes nothing.

Environment: GITHUB_TOKEN (issues: write), GITHUB_REPOSITORY (owner/name), GITHUB_API_URL (default
https://api.github.com); for a full run also FLY_API_TOKEN, CLOUDFLARE_API_TOKEN (Account Analytics read),
R2_ACCESS_KEY_ID and R2_SECRET_ACCESS_KEY (an operator key with read on tenant buckets; R2_ENDPOINT to
override the stack's), CLOUDFLARE_BASE_URL. None is ever printed.
Exit codes: 0 no alert of this run is open after it, 1 alerts are open, 2 could not run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from config.config_keys import CLOUDFLARE_API_TOKEN_ENV
from config.stack_config import StackConfig
from ops.alert_rules import (
    APPLIES,
    Thresholds,
    ThresholdsError,
    evaluate,
    read_thresholds,
)
from ops.collector import collect
from ops.fleet_health import Alert, AlertKind, TenantHealth
from ops.github_issues import (
    API_URL_ENV,
    DEFAULT_API_URL,
    REPOSITORY_ENV,
    TOKEN_ENV,
    GitHubClient,
    SyncResult,
    repository_problem,
    sync_alerts,
)
from ops.quota import DEFAULT_BASE_URL, fetch_usage
from ops.r2 import r2_client
from providers.fly.client import open_client as open_fly
from providers.fly.errors import FlyConfigError
from scripts import cli
from tenants.roster import RosterEntry

TENANT_KINDS = frozenset(AlertKind) - {AlertKind.DRIFT}
DRIFT_OUTCOMES = ("success", "failure")  # a step's `outcome` in GitHub Actions
MAX_JSON_BYTES = 1024 * 1024
_REPORT_TAIL_LINES = 30


@dataclass
class Gathered:
    """What a run found: its alerts, the kinds it checked, and (tenant, kind) pairs it could not check."""

    alerts: list[Alert]
    kinds_checked: frozenset[AlertKind]
    not_checked: set[tuple[str, AlertKind]] = field(default_factory=set)


# --- full run: collector + rules ---


def thresholds_of(stack: str) -> Thresholds:
    """The stack's thresholds (`alex-hosted:alerts`, else the defaults); one CliError line when unusable."""
    try:
        return read_thresholds(stack)
    except ThresholdsError as exc:
        raise cli.CliError(f"stack {stack!r}: {exc}") from None


def unchecked(health: TenantHealth) -> set[tuple[str, AlertKind]]:
    """The kinds whose facts the collector could not read for this tenant: their open issues stay open."""
    missing: set[AlertKind] = set()
    if health.machine_state is None or "fly" in health.unread:
        missing |= {AlertKind.MACHINE_FAILED, AlertKind.CERTIFICATE_PENDING, AlertKind.BACKUP_STALE}
    if "r2" in health.unread or "health" in health.unread:
        missing |= {AlertKind.BACKUP_STALE, AlertKind.RESTORE_FAILED}
    if health.storage_bytes is None:  # not in the analytics yet (they lag): unknown, not "under quota"
        missing.add(AlertKind.OVER_QUOTA)
    return {(health.tenant, kind) for kind in missing if health.state in APPLIES[kind]}


def gather_fleet(config: StackConfig, tenants: Sequence[RosterEntry], now: datetime, timeout: float) -> Gathered:
    """Collector + rules over the whole stack; any source that cannot be read at all stops the run (exit 2)."""
    thresholds = thresholds_of(config.stack)
    cli.require_credential("FLY_API_TOKEN", "a Fly token with read access to the tenant apps")
    cf_token = cli.require_credential(CLOUDFLARE_API_TOKEN_ENV, "a Cloudflare token with Account Analytics read")
    key_id = cli.require_credential("R2_ACCESS_KEY_ID", "an operator R2 key with read on tenant buckets")
    secret = cli.require_credential("R2_SECRET_ACCESS_KEY", "the operator R2 key's secret")
    endpoint = os.environ.get("R2_ENDPOINT") or config.r2_endpoint
    source = "R2_ENDPOINT" if os.environ.get("R2_ENDPOINT") else f"the r2 endpoint of stack {config.stack}"
    try:
        r2 = r2_client(endpoint, key_id, secret, timeout=timeout, endpoint_name=source)
    except ValueError as exc:
        raise cli.CliError(str(exc)) from None
    cf_url = cli.env_url("CLOUDFLARE_BASE_URL", DEFAULT_BASE_URL)
    cli.progress(f"reading R2 usage of account {config.cloudflare_account_id}")
    usage = fetch_usage(cf_url, cf_token, config.cloudflare_account_id, now, timeout=timeout)
    try:
        fly = open_fly()
    except FlyConfigError as exc:
        raise cli.CliError(str(exc)) from None
    cli.progress(f"reading {len(tenants)} tenant(s) of stack {config.stack} (Fly, R2)")
    with fly:
        healths = collect(
            tenants, config, now=now, fly=fly, r2=r2, usage=usage,
            progress=lambda done, total: cli.progress(f"  {done}/{total} tenants read"),
        )  # fmt: skip
    alerts = [alert for health in healths for alert in evaluate(health, thresholds, config.stack, now)]
    not_checked = {pair for health in healths for pair in unchecked(health)}
    return Gathered(alerts, TENANT_KINDS, not_checked)


# --- drift and replay inputs ---


def drift_alert(stack: str, outcome: str, report: Path | None) -> Gathered:
    """The drift check's outcome as the stack's one drift alert (or none, when the preview was clean)."""
    if outcome == "success":
        return Gathered([], frozenset({AlertKind.DRIFT}))
    detail = (
        f"`pulumi preview --refresh --expect-no-changes` failed for stack `{stack}`: the real resources differ "
        "from the roster and program (drift), or the preview itself failed. See the run linked below; "
        f"`pulumi preview --refresh --diff --stack {stack}` shows the difference. The issue closes after the "
        "next clean check."
    )
    if report is not None:
        tail = _report_tail(report)
        if tail:
            detail += f"\n\nEnd of the preview's output:\n\n```\n{tail}\n```"
    title = f"Drift detected: {stack}"
    return Gathered([Alert(AlertKind.DRIFT, "-", stack, title, detail)], frozenset({AlertKind.DRIFT}))


def _report_tail(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 16 * 1024))
            text = handle.read().decode("utf-8", "replace")
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise cli.CliError(f"--drift-report: cannot read {str(path)[:200]!r} ({why})") from None
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")][-_REPORT_TAIL_LINES:]
    return "\n".join(lines).strip().replace("```", "'''")


def alerts_from_json(path: Path, stack: str) -> Gathered:
    """`{"alerts": [{"kind", "tenant", "title", "detail"}], "kinds_checked": [...]}` (default: the tenant kinds)."""
    try:
        raw = path.read_bytes()[: MAX_JSON_BYTES + 1]
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise cli.CliError(f"--from-json: cannot read {str(path)[:200]!r} ({why})") from None
    if len(raw) > MAX_JSON_BYTES:
        raise cli.CliError(f"--from-json: larger than {MAX_JSON_BYTES} bytes")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise cli.CliError("--from-json: not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("alerts", []), list):
        raise cli.CliError('--from-json: expected {"alerts": [...], "kinds_checked": [...]}')
    kinds = _kinds(data.get("kinds_checked", sorted(TENANT_KINDS)))
    alerts = [_alert(item, stack, n) for n, item in enumerate(data.get("alerts", []), start=1)]
    return Gathered(alerts, kinds)


def _kinds(value: Any) -> frozenset[AlertKind]:
    if not isinstance(value, list) or not all(isinstance(kind, str) for kind in value):
        raise cli.CliError("--from-json: kinds_checked must be a list of alert kinds")
    try:
        return frozenset(AlertKind(kind) for kind in value)
    except ValueError:
        known = ", ".join(kind.value for kind in AlertKind)
        raise cli.CliError(f"--from-json: unknown kind in kinds_checked (known: {known})") from None


def _alert(item: Any, stack: str, n: int) -> Alert:
    fields = ("kind", "tenant", "title", "detail")
    if not isinstance(item, dict) or not all(isinstance(item.get(name), str) and item[name] for name in fields):
        raise cli.CliError(f"--from-json: alert {n} needs the text fields {', '.join(fields)}")
    try:
        kind = AlertKind(item["kind"])
    except ValueError:
        raise cli.CliError(f"--from-json: alert {n} has an unknown kind {item['kind'][:40]!r}") from None
    tenant = item["tenant"]
    if "/" in tenant or len(tenant) > 40 or not tenant.isprintable():
        raise cli.CliError(f"--from-json: alert {n} has an unusable tenant {tenant[:40]!r}")
    return Alert(kind, tenant, stack, item["title"][:250], item["detail"][:10_000])


# --- GitHub ---


def github_client(timeout: float, sleep: Callable[[float], None] | None = None) -> GitHubClient:
    """The client from GITHUB_TOKEN, GITHUB_REPOSITORY, GITHUB_API_URL; each problem is one line naming it."""
    repository = os.environ.get(REPOSITORY_ENV, "").strip()
    if not repository:
        raise cli.CliError(f"{REPOSITORY_ENV} is not set in the environment (owner/name)")
    problem = repository_problem(repository)
    if problem:
        raise cli.CliError(f"{REPOSITORY_ENV}: {problem}, got {repository[:120]!r}")
    token = cli.require_credential(TOKEN_ENV, "a token with issues: write on the repository")
    base_url = cli.env_url(API_URL_ENV, DEFAULT_API_URL)
    options: dict[str, Any] = {"timeout": timeout}
    if sleep is not None:
        options["sleep"] = sleep
    return GitHubClient(token=token, repository=repository, base_url=base_url, **options)


# Tests replace this to run the client's retries without real waiting.
SLEEP: Callable[[float], None] | None = None


def run_footer() -> str:
    """Which run opened the issue: its Actions run link when there is one (from the runner's environment)."""
    names = ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")
    server, repo, run = (os.environ.get(name, "") for name in names)
    if server and repo and run.isdigit():
        return f"Opened by `python -m scripts.alerts` in {server}/{repo}/actions/runs/{run}."
    return "Opened by `python -m scripts.alerts`."


def _print_result(result: SyncResult, stack: str) -> None:
    prefix = "would " if result.dry_run else ""
    for action in result.actions():
        print(f"{prefix}{action.describe()}")
    for action in result.left_alone:
        print(f"left open #{action.number} {action.key} (not checked this run)")
    print(f"alerts {stack}: {result.summary()}")


def _body(argv: Sequence[str] | None) -> int:
    parser = cli.stack_parser("alerts", __doc__ or "")
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--drift",
        choices=DRIFT_OUTCOMES,
        metavar="OUTCOME",
        help="check drift only: the outcome (success|failure) of `pulumi preview --refresh --expect-no-changes`",
    )
    source.add_argument("--from-json", type=Path, metavar="FILE", help="take the alerts from FILE instead of the fleet")
    parser.add_argument("--drift-report", type=Path, metavar="FILE", help="with --drift: the preview's output")
    parser.add_argument("--dry-run", action="store_true", help="read the issues, print what would change, change none")
    parser.add_argument("--json", action="store_true", help="print one JSON envelope instead of lines")
    parser.add_argument("--now", help="the current time, ISO (for tests and replays)")
    parser.add_argument("--timeout", type=cli.seconds, default=30.0, help="HTTP timeout in seconds (default 30)")
    args = parser.parse_args(argv)
    if args.drift_report is not None and args.drift is None:
        raise cli.UsageError("--drift-report needs --drift")
    now = cli.parse_now(args.now)
    config, tenants = cli.load_stack(args)
    stack = config.stack
    github = github_client(args.timeout, SLEEP)  # before reading the fleet: a bad setting costs nothing
    with github:
        if args.drift is not None:
            gathered = drift_alert(stack, args.drift, args.drift_report)
        elif args.from_json is not None:
            gathered = alerts_from_json(args.from_json, stack)
        else:
            gathered = gather_fleet(config, tenants, now, args.timeout)
        cli.progress(f"{len(gathered.alerts)} alert(s) in stack {stack}; syncing issues of {github.repository}")
        result = sync_alerts(
            github,
            gathered.alerts,
            stack,
            kinds_checked=gathered.kinds_checked,
            not_checked=gathered.not_checked,
            now=now,
            footer=run_footer(),
            dry_run=args.dry_run,
            progress=cli.progress,
        )
    code = cli.EXIT_ATTENTION if result.open_alerts else cli.EXIT_OK
    if args.json:
        data = {"dry_run": result.dry_run, **{k: v for k, v in asdict(result).items() if k != "dry_run"}}
        data["alerts"] = [asdict(alert) | {"key": alert.key} for alert in gathered.alerts]
        cli.print_json("alerts", stack, code, data)
    else:
        _print_result(result, stack)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    return cli.run("alerts", _body, argv)


if __name__ == "__main__":
    raise SystemExit(main())
