"""Keep the rosters in step with who pays: `python -m scripts.stripe_sync --stack NAME [--roster PATH]`.

A thin shell over billing.sync: it parses flags, builds the Stripe client and prints the summary.
`--stack NAME` syncs every shard of the stack's domain (`alex-hosted:domainShards`; a stack without it
is a domain of one shard) with billing.sync.run_sync_shards: new tenants go to the first shard with
room. `--roster PATH` syncs that one file alone (with `--stack`, checked with the stack's plan table),
with no shards and no capacity.

Every run that writes keeps the cursor beside the (first shard's) roster, `<stack>.stripe-cursor.json`
(billing.cursor); `--incremental` reads only what changed since it (billing.incremental) and lists
everything instead, saying why, when it cannot be used.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from billing.cursor import cursor_path
from billing.free_limits import FreeLimits
from billing.report import LostClaim, render_human, render_json, to_json
from billing.stripe_source import make_client
from billing.sync import ShardFile, ShardsSummary, ShardSyncSettings, SyncError, SyncSettings, run_sync, run_sync_shards
from components import email_templates
from config.shards import ShardError, load_shards
from config.stack_config import StackConfig
from providers import smtp
from providers.email import message_id
from scripts import cli

EPILOG = """\
environment:
  STRIPE_API_KEY    Stripe key with read access to subscriptions and customers (required; never printed)
  STRIPE_API_BASE   Stripe API address, like --api-base

shards:
  --stack NAME syncs every shard of the domain (alex-hosted:domainShards) in one run: existing tenants
  stay in their shard, new ones go to the first shard with room (alex-hosted:capacity); with every
  shard full a new customer is skipped until a shard is added. --roster PATH syncs one file alone.

incremental runs:
  Without --incremental a run lists every subscription (the hourly safety net). With it, the run reads
  Stripe's events since the cursor (<roster>.stripe-cursor.json beside the first shard's roster, kept by
  every run that writes) and re-reads only the customers they name. It lists everything instead, and
  says why on the "Read:" line, when the cursor is missing, unreadable, older than Stripe keeps events
  (30 days), written for other roster contents, or its last full listing is over 2 hours old, or when
  the changes would cost more requests than a full listing.

free libraries:
  alex-hosted:freeLibrariesPerEmail (default 1) live free libraries per email, refused beyond;
  alex-hosted:freeSignupsPerDay (default 25) free libraries made per UTC day, the rest wait a day.

exit codes:
  0  done: the rosters are in step with Stripe (changed or not)
  1  done, but something needs attention: a customer was skipped (unknown price lookup key,
     missing/invalid/taken username, unusable email, every shard full, a free library over its email's
     limit) or a tenant kept its username despite new metadata; tenants missing from Stripe's listing
     and free libraries waiting for the next day are reported but do not count
  2  could not run: no or bad API key, Stripe unreachable after retries, invalid roster or stack, a
     roster changed on disk meanwhile; nothing was written (see the error when some shards were)
