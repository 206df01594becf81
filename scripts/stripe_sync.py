"""Keep a roster in step with who pays: `python -m scripts.stripe_sync --roster PATH | --stack NAME`.

A thin shell over billing.sync: it parses flags, builds the Stripe client and prints the summary.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from billing.cli_support import add_target_arguments, api_base, api_key, resolve_target
from billing.reconcile import DEFAULT_GRACE_DAYS
from billing.report import render_human, render_json
from billing.stripe_source import make_client
from billing.sync import SyncError, SyncSettings, run_sync, scrub
from scripts.cli import EXIT_ATTENTION, EXIT_FAILED, EXIT_OK, CliError, one_line, parse_now, whole_number

EPILOG = """\
environment:
  STRIPE_API_KEY    Stripe key with read access to subscriptions and customers (required; never printed)
  STRIPE_API_BASE   Stripe API address, like --api-base

exit codes:
  0  done: the roster is in step with Stripe (changed or not)
  1  done, but something needs attention: a customer was skipped (unknown price lookup key,
     missing/invalid/taken username, unusable email) or a tenant kept its username despite new metadata;
     tenants missing from Stripe's listing are reported but do not count
  2  could not run: no or bad API key, Stripe unreachable after retries, invalid roster or stack;
     nothing was written
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.stripe_sync",
        description="Recompute the Stripe-managed entries of a tenant roster from all Stripe subscriptions.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_target_arguments(parser)
    parser.add_argument(
        "--grace-days",
        type=whole_number,
        default=DEFAULT_GRACE_DAYS,
        metavar="N",
        help=f"days after a subscription ends before the tenant's data is purged (default {DEFAULT_GRACE_DAYS})",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the changes, write nothing")
    parser.add_argument("--json", action="store_true", help="print a machine-readable summary")
    parser.add_argument(
        "--now", metavar="WHEN", help="the clock, YYYY-MM-DD or ISO timestamp (default: now), for reproducible runs"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    key = ""
    try:
        if args.grace_days < 0:
            raise CliError(f"--grace-days: expected 0 or more, got {args.grace_days}")
        now = parse_now(args.now)
        roster, plans = resolve_target(args)
        key = api_key()
        client = make_client(key, api_base=api_base(args))
        settings = SyncSettings(roster=roster, plans=plans, grace_days=args.grace_days, dry_run=args.dry_run)
        summary = run_sync(settings, client, now, secret=key)
    except (CliError, SyncError) as exc:
        print(f"stripe_sync: error: {one_line(scrub(str(exc), key))}", file=sys.stderr)
        return EXIT_FAILED
    sys.stdout.write(render_json(summary) if args.json else render_human(summary))
    return EXIT_ATTENTION if summary.report.needs_attention else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
