"""One sync run, shared by the CLI and the webhook: load, read Stripe, reconcile, validate, write."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import stripe

from billing import name_taken
from billing.reconcile import DEFAULT_GRACE_DAYS, reconcile
from billing.report import LostClaim, Notice, RunSummary
from billing.snapshot import Snapshot
from billing.stripe_source import RetryPolicy, StripeUnavailable, fetch_snapshot
from components import redact
from tenants.plans import Plan
from tenants.roster import RosterError, read_roster, write_roster


class SyncError(Exception):
    """The run could not happen (roster unusable, Stripe unreadable); nothing was written."""


@dataclass(frozen=True)
class SyncSettings:
    roster: Path
    plans: Mapping[str, Plan]
    grace_days: int = DEFAULT_GRACE_DAYS
    dry_run: bool = False
    retries: RetryPolicy = RetryPolicy()


def run_sync(
    settings: SyncSettings,
    client: stripe.StripeClient,
    now: datetime,
    *,
    secret: str = "",
    sleep: Callable[[float], None] = time.sleep,
    notify: Callable[[LostClaim], None] | None = None,
) -> RunSummary:
    """Raises SyncError (with `secret` scrubbed from its text) when the run cannot complete.

    After the roster is written, subscriptions that lost a username race are cancelled and refunded and
    their customers told (`notify`; billing.name_taken). A dry run only reports them.
    """
    try:
        current, text = read_roster(settings.roster, settings.plans)
        snapshot = _read_stripe(client, settings.retries, sleep)
        tenants, report = reconcile(current, snapshot, now=now, grace_days=settings.grace_days, plans=settings.plans)
        # expected=text: a webhook run or a hand edit that landed while Stripe was being read is never undone.
        written = False if settings.dry_run else write_roster(settings.roster, tenants, settings.plans, expected=text)
    except (RosterError, StripeUnavailable, OSError) as exc:
        raise SyncError(scrub(str(exc), secret)) from None
    if not settings.dry_run:
        for done in name_taken.settle(report.lost_claims, client, notify):
            claim = done.claim
            if done.problem:
                report.notices.append(Notice("warning", claim.customer, None, scrub(done.problem, secret)))
            else:
                money = f"refunded {done.refunded} {done.currency}" if done.refunded else "nothing to refund"
                mail = "customer emailed" if done.emailed else "no email sent"
                message = f"username {claim.username!r} taken: cancelled {claim.subscription}, {money}, {mail}"
                report.notices.append(Notice("settled", claim.customer, None, message))
    return RunSummary(
        report=report,
        roster=str(settings.roster),
        now=now.isoformat(timespec="seconds"),
        dry_run=settings.dry_run,
        written=written,
    )


def _read_stripe(client: stripe.StripeClient, retries: RetryPolicy, sleep: Callable[[float], None]) -> Snapshot:
    """fetch_snapshot, with an answer of the wrong shape (a proxy's page, a fake) as StripeUnavailable too.

    The SDK turns a non-JSON body into an APIError, but JSON of another shape (a list where an object
    belongs, `{"error": "text"}`, a number for a message) surfaces as AttributeError or TypeError from
    inside the SDK; its text is not kept, as it may quote the answer.
    """
    try:
        return fetch_snapshot(client, retries=retries, sleep=sleep)
    except (AttributeError, TypeError, KeyError, IndexError, ValueError, RecursionError) as exc:
        raise StripeUnavailable(
            f"Stripe answered with something that is not the expected data ({type(exc).__name__})"
        ) from None


def scrub(text: str, secret: str) -> str:
    """Removes a secret, in every form an echo may use, from text bound for logs or the terminal."""
    return redact.scrub(text, [secret])
