"""Keep a roster in step with who pays: `python -m scripts.stripe_sync --stack NAME [--roster PATH]`.

A thin shell over billing.sync: it parses flags, builds the Stripe client and prints the summary.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from billing.report import LostClaim, render_human, render_json
from billing.stripe_source import make_client
from billing.sync import SyncError, SyncSettings, run_sync
from components import email_templates, smtp
from components.email import message_id
from components.stack_config import StackConfig
from scripts import cli

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


def build_parser() -> cli.Parser:
    parser = cli.parser(
        "stripe_sync",
        "Recompute the Stripe-managed entries of a tenant roster from all Stripe subscriptions.",
        epilog=EPILOG,
    )
    cli.add_stack_arguments(parser, roster_alone=True)
    cli.add_stripe_api_base(parser)
    cli.add_grace_days(parser)
    parser.add_argument("--dry-run", action="store_true", help="print the changes, write nothing")
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
    settings = SyncSettings(roster=target.roster, plans=target.plans, grace_days=args.grace_days, dry_run=args.dry_run)
    notify = name_taken_mailer(target.config) if target.config is not None else None
    summary = run_sync(settings, client, now, secret=key, notify=notify)
    sys.stdout.write(render_json(summary) if args.json else render_human(summary))
    return cli.EXIT_ATTENTION if summary.report.needs_attention else cli.EXIT_OK


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
