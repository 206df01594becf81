"""The reconciler: (current roster, Stripe snapshot, now, grace) -> (new roster, report). Pure.

Level-triggered: the Stripe-owned part of every entry that has a `stripe_customer` (username, email,
plan, state and the cancellation dates) is recomputed from the snapshot on every run, so running it
twice changes nothing the second time. Entries without `stripe_customer` are never changed, and
neither are `region`, `hold` and `over_quota_since`, which other tools own. Deletion needs positive
evidence: a subscription that ended more than the grace window ago makes the tenant `purging`, and a
run at least a day after that removes the entry. A tenant missing from the listing is only reported.
An incremental run (billing.incremental) passes the snapshot of a few customers and says which
(`scope`): the entries of every other customer are left as they are, unreported, and the rules that
look across customers (usernames, free limits, placement) still see the whole roster.
Every value taken from Stripe (customer id, username, email) passes the roster's own whole-string
checks first; one that fails is skipped and reported, bounded and escaped, and never written.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import date, datetime, timedelta

from billing.decide import Verdict, decide
from billing.free_limits import FreeLimits, email_identity, refused_message, waiting_message
from billing.report import Change, ChangeKind, LostClaim, Notice, NoticeKind, Report
from billing.snapshot import USERNAME_KEY, Snapshot, StripeCustomer
from billing.tenant_ids import tenant_id_for_customer
from tenants.emails import EmailAddressError, canonical_email
from tenants.inputs import matches, quote_value
from tenants.plans import Plan, plan_rank
from tenants.roster import (
    STRIPE_CUSTOMER_RE,
    RosterEntry,
    RosterError,
    username_error,
    validate,
)
from tenants.states import TenantState

DEFAULT_GRACE_DAYS = 30
# How long a tenant stays `purging` (so `pulumi up` destroys its machine) before the entry goes.
PURGE_HOLD = timedelta(days=1)
_KIND_ORDER: tuple[ChangeKind, ...] = (
    "added", "upgraded", "downgraded", "suspended", "reactivated", "cancelled", "rescheduled",
    "purging", "removed", "renamed", "email",
)  # fmt: skip


class _Run:
    """The state of one reconcile: the roster being built and the report being filled."""

    def __init__(
        self,
        roster: Sequence[RosterEntry],
        today: date,
        grace_days: int,
        plans: Mapping[str, Plan],
        free: FreeLimits | None,
    ) -> None:
        self.original = {t.id: t for t in roster}
        self.result = dict(self.original)
        self.today = today
        self.grace = timedelta(days=grace_days)
        self.plans = plans
        self.report = Report()
        self.renames: list[tuple[str, str, str]] = []  # (tenant id, wanted username, customer)
        self.adds: list[RosterEntry] = []
        self.subscriptions: dict[str, str] = {}  # customer -> the subscription a planned add came from
        self.free = free
        self.free_held: dict[str, int] = {}  # email identity -> live free libraries in the rosters
        self.free_today = 0  # free libraries made today (created_at), this run's included
        self.free_new: dict[str, str] = {}  # customer of a planned free add -> its email identity

    def count_free(self, tenant: RosterEntry) -> None:
        """A live free library: one more for its email, and for today when it was made today."""
        identity = email_identity(tenant.email)
        self.free_held[identity] = self.free_held.get(identity, 0) + 1
        if tenant.created_at == self.today:
            self.free_today += 1

    def change(self, tenant: RosterEntry, kind: ChangeKind, detail: str) -> None:
        self.report.changes.append(Change(kind, tenant.id, tenant.username, tenant.stripe_customer or "", detail))

    def notice(self, kind: NoticeKind, customer: str, tenant_id: str | None, message: str) -> None:
        self.report.notices.append(Notice(kind, customer, tenant_id, message))


def reconcile(
    roster: Sequence[RosterEntry],
    snapshot: Snapshot,
    *,
    now: datetime,
    grace_days: int = DEFAULT_GRACE_DAYS,
    plans: Mapping[str, Plan],
    free: FreeLimits | None = None,
    scope: Collection[str] | None = None,
) -> tuple[list[RosterEntry], Report]:
    """The new roster (validated, sorted by id) and what changed; raises RosterError only on a bug.
    `free`: the limits on free libraries (billing.free_limits); None keeps none. `scope`: the customers
    the snapshot speaks for; None when it is a full listing of every subscription."""
    run = _Run(roster, now.date(), grace_days, plans, free)
    run.report.subscriptions = len(snapshot.subscriptions)
    run.report.customers = len(snapshot.customers)
    owners: dict[str, list[RosterEntry]] = {}
    for tenant in roster:
        if tenant.stripe_customer:
            owners.setdefault(tenant.stripe_customer, []).append(tenant)
    grouped = snapshot.by_customer()
    verdicts = [decide(snapshot.customers.get(c, StripeCustomer(c)), subs, plans) for c, subs in grouped.items()]
    for customer, tenants in sorted(owners.items()):
        if customer not in grouped and (scope is None or customer in scope):
            for tenant in tenants:
                run.notice("missing", customer, tenant.id, "no subscription in Stripe's listing; left unchanged")
    # Oldest customers first, so that of two new customers claiming one username the earlier one gets it.
    for verdict in sorted(verdicts, key=lambda v: (v.created_on or date.max, v.customer)):
        holders = owners.get(verdict.customer, [])
        if not matches(STRIPE_CUSTOMER_RE, verdict.customer):
            # It would become the roster's stripe_customer and the seed of a tenant id: never guess.
            shown = quote_value(verdict.customer)
            run.notice("skipped", shown, None, f"customer id {shown} is not a Stripe customer id (cus_...)")
        elif len(holders) > 1:
            ids = ", ".join(t.id for t in holders)
            run.notice("skipped", verdict.customer, None, f"customer is on several roster entries ({ids}); fix by hand")
        elif verdict.kind == "skip":
            run.notice("skipped", verdict.customer, holders[0].id if holders else None, verdict.reason)
        elif verdict.kind == "pending":
            if holders:
                run.notice("warning", verdict.customer, holders[0].id, f"{verdict.reason}; tenant left as it is")
            else:
                run.notice("pending", verdict.customer, None, f"{verdict.reason}; nothing provisioned yet")
        elif holders:
            _update(run, holders[0], verdict)
            if verdict.kind == "live" and verdict.free:
                run.count_free(run.result[holders[0].id])
        elif verdict.kind == "live":
            _plan_new(run, verdict)
        # An ended customer with no entry was never provisioned, or was already purged: nothing to do.
    _limit_free(run)
    _assign_usernames(run)
    tenants = _settle(run)
    run.report.changes.sort(key=lambda c: (_KIND_ORDER.index(c.kind), c.tenant_id))
    run.report.stripe_tenants = sum(1 for t in tenants if t.stripe_customer)
    run.report.hand_managed = len(tenants) - run.report.stripe_tenants
    return tenants, run.report


def _update(run: _Run, tenant: RosterEntry, verdict: Verdict) -> None:
    new = _lifecycle(run, tenant, verdict)
    if new is None:
        del run.result[tenant.id]
        return
    if not verdict.deleted:
        email, unusable = _email(verdict)
        if email is not None:
            if email != new.email:
                run.change(new, "email", f"{new.email} -> {email}")
                new = new.with_changes(email=email)
        else:
            message = f"customer email {quote_value(verdict.email)} is not usable ({unusable}); keeping {tenant.email}"
            run.notice("warning", verdict.customer, tenant.id, message)
    run.result[tenant.id] = new
    wanted = verdict.username
    if wanted is None:
        if not verdict.deleted:  # a deleted customer has no metadata left; that is expected
            message = f"customer metadata has no {USERNAME_KEY!r}; keeping username {tenant.username!r}"
            run.notice("warning", verdict.customer, tenant.id, message)
    elif wanted != tenant.username:
        problem = username_error(wanted)
        if problem:
            message = f"metadata {USERNAME_KEY}: {problem}; keeping username {tenant.username!r}"
            run.notice("warning", verdict.customer, tenant.id, message)
        else:
            run.renames.append((tenant.id, wanted, verdict.customer))


def _lifecycle(run: _Run, tenant: RosterEntry, verdict: Verdict) -> RosterEntry | None:
    """The tenant's state, plan and dates from the verdict; None when the entry is to be removed."""
    assert verdict.plan is not None
    sub = f"subscription {verdict.subscription}"
    if verdict.kind == "live":
        state = TenantState.SUSPENDED if tenant.hold else verdict.state
        new = tenant.with_changes(
            state=state, plan=verdict.plan, cancelled_at=None, purge_after=None, purge_marked_at=None
        )
        held = f" (stays suspended: hold {tenant.hold})" if tenant.hold else ""
        if tenant.state in (TenantState.CANCELLED, TenantState.PURGING):
            run.change(new, "reactivated", f"subscribed again ({sub} {verdict.status}); cancellation cleared{held}")
        elif tenant.state == TenantState.SUSPENDED and state == TenantState.ACTIVE:
            run.change(new, "reactivated", f"{sub} is {verdict.status}")
        elif tenant.state == TenantState.ACTIVE and state == TenantState.SUSPENDED:
            run.change(new, "suspended", f"{sub} is {verdict.status}")
    else:
        ended = verdict.ended_on or tenant.cancelled_at or run.today
        purge_after = ended + run.grace
        # An operator may extend a cancelled tenant's window by hand (a later purge_after, e.g. to finish
        # an export); the sync keeps the later date and never shortens it.
        if tenant.state == TenantState.CANCELLED and tenant.purge_after and tenant.purge_after > purge_after:
            purge_after = tenant.purge_after
        why = "customer deleted" if verdict.deleted else f"{sub} ended"
        if tenant.state == TenantState.PURGING:
            marked = tenant.purge_marked_at or run.today
            if run.today >= marked + PURGE_HOLD:
                run.change(tenant, "removed", f"purging since {marked} ({why} {ended}); entry removed")
                return None
            return tenant
        purging = run.today > purge_after  # the positive evidence: ended more than the grace window ago
        new = tenant.with_changes(
            state=TenantState.PURGING if purging else TenantState.CANCELLED,
            plan=verdict.plan,
            cancelled_at=ended,
            purge_after=purge_after,
            purge_marked_at=run.today if purging else None,
        )
        if purging:
            run.change(new, "purging", f"{why} {ended}; grace ended {purge_after}; data will be deleted")
        else:
            if tenant.state != TenantState.CANCELLED:
                run.change(new, "cancelled", f"{why} {ended}; export allowed until {purge_after}")
            elif (tenant.cancelled_at, tenant.purge_after) != (ended, purge_after):
                run.change(new, "rescheduled", f"{why} {ended}; purge after {purge_after}")
    if verdict.plan != tenant.plan:
        # A plan the table no longer has counts as the lowest.
        up = tenant.plan not in run.plans or plan_rank(run.plans, verdict.plan) > plan_rank(run.plans, tenant.plan)
        run.change(new, "upgraded" if up else "downgraded", f"{tenant.plan} -> {verdict.plan} ({sub})")
    return new