"""


def build_parser() -> cli.Parser:
    parser = cli.parser(
        "stripe_sync",
        "Recompute the Stripe-managed entries of a tenant roster from Stripe: all subscriptions, or what changed.",
        epilog=EPILOG,
    )
    cli.add_stack_arguments(parser, roster_alone=True)
    cli.add_stripe_api_base(parser)
    cli.add_grace_days(parser)
    parser.add_argument("--dry-run", action="store_true", help="print the changes, write nothing")
    parser.add_argument(
        "--incremental",
        action="store_true",
        help="read only what changed since the cursor (falls back to listing everything, saying why)",
    )
    parser.add_argument("--json", action="store_true", help="print a machine-readable summary")
    parser.add_argument(
        "--now", metavar="WHEN", help="the clock, YYYY-MM-DD or ISO timestamp (default: now), for reproducible runs"
    )
    return parser


def _body(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    now = cli.parse_now(args.now)
    target = cli.resolve_target(args, roster_alone=True)
    key = cli.stripe_api_key()
    client = make_client(key, api_base=cli.stripe_api_base(args))
    notify = name_taken_mailer(target.config) if target.config is not None else None
    free = free_limits(target.config)
    if target.config is not None and args.roster is None:
        files = shard_files(target.config)
        shards = ShardSyncSettings(
            shards=files,
            plans=target.config.plans,
            domain=target.config.domain,
            grace_days=args.grace_days,
            dry_run=args.dry_run,
            free=free,
            cursor=cursor_path(files[0].roster),
            incremental=args.incremental,
        )
        sharded = run_sync_shards(shards, client, now, secret=key, notify=notify)
        sys.stdout.write(render_shards_json(sharded) if args.json else render_shards_human(sharded))
        return cli.EXIT_ATTENTION if sharded.run.report.needs_attention else cli.EXIT_OK
    settings = SyncSettings(
        roster=target.roster,
        plans=target.plans,
        grace_days=args.grace_days,
        dry_run=args.dry_run,
        free=free,
        cursor=cursor_path(target.roster),
        incremental=args.incremental,
    )
    summary = run_sync(settings, client, now, secret=key, notify=notify)
    sys.stdout.write(render_json(summary) if args.json else render_human(summary))
    return cli.EXIT_ATTENTION if summary.report.needs_attention else cli.EXIT_OK


def free_limits(config: StackConfig | None) -> FreeLimits:
    """The stack's limits on free libraries (alex-hosted:freeLibrariesPerEmail, freeSignupsPerDay); the
    defaults for a roster synced alone."""
    if config is None:
        return FreeLimits()
    return FreeLimits(per_email=config.free_per_email, per_day=config.free_per_day)


def shard_files(config: StackConfig) -> tuple[ShardFile, ...]:
    """Every shard of the stack's domain, in domainShards order, from each shard's stack file; the shards
    must agree (same domain, same list: config.shards) and share the plan table (one Stripe account,
    one reconcile). Any problem is one CliError naming the shards at fault."""
    try:
        # Settings only: the rosters are read by the sync itself, with their text kept for the write.
        shards = load_shards(config, [], read_roster=lambda _: [])
    except ShardError as exc:
        raise cli.CliError(cli.one_line(str(exc))) from None
    other = [s.stack for s in shards if s.settings.plans != config.plans]
    if other:
        raise cli.CliError(
            f"shards {', '.join(other)} have another plan table than {config.stack}: one reconcile serves "
            "the whole domain, so every shard needs the same alex-hosted:plans"
        )
    return tuple(ShardFile(s.stack, s.settings.roster, s.settings.capacity) for s in shards)


def _shard_line(summary: ShardsSummary, index: int) -> str:
    shard = summary.shards[index]
    if summary.run.dry_run:
        outcome = "not written (dry run)" + (", would change" if shard.changed else "")
    else:
        outcome = "written" if shard.written else "unchanged"
    new = f", {shard.added} new" if shard.added else ""
    return (
        f"Roster {shard.roster}: {outcome}; shard {shard.stack}: "
        f"{shard.tenants}/{shard.capacity} tenants{new}, room {shard.room}"
    )


def render_shards_human(summary: ShardsSummary) -> str:
    """billing.report's human summary, with one `Roster` line per shard: its tenants, capacity and room."""
    lines = render_human(summary.run).splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith(f"Roster {summary.run.roster}: "))
    lines[at : at + 1] = [_shard_line(summary, i) for i in range(len(summary.shards))]
    return "\n".join(lines) + "\n"


def shards_to_json(summary: ShardsSummary) -> dict[str, Any]:
    """billing.report's JSON, `roster` listing every shard's file, plus `shards` in domain order."""
    data = to_json(summary.run)
    data["shards"] = [
        {
            "stack": shard.stack,
            "roster": shard.roster,
            "tenants": shard.tenants,
            "capacity": shard.capacity,
            "room": shard.room,
            "added": shard.added,
            "changed": shard.changed,
            "written": shard.written,
        }
        for shard in summary.shards
    ]
    return data


def render_shards_json(summary: ShardsSummary) -> str:
    return json.dumps(shards_to_json(summary), indent=2, sort_keys=True) + "\n"


def name_taken_mailer(config: StackConfig) -> Callable[[LostClaim], None] | None:
    """Tells a customer whose username went to an earlier checkout, through the stack's SMTP settings;
    None when the stack sends no emails (the sync then reports that nobody was told)."""
    emails = config.emails
    if emails is None:
        return None

    def notify(claim: LostClaim) -> None:
        composed = email_templates.name_taken(username=claim.username, domain=config.domain)
        message = smtp.build_message(
            emails.smtp,
            to=claim.email,
            subject=composed.subject,
            body=composed.body,
            message_id=message_id(claim.customer, "name_taken", claim.subscription, emails.smtp.sender),
            reply_to=emails.support_email,
        )
        smtp.send(emails.smtp, smtp.password(), message)

    return notify


def main(argv: Sequence[str] | None = None) -> int:
    return cli.run("stripe_sync", _body, argv, {SyncError: cli.EXIT_FAILED})


if __name__ == "__main__":
    sys.exit(main())
