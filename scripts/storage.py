"""`python -m scripts.storage --stack S`: each tenant's R2 use against its plan's quota.

Usage comes from Cloudflare's GraphQL Analytics dataset `r2StorageAdaptiveGroups`, one query for the
whole account grouped by bucket (docs/reference/cloudflare.md §4); each tenant's figures are gathered by the
fleet collector (`ops.collector`, analytics only: no Fly, no R2), the same path `status` uses.
Those numbers lag real use, so this is a sweep for plan limits, not a hard cap. With `--suspend-after DAYS`
it also records in the roster since when each tenant has been over quota (`over_quota_since`, cleared once
back under) and suspends active tenants over quota for more than DAYS days (`state: suspended`,
`hold: over_quota`, which the Stripe sync never lifts). Without that flag the script only reads.

Environment: CLOUDFLARE_API_TOKEN (a token with Account Analytics read; never printed), CLOUDFLARE_BASE_URL
(default https://api.cloudflare.com/client/v4).
Exit codes: 0 every tenant within quota, 1 some tenant over quota, 2 could not run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import datetime

from config.config_keys import CLOUDFLARE_API_TOKEN_ENV
from config.stack_config import StackConfig
from ops.collector import collect
from ops.quota import (
    DEFAULT_BASE_URL,
    LAG_NOTE,
    Row,
    Usage,
    UsageUnavailable,
    fetch_usage,
    mark_over_quota,
    usage_of,
)
from scripts import cli
from tenants.roster import RosterEntry, RosterError, write_roster
from tenants.states import Hold, TenantState

__all__ = ["Row", "Usage", "UsageUnavailable", "fetch_usage", "main", "mark_over_quota", "tenant_rows"]


def tenant_rows(
    tenants: Sequence[RosterEntry], config: StackConfig, usage: Mapping[str, Usage], now: datetime
) -> list[Row]:
    """One row per tenant that still has a bucket to count (purging tenants are on their way out), largest
    use first; bytes and quota from the collector, the object count from the same analytics sample."""
    by_id = {tenant.id: tenant for tenant in tenants}
    out = []
    for health in collect(tenants, config, now=now, usage=usage):
        if health.state == TenantState.PURGING:
            continue
        tenant = by_id[health.tenant]
        found = usage_of(usage, tenant.id)
        out.append(
            Row(
                tenant=tenant.id,
                username=tenant.username,
                plan=tenant.plan,
                state=tenant.state,
                used_bytes=health.storage_bytes or 0,
                objects=found.objects if found else 0,
                quota_bytes=health.quota_bytes,
                has_data=health.storage_bytes is not None,
                over_quota_since=tenant.over_quota_since,
            )
        )
    return sorted(out, key=lambda r: (-r.used_bytes, r.tenant))


def _notes(tenants: Sequence[RosterEntry], rows: Sequence[Row]) -> list[str]:
    by_id = {row.tenant: row for row in rows}
    notes = []
    for tenant in tenants:
        row = by_id.get(tenant.id)
        if tenant.hold == Hold.OVER_QUOTA and row is not None and row.has_data and not row.over:
            notes.append(f"{tenant.id}: under quota again but held (hold over_quota); lift the hold by hand")
    missing = [row.tenant for row in rows if not row.has_data]
    if missing:
        notes.append(f"no usage data yet for {len(missing)} bucket(s): {', '.join(missing)}")
    return notes


def _render(rows: Sequence[Row]) -> str:
    headers = ("TENANT", "USERNAME", "PLAN", "STATE", "USED", "QUOTA", "USE%", "OBJECTS", "OVER SINCE")
    lines = [
        (
            row.tenant,
            row.username,
            row.plan,
            row.state,
            cli.human_bytes(row.used_bytes) if row.has_data else "no data",
            cli.human_bytes(row.quota_bytes),
            f"{row.percent:.0f}%" + (" OVER" if row.over else ""),
            str(row.objects),
            row.over_quota_since.isoformat() if row.over_quota_since else "-",
        )
        for row in rows
    ]
    return cli.table(headers, lines)


def _body(argv: Sequence[str] | None) -> int:
    parser = cli.stack_parser("storage", __doc__ or "")
    parser.add_argument("--json", action="store_true", help="print one JSON envelope instead of a table")
    parser.add_argument(
        "--suspend-after",
        type=cli.days,
        metavar="DAYS",
        help="record over_quota_since in the roster and suspend active tenants over quota for more than DAYS",
    )
    parser.add_argument("--now", help="the current time, ISO (for tests and replays)")
    parser.add_argument("--timeout", type=cli.seconds, default=30.0, help="HTTP timeout in seconds (default 30)")
    args = parser.parse_args(argv)
    now = cli.parse_now(args.now)
    target = cli.resolve_target(args)
    tenants, roster_text = cli.read_target(target)
    config, roster_file = target.config, target.roster
    assert config is not None  # a stack is required here
    token = cli.require_credential(CLOUDFLARE_API_TOKEN_ENV, "a Cloudflare token with Account Analytics read")
    base_url = cli.env_url("CLOUDFLARE_BASE_URL", DEFAULT_BASE_URL)
    cli.progress(f"reading R2 usage of account {config.cloudflare_account_id} for {len(tenants)} tenant(s)")
    usage = fetch_usage(base_url, token, config.cloudflare_account_id, now, timeout=args.timeout)
    rows = tenant_rows(tenants, config, usage, now)
    changes: list[str] = []
    written = False
    if args.suspend_after is not None:
        updated, changes = mark_over_quota(tenants, rows, now.date(), args.suspend_after)
        try:
            written = write_roster(roster_file, updated, config.plans, expected=roster_text)
        except RosterError as exc:
            raise cli.CliError(f"not writing the roster: {cli.one_line(str(exc))}") from None
        except OSError as exc:  # the roster's folder is read-only, full or gone: one line, not a traceback
            raise cli.CliError(f"not writing the roster {roster_file}: {exc.strerror or exc}") from None
        if written:
            cli.progress(f"wrote {roster_file}")
    over = [row for row in rows if row.over]
    code = cli.EXIT_ATTENTION if over else cli.EXIT_OK
    notes = _notes(tenants, rows)
    summary = (
        f"{len(rows)} tenant(s) checked, {len(over)} over quota, "
        f"{cli.human_bytes(sum(row.used_bytes for row in rows))} in total"
    )
    if args.json:
        data = {
            "note": LAG_NOTE,
            "summary": summary,
            "tenants": [{**asdict(row), "over": row.over, "percent": round(row.percent, 1)} for row in rows],
            "over_quota": [row.tenant for row in over],
            "changes": changes,
            "roster_written": written,
            "notes": notes,
        }
        cli.print_json("storage", args.stack, code, data)
        return code
    if rows:
        print(_render(rows))
    else:
        print("no tenants with a bucket in this roster")
    for line in [*changes, *notes]:
        print(f"- {line}")
    print(summary)
    print(LAG_NOTE)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    return cli.run("storage", _body, argv)


if __name__ == "__main__":
    raise SystemExit(main())