def _plan_new(run: _Run, verdict: Verdict) -> None:
    customer = verdict.customer
    wanted = verdict.username
    problem = f"customer metadata has no {USERNAME_KEY!r}" if wanted is None else username_error(wanted)
    if problem:
        where = "" if wanted is None else f"metadata {USERNAME_KEY}: "
        run.notice("skipped", customer, None, f"not added: {where}{problem}")
        return
    email, email_problem = _email(verdict)
    if email is None:
        message = f"not added: customer email {quote_value(verdict.email)} is not usable ({email_problem})"
        run.notice("skipped", customer, None, message)
        return
    tenant_id = tenant_id_for_customer(customer)
    if tenant_id in run.result:
        run.notice("skipped", customer, tenant_id, f"not added: tenant id {tenant_id} is already another entry's")
        return
    assert wanted is not None and verdict.plan is not None and verdict.state is not None
    if verdict.subscription is not None:
        run.subscriptions[customer] = verdict.subscription
    if verdict.free:
        run.free_new[customer] = email_identity(email)  # the stored form (tenants.emails), then folded
    run.adds.append(
        RosterEntry(
            id=tenant_id,
            username=wanted,
            email=email,
            plan=verdict.plan,
            state=verdict.state,
            stripe_customer=customer,
            # A free library counts against the day it is made in (billing.free_limits), whenever its
            # customer signed up; a paid one keeps the customer's creation date.
            created_at=run.today if verdict.free else verdict.created_on,
        )
    )


