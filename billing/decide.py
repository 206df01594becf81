"""What Stripe says one customer should be: fold its subscriptions into one verdict.

Status mapping (docs/reference/stripe.md §2.1): active/trialing/past_due -> active; unpaid/paused ->
suspended; canceled -> cancelled from `ended_at`; incomplete/incomplete_expired -> never provisioned.
A deleted customer counts as cancelled: deleting a customer cancels its subscriptions at once, so
their `ended_at` is the deletion time (§2.2). Among several subscriptions the best one wins: a live
one over an ended one, a paying one over a suspended one, then the higher plan; among ended ones the
latest end. A subscription whose price has no known lookup key cannot be ranked by plan, so if it
could be the winner the customer is skipped rather than guessed at.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Literal

from billing.price_plans import plan_for_lookup_key
from billing.snapshot import StripeCustomer, StripeSubscription
from tenants.inputs import quote_value
from tenants.plans import Plan, plan_rank
from tenants.states import TenantState

PAYING = ("active", "trialing", "past_due")
HELD = ("unpaid", "paused")
ENDED = ("canceled",)
NEVER_PROVISIONED = ("incomplete", "incomplete_expired")

# Stripe subscription statuses (not roster states): PAYING -> active, HELD -> suspended, ENDED -> cancelled.
# Liveness tiers: a higher tier always beats a lower one, whatever the plan.
_TIER = {**dict.fromkeys(PAYING, 3), **dict.fromkeys(HELD, 2), **dict.fromkeys(ENDED, 1)}

VerdictKind = Literal["live", "ended", "pending", "skip"]


@dataclass(frozen=True)
class Verdict:
    """`live`: state active/suspended on `plan`; `ended`: cancelled on `ended_on` (None if Stripe gave
    no time); `pending`: only never-provisioned subscriptions; `skip`: `reason` says why."""

    customer: str
    kind: VerdictKind
    plan: str | None = None
    state: TenantState | None = None
    ended_on: date | None = None
    subscription: str | None = None
    status: str | None = None
    reason: str = ""
    username: str | None = None  # the claim: customer metadata, else the subscription's mirror
    email: str | None = None
    created_on: date | None = None
    deleted: bool = False
    free: bool = False  # the winning subscription costs nothing (billing.free_limits)


def to_date(timestamp: int | None) -> date | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, UTC).date()


def decide(customer: StripeCustomer, subscriptions: Sequence[StripeSubscription], plans: Mapping[str, Plan]) -> Verdict:
    subs = sorted(subscriptions, key=lambda s: s.id)
    base = Verdict(
        customer=customer.id,
        kind="pending",
        username=customer.username or _mirrored_username(subs),
        email=None if customer.deleted else customer.email,
        created_on=to_date(customer.created or min((s.created for s in subs), default=None)),
        deleted=customer.deleted,
    )
    ranked: list[tuple[tuple[int, int, tuple[float, int]], StripeSubscription, str]] = []
    unknown: list[tuple[int, StripeSubscription, str | None]] = []
    for sub in subs:
        status = "canceled" if customer.deleted and sub.status not in NEVER_PROVISIONED else sub.status
        if status in NEVER_PROVISIONED:
            continue
        if status not in _TIER:
            return replace(
                base,
                kind="skip",
                reason=f"subscription {sub.id} has unknown status {quote_value(sub.status)}; tenant left as it is",
            )
        tier = _TIER[status]
        plan, bad_key = _plan_of(sub, plans)
        if plan is None:
            unknown.append((tier, sub, bad_key))
            continue
        ended = (sub.ended_at or sub.canceled_at or 0) if tier == 1 else 0
        ranked.append(((tier, ended, plan_rank(plans, plan)), sub, plan))
    best_tier = max((key[0] for key, _, _ in ranked), default=0)
    for tier, sub, bad_key in unknown:
        if tier >= best_tier:
            return replace(
                base,
                kind="skip",
                reason=f"subscription {sub.id} ({sub.status}) has price lookup key {quote_value(bad_key)}, "
                f"which maps to no plan (expected <plan>_monthly or <plan>_yearly for plans: {', '.join(plans)})",
            )
    if not ranked:
        return replace(base, reason="only incomplete subscriptions")
    key, sub, plan = max(ranked, key=lambda entry: (entry[0], entry[1].id))
    if key[0] == 1:
        ended_at = sub.ended_at or sub.canceled_at
        return replace(
            base,
            kind="ended",
            plan=plan,
            state=TenantState.CANCELLED,
            ended_on=to_date(ended_at),
            subscription=sub.id,
            status="canceled",
        )
    return replace(
        base,
        kind="live",
        plan=plan,
        state=TenantState.ACTIVE if key[0] == 3 else TenantState.SUSPENDED,
        subscription=sub.id,
        status=sub.status,
        free=sub.free,
    )


def _plan_of(sub: StripeSubscription, plans: Mapping[str, Plan]) -> tuple[str | None, str | None]:
    """The highest plan among the items, or (None, the first unknown key)."""
    found: list[str] = []
    for key in sub.lookup_keys or (None,):
        plan = plan_for_lookup_key(plans, key)
        if plan is None:
            return None, key
        found.append(plan)
    return max(found, key=lambda name: plan_rank(plans, name)), None


def _mirrored_username(subs: Sequence[StripeSubscription]) -> str | None:
    """The newest subscription's mirror: it survives customer deletion, which wipes customer metadata."""
    for sub in sorted(subs, key=lambda s: (s.created, s.id), reverse=True):
        if sub.username:
            return sub.username
    return None
