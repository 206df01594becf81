"""What a sync run reads from Stripe: every subscription (a full run), or what changed since the cursor.

A full run lists every subscription (100 a page, pages one after another: at 10,000 subscriptions and
Stripe's 300 ms a request, 30 s of round trips alone). An incremental run reads Stripe's events since
the cursor (billing.cursor, billing.stripe_events), takes from each only the customer it names, and
re-reads those customers' subscriptions from the API (one request each): a new customer costs about
three requests, whatever the size of the domain.

The snapshot it hands to the reconciler speaks for a set of customers, the scope, and the reconciler
leaves every other entry as it is. The result for a customer in the scope is the one a full run would
give, because the scope is closed over everything the rules look at across customers:

- a username one of them wants that an entry of a customer outside the scope holds: that holder is
  read too (it may have ended, been purged or renamed meanwhile, freeing the name, which a full run
  would give away; without it a new customer would lose a race it won, and be refused and refunded);
- for a new free library (billing.free_limits), every entry with the same email identity and every
  entry made today: their verdicts are what the per-email and per-day counts are made of;
- the whole roster for everything else (names taken, tenant ids, placement, validation).

The closure is repeated until it adds no one. What no event names is not read: time-driven changes (a
grace window that ends, a purging entry that goes) and anything an event failed to say wait for the
full run, which the hourly schedule makes and which an incremental run makes itself when the cursor
says the last one is more than billing.cursor.FULL_EVERY old. An incremental run that would take more
round trips than a full listing (a cursor far behind, a burst), or whose cursor cannot be used, lists
everything instead and says why (`fallback`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Literal

import stripe

from billing.cursor import Cursor, CursorRead, fingerprint, read_cursor, write_cursor
from billing.decide import decide
from billing.free_limits import FreeLimits, email_identity
from billing.report import Notice, ReadSummary
from billing.snapshot import Snapshot, StripeCustomer
from billing.stripe_events import EventMark, OverBudget, UnusableEvent, changes_since, newest_mark
from billing.stripe_source import (
    PAGE_SIZE,
    READ_WORKERS,
    RetryPolicy,
    StripeRefused,
    StripeUnavailable,
    expected_answers,
    fetch_customers,
)
from tenants.emails import EmailAddressError, canonical_email
from tenants.plans import Plan
from tenants.roster import RosterEntry

MIN_BUDGET = 10  # round trips an incremental run may always spend, however small the roster
STRIPE_CUSTOMER_FIELD = "stripe_customer"  # as tenants.roster writes it, two spaces in

Mode = Literal["full", "incremental"]


@dataclass(frozen=True)
class ReadPlan:
    """How to read: `cursor` is the cursor file (None: keep none, every run lists everything)."""

    cursor: Path | None
    incremental: bool
    dry_run: bool
    plans: Mapping[str, Plan]
    free: FreeLimits | None
    retries: RetryPolicy = RetryPolicy()


@dataclass
class StripeRead:
    """The snapshot and the customers it speaks for (None: all), how it was read, and what to keep in
    the cursor once the rosters are written (`mark` None: keep nothing)."""

    snapshot: Snapshot
    scope: frozenset[str] | None
    mode: Mode
    fallback: str = ""  # why a run asked to be incremental listed everything
    events: int = 0
    customers: int = 0
    mark: EventMark | None = None
    full_at: datetime | None = None
    before: bytes | None = None  # the cursor file's bytes as read (None: no file)
    notices: list[Notice] = field(default_factory=list)


class _TooDear(Exception):
    """The incremental read would take more round trips than a full listing."""


def read_stripe(
    client: stripe.StripeClient,
    plan: ReadPlan,
    roster: Callable[[], Sequence[RosterEntry]],
    texts: Mapping[Path, str],
    now: datetime,
    list_all: Callable[[], Snapshot],
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> StripeRead:
    """Reads Stripe for one run. `texts` are the rosters as read (the cursor must match them); `roster()`
    their parsed entries, asked for only when the read needs them (the caller may still be parsing);
    `list_all` is the full listing. Raises StripeUnavailable when Stripe cannot be read."""
    if plan.cursor is None:
        fallback = "no cursor is kept for this run" if plan.incremental else ""
        return StripeRead(list_all(), None, "full", fallback)
    found = read_cursor(plan.cursor, now, texts)
    fallback = ""
    if plan.incremental:
        if found.cursor is None:
            fallback = found.problem
        else:
            try:
                return _since(client, plan, found, texts, roster, now.date(), sleep)
            except _TooDear as exc:
                fallback = str(exc)
            except UnusableEvent as exc:
                fallback = str(exc)
            except StripeRefused as exc:
                fallback = f"{exc}; give the sync's key Events read"
    read = StripeRead(Snapshot(), None, "full", fallback, full_at=now, before=found.before)
    if not plan.dry_run:
        # The mark only spares the next run a full listing: without it this run still reconciles everything.
        try:
            with expected_answers():
                read.mark = newest_mark(client, retries=plan.retries, sleep=sleep)
        except StripeUnavailable as exc:
            hint = "; give the sync's key Events read" if isinstance(exc, StripeRefused) else ""
            message = f"no cursor kept, so the next incremental run lists everything too: {exc}{hint}"
            read.notices.append(Notice("warning", "", None, message))
    read.snapshot = list_all()
    return read


def _since(
    client: stripe.StripeClient,
    plan: ReadPlan,
    found: CursorRead,
    texts: Mapping[Path, str],
    roster: Callable[[], Sequence[RosterEntry]],
    today: date,
    sleep: Callable[[float], None],
) -> StripeRead:
    cursor = found.cursor
    assert cursor is not None
    # Costs in round trips, which is what a run waits for: a full listing's pages come one after another
    # (and one more for its mark), the customers READ_WORKERS at a time. The entries with a customer are
    # counted in the text, so the events are read while the rosters are still being parsed.
    stripe_tenants = sum(text.count(f"\n  {STRIPE_CUSTOMER_FIELD}: ") for text in texts.values())
    budget = max(MIN_BUDGET, -(-stripe_tenants // PAGE_SIZE) + 1)
    try:
        with expected_answers():
            changes = changes_since(cursor.mark, client, budget=budget, retries=plan.retries, sleep=sleep)
    except OverBudget as exc:
        raise _TooDear(f"{exc}: a full listing ({budget} round trips at most) is cheaper") from None
    spent = changes.pages
    snapshot = Snapshot()
    scope: set[str] = set()
    wanted = set(changes.customers)
    while wanted:
        spent += -(-len(wanted) // READ_WORKERS)
        if spent > budget:
            raise _TooDear(
                f"{changes.events} events name {len(scope | wanted)} customers: re-reading them takes more round "
                f"trips than a full listing ({budget} at most)"
            )
        with expected_answers():
            more = fetch_customers(client, wanted, retries=plan.retries, sleep=sleep)
        snapshot.subscriptions += more.subscriptions
        snapshot.customers.update(more.customers)
        scope |= wanted
        wanted = depends_on(roster(), snapshot, plan.plans, plan.free, today) - scope
    return StripeRead(
        snapshot,
        frozenset(scope),
        "incremental",
        events=changes.events,
        customers=len(scope),
        mark=changes.mark,
        full_at=cursor.full_at,
        before=found.before,
    )


def depends_on(
    roster: Sequence[RosterEntry],
    snapshot: Snapshot,
    plans: Mapping[str, Plan],
    free: FreeLimits | None,
    today: date,
) -> set[str]:
    """The customers whose verdicts the reconcile of `snapshot`'s customers looks at (see the module's
    docstring): the holders of the usernames they want, and for a new free library the entries of its
    email identity and those made today. Entries without a Stripe customer never change: not needed."""
    by_username = {t.username: t for t in roster}
    owned = {t.stripe_customer for t in roster if t.stripe_customer}
    needed: set[str] = set()
    identities: set[str] = set()
    free_add = False
    for customer, subscriptions in snapshot.by_customer().items():
        verdict = decide(snapshot.customers.get(customer, StripeCustomer(customer)), subscriptions, plans)
        holder = by_username.get(verdict.username) if verdict.username else None
        if holder is not None and holder.stripe_customer and holder.stripe_customer != customer:
            needed.add(holder.stripe_customer)
        if free is not None and verdict.kind == "live" and verdict.free and customer not in owned:
            free_add = True
            identity = _identity(verdict.email)
            if identity is not None:
                identities.add(identity)
    if free_add:
        for tenant in roster:
            if tenant.stripe_customer and (tenant.created_at == today or email_identity(tenant.email) in identities):
                needed.add(tenant.stripe_customer)
    return needed


def _identity(email: str | None) -> str | None:
    if email is None:
        return None
    try:
        return email_identity(canonical_email(email))
    except EmailAddressError:
        return None


def keep_cursor(
    plan: ReadPlan, read: StripeRead, texts: Mapping[Path, str], now: datetime
) -> tuple[str, Notice | None]:
    """Writes the cursor after the rosters (`texts`: each roster as it now is on disk); the outcome, and
    a warning when the disk refused it (the next incremental run then lists everything)."""
    if plan.cursor is None:
        return "", None
    if plan.dry_run:
        return "not written (dry run)", None
    if read.mark is None:
        return "not written (Stripe's events could not be read)", None
    cursor = Cursor(read.mark, full_at=read.full_at or now, rosters=fingerprint(texts))
    try:
        return write_cursor(plan.cursor, cursor, read.before), None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        message = f"cursor {plan.cursor} not written ({reason}): the next incremental run lists everything"
        return f"not written ({reason})", Notice("warning", "", None, message)


def summary_of(plan: ReadPlan, read: StripeRead, outcome: str) -> ReadSummary:
    return ReadSummary(
        mode=read.mode,
        fallback=read.fallback,
        events=read.events,
        customers=read.customers,
        cursor=str(plan.cursor) if plan.cursor is not None else "",
        cursor_outcome=outcome,
    )
