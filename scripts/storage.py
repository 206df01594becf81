"""`python -m scripts.storage --stack S`: each tenant's R2 use against its plan's quota.

Usage comes from Cloudflare's GraphQL Analytics dataset `r2StorageAdaptiveGroups`, one query for the
whole account grouped by bucket (reference cloudflare.md §4). Those numbers lag real use, so this is a
sweep for plan limits, not a hard cap. With `--suspend-after DAYS` it also records in the roster since
when each tenant has been over quota (`over_quota_since`, cleared once back under) and suspends active
tenants over quota for more than DAYS days (`state: suspended`, `hold: over_quota`, which the Stripe sync
never lifts). Without that flag the script only reads.

Environment: CLOUDFLARE_API_TOKEN (a token with Account Analytics read; never printed), CLOUDFLARE_BASE_URL
(default https://api.cloudflare.com/client/v4).
Exit codes: 0 every tenant within quota, 1 some tenant over quota, 2 could not run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from components.machine_config import bucket_name
from scripts import cli
from tenants.plans import Plan
from tenants.roster import RosterEntry, RosterError, write_roster

DEFAULT_BASE_URL = "https://api.cloudflare.com/client/v4"
LAG_NOTE = (
    "Usage is Cloudflare's R2 analytics (r2StorageAdaptiveGroups, highest sample of the last 24 h); "
    "it lags real use, so recent uploads or deletions may not show yet."
)
# One query for the account: every bucket's storage, grouped by bucket name.
QUERY = """
query R2StorageByBucket($accountTag: string!, $start: Time!, $end: Time!) {
  viewer {
    accounts(filter: {accountTag: $accountTag}) {
      r2StorageAdaptiveGroups(
        limit: 10000
        filter: {datetime_geq: $start, datetime_leq: $end}
      ) {
        dimensions { bucketName }
        max { payloadSize metadataSize objectCount uploadCount }
      }
    }
  }
}
""".strip()


@dataclass(frozen=True)
class Usage:
    bytes: int  # payload plus metadata, what R2 bills
    objects: int


@dataclass(frozen=True)
class Row:
    tenant: str
    username: str
    plan: str
    state: str
    used_bytes: int
    objects: int
    quota_bytes: int
    has_data: bool
    over_quota_since: date | None

    @property
    def over(self) -> bool:
        return self.used_bytes > self.quota_bytes

    @property
    def percent(self) -> float:
        return 100.0 * self.used_bytes / self.quota_bytes if self.quota_bytes else 0.0


def fetch_usage(base_url: str, token: str, account_id: str, now: datetime, *, timeout: float) -> dict[str, Usage]:
    """Bucket name -> usage for the account; raises CliError (never with the token in it)."""
    variables = {
        "accountTag": account_id,
        "start": (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "end": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    url = f"{base_url.rstrip('/')}/graphql"
    try:
        with httpx.Client(timeout=timeout, trust_env=False) as http:
            response = http.post(
                url, json={"query": QUERY, "variables": variables}, headers={"Authorization": f"Bearer {token}"}
            )
    except httpx.TransportError as exc:
        raise cli.CliError(f"Cloudflare API at {base_url} is unreachable ({type(exc).__name__})") from None
    body = _json(response)
    if response.status_code in (400, 401, 403):
        raise cli.CliError(f"Cloudflare rejected CLOUDFLARE_API_TOKEN (HTTP {response.status_code}: {_messages(body)})")
    if response.status_code >= 300:
        raise cli.CliError(f"Cloudflare GraphQL answered HTTP {response.status_code}: {_messages(body)}")
    if not isinstance(body, dict):
        raise cli.CliError("Cloudflare GraphQL answered with something that is not JSON")
    if body.get("errors"):
        raise cli.CliError(
            f"Cloudflare GraphQL error: {_messages(body)} "
            f"(the token needs Account Analytics read on account {account_id})"
        )
    try:
        accounts = body["data"]["viewer"]["accounts"]
        groups = accounts[0]["r2StorageAdaptiveGroups"] if accounts else []
        usage: dict[str, Usage] = {}
        for group in groups:
            peak = group["max"]
            usage[group["dimensions"]["bucketName"]] = Usage(
                bytes=int(peak.get("payloadSize") or 0) + int(peak.get("metadataSize") or 0),
                objects=int(peak.get("objectCount") or 0),
            )
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise cli.CliError(f"Cloudflare GraphQL answer has an unexpected shape ({type(exc).__name__}: {exc})") from None
    return usage


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _messages(body: Any) -> str:
    if isinstance(body, dict) and isinstance(body.get("errors"), list):
        texts = [str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in body["errors"]]
        return "; ".join(texts) or "(no message)"
    return "(no message)"


def measure(tenants: Sequence[RosterEntry], plans: Mapping[str, Plan], usage: Mapping[str, Usage]) -> list[Row]:
    """One row per tenant that still has a bucket to count (purging tenants are on their way out)."""
    rows = []
    for tenant in tenants:
        if tenant.state == "purging":
            continue
        found = usage.get(bucket_name(tenant.id))
        rows.append(
            Row(
                tenant=tenant.id,
                username=tenant.username,
                plan=tenant.plan,
                state=tenant.state,
                used_bytes=found.bytes if found else 0,
                objects=found.objects if found else 0,
                quota_bytes=plans[tenant.plan].quota_bytes,
                has_data=found is not None,
                over_quota_since=tenant.over_quota_since,
            )
        )
    return sorted(rows, key=lambda r: (-r.used_bytes, r.tenant))


def mark_over_quota(
    tenants: Sequence[RosterEntry], rows: Sequence[Row], today: date, suspend_after: int
) -> tuple[list[RosterEntry], list[str]]:
    """The roster with over-quota dates and suspensions applied, and one line per change.

    A tenant without a usage sample keeps its mark: absence of data is not evidence of being under quota.
    """
    by_id = {row.tenant: row for row in rows}
    updated: list[RosterEntry] = []
    changes: list[str] = []
    for tenant in tenants:
        row = by_id.get(tenant.id)
        if row is None or not row.has_data:
            updated.append(tenant)
            continue
        if row.over:
            since = tenant.over_quota_since or today
            if tenant.over_quota_since is None:
                changes.append(f"{tenant.id}: over quota, marked over_quota_since {since.isoformat()}")
            tenant = tenant.with_changes(over_quota_since=since)
            if tenant.state == "active" and (today - since).days > suspend_after:
                tenant = tenant.with_changes(state="suspended", hold="over_quota")
                changes.append(
                    f"{tenant.id}: suspended (hold over_quota): over quota since {since.isoformat()}, "
                    f"more than {suspend_after} days"
                )
        elif tenant.over_quota_since is not None:
            changes.append(f"{tenant.id}: back under quota, cleared over_quota_since")
            tenant = tenant.with_changes(over_quota_since=None)
        updated.append(tenant)
    return updated, changes


def _notes(tenants: Sequence[RosterEntry], rows: Sequence[Row]) -> list[str]:
    by_id = {row.tenant: row for row in rows}
    notes = []
    for tenant in tenants:
        row = by_id.get(tenant.id)
        if tenant.hold == "over_quota" and row is not None and row.has_data and not row.over:
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
    parser = cli.parser("storage", __doc__ or "")
    parser.add_argument("--json", action="store_true", help="print one JSON envelope instead of a table")
    parser.add_argument(
        "--suspend-after",
        type=cli.whole_number,
        metavar="DAYS",
        help="record over_quota_since in the roster and suspend active tenants over quota for more than DAYS",
    )
    parser.add_argument("--now", help="the current time, ISO (for tests and replays)")
    parser.add_argument("--timeout", type=cli.seconds, default=30.0, help="HTTP timeout in seconds (default 30)")
    args = parser.parse_args(argv)
    if args.suspend_after is not None and args.suspend_after < 0:
        raise cli.CliError("--suspend-after: expected a number of days, 0 or more")
    now = cli.parse_now(args.now)
    config, tenants, roster_text = cli.read_stack(args.stack, args.roster)
    roster_file = Path(args.roster) if args.roster else config.roster
    token = cli.require_credential("CLOUDFLARE_API_TOKEN", "a Cloudflare token with Account Analytics read")
    base_url = cli.env_url("CLOUDFLARE_BASE_URL", DEFAULT_BASE_URL)
    cli.progress(f"reading R2 usage of account {config.cloudflare_account_id} for {len(tenants)} tenant(s)")
    usage = fetch_usage(base_url, token, config.cloudflare_account_id, now, timeout=args.timeout)
    rows = measure(tenants, config.plans, usage)
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