def _email(verdict: Verdict) -> tuple[str | None, str]:
    """The customer's email in its stored form (tenants.emails), or None and why it cannot be used."""
    if verdict.email is None:
        return None, "none set"
    try:
        return canonical_email(verdict.email), ""
    except EmailAddressError as exc:
        return None, str(exc)


def _limit_free(run: _Run) -> None:
    """Drops the planned free adds over the limits, oldest customer first, before any takes a username:
    one over its email's limit is refused by name, one over the day's limit waits for a later day."""
    limits = run.free
    if limits is None:
        return
    kept: list[RosterEntry] = []
    for tenant in run.adds:
        customer = tenant.stripe_customer or ""
        identity = run.free_new.get(customer)
        if identity is None:
            kept.append(tenant)
            continue
        held = run.free_held.get(identity, 0)
        if held >= limits.per_email:
            run.notice("skipped", customer, None, refused_message(tenant.username, held, limits))
        elif run.free_today >= limits.per_day:
            run.notice("pending", customer, None, waiting_message(tenant.username, limits))
        else:
            kept.append(tenant)
            run.count_free(tenant)
            continue
        run.subscriptions.pop(customer, None)  # never a lost claim: it claimed nothing
    run.adds = kept


def _assign_usernames(run: _Run) -> None:
    """Renames and additions take free usernames until none can; chains resolve, swaps do not."""
    taken = {t.username: t.id for t in run.result.values()}
    renames = sorted(run.renames)
    adds = list(run.adds)
    progress = True
    while progress:
        progress = False
        for item in list(renames):
            tenant_id, wanted, _ = item
            if wanted in taken:
                continue
            old = run.result[tenant_id]
            del taken[old.username]
            taken[wanted] = tenant_id
            run.result[tenant_id] = old.with_changes(username=wanted)
            run.change(run.result[tenant_id], "renamed", f"{old.username} -> {wanted}")
            renames.remove(item)
            progress = True
        for tenant in list(adds):
            if tenant.username in taken:
                continue
            taken[tenant.username] = tenant.id
            run.result[tenant.id] = tenant
            run.change(tenant, "added", f"plan {tenant.plan}, {tenant.state}")
            adds.remove(tenant)
            progress = True
    for tenant_id, wanted, customer in renames:
        current = run.result[tenant_id].username
        message = f"metadata {USERNAME_KEY} {wanted!r} is already used by tenant {taken[wanted]}; keeping {current!r}"
        run.notice("warning", customer, tenant_id, message)
    for tenant in adds:
        message = f"not added: username {tenant.username!r} is already used by tenant {taken[tenant.username]}"
        run.notice("skipped", tenant.stripe_customer or "", None, message)
        subscription = run.subscriptions.get(tenant.stripe_customer or "")
        if tenant.state == TenantState.ACTIVE and subscription is not None:
            # It paid (or chose the free plan) for a name someone else got first: cancelled and refunded.
            run.report.lost_claims.append(
                LostClaim(
                    tenant.stripe_customer or "", subscription, tenant.username, tenant.email, taken[tenant.username]
                )
            )


def _settle(run: _Run) -> list[RosterEntry]:
    """Runs the roster's own validation; a changed entry that breaks it is put back and reported."""
    while True:
        tenants = sorted(run.result.values(), key=lambda t: t.id)
        problems = validate(tenants, run.plans)
        if not problems:
            return tenants
        changed = {tid for tid, t in run.result.items() if run.original.get(tid) != t}
        culprits = {p.tenant_id for p in problems if p.tenant_id in changed} or changed
        if not culprits:
            raise RosterError("reconciled roster", problems)
        for tenant_id in sorted(c for c in culprits if c is not None):
            why = "; ".join(f"{p.field}: {p.message}" for p in problems if p.tenant_id == tenant_id) or (
                "the roster would not validate"
            )
            tenant = run.result[tenant_id]
            run.report.drop_changes_of(tenant_id)
            run.notice("skipped", tenant.stripe_customer or "", tenant_id, f"change left out: {why}")
            if tenant_id in run.original:
                run.result[tenant_id] = run.original[tenant_id]
            else:
                del run.result[tenant_id]
