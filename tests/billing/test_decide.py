from __future__ import annotations

from datetime import date

import pytest

from billing.decide import decide
from billing.price_plans import lookup_key_table, plan_for_lookup_key
from billing.snapshot import StripeCustomer, StripeSubscription
from tenants.plans import DEFAULT_PLANS
from tests.billing.support import at

CUSTOMER = StripeCustomer("cus_A", email="a@example.com", username="alice", created=at("2026-01-01"))


def sub(id: str, status: str, key: str | None = "reader_monthly", **kw) -> StripeSubscription:
    return StripeSubscription(id, "cus_A", status, (key,), created=at("2026-01-01"), **kw)


@pytest.mark.parametrize(
    ("key", "plan"),
    [("reader_monthly", "reader"), ("reader_yearly", "reader"), ("library_monthly", "library"),
     ("library_yearly", "library"), ("reader_weekly", None), ("gold_monthly", None), (None, None)],
)  # fmt: skip
def test_price_plans_monthly_and_yearly_map_to_one_plan(key, plan):
    assert plan_for_lookup_key(DEFAULT_PLANS, key) == plan


def test_price_plans_table_covers_every_plan_and_period():
    table = lookup_key_table(DEFAULT_PLANS)
    assert set(table.values()) == set(DEFAULT_PLANS)
    assert len(table) == 2 * len(DEFAULT_PLANS)


@pytest.mark.parametrize(
    ("status", "kind", "state"),
    [
        ("active", "live", "active"),
        ("trialing", "live", "active"),
        ("past_due", "live", "active"),
        ("unpaid", "live", "suspended"),
        ("paused", "live", "suspended"),
        ("incomplete", "pending", None),
        ("incomplete_expired", "pending", None),
    ],
)
def test_decide_status_maps_to_state(status, kind, state):
    verdict = decide(CUSTOMER, [sub("sub_1", status)], DEFAULT_PLANS)
    assert (verdict.kind, verdict.state) == (kind, state)


def test_decide_canceled_uses_ended_at_not_canceled_at():
    canceled = sub("sub_1", "canceled", ended_at=at("2026-11-10"), canceled_at=at("2026-10-01"))
    verdict = decide(CUSTOMER, [canceled], DEFAULT_PLANS)
    assert (verdict.kind, verdict.state, verdict.ended_on) == ("ended", "cancelled", date(2026, 11, 10))


def test_decide_unknown_status_skips_customer():
    verdict = decide(CUSTOMER, [sub("sub_1", "frozen")], DEFAULT_PLANS)
    assert verdict.kind == "skip"
    assert "unknown status 'frozen'" in verdict.reason


@pytest.mark.parametrize(
    ("subs", "winner", "plan", "state"),
    [
        # a live one over an ended one, even on a lower plan
        ([sub("sub_1", "canceled", "library_monthly", ended_at=at("2026-05-01")), sub("sub_2", "active")],
         "sub_2", "reader", "active"),
        # two live ones: the higher plan
        ([sub("sub_1", "active"), sub("sub_2", "trialing", "library_yearly")], "sub_2", "library", "active"),
        # paying over suspended, whatever the plan
        ([sub("sub_1", "unpaid", "library_monthly"), sub("sub_2", "active")], "sub_2", "reader", "active"),
        # two ended ones: the latest end
        ([sub("sub_1", "canceled", "library_monthly", ended_at=at("2026-03-01")),
          sub("sub_2", "canceled", ended_at=at("2026-06-01"))], "sub_2", "reader", "cancelled"),
        # an incomplete one never wins over an ended one
        ([sub("sub_1", "canceled", ended_at=at("2026-03-01")), sub("sub_2", "incomplete", "library_monthly")],
         "sub_1", "reader", "cancelled"),
    ],
)  # fmt: skip
def test_decide_best_subscription_wins(subs, winner, plan, state):
    verdict = decide(CUSTOMER, subs, DEFAULT_PLANS)
    assert (verdict.subscription, verdict.plan, verdict.state) == (winner, plan, state)


def test_decide_unknown_lookup_key_that_could_win_skips_customer():
    verdict = decide(CUSTOMER, [sub("sub_1", "active"), sub("sub_2", "active", "gold_monthly")], DEFAULT_PLANS)
    assert verdict.kind == "skip"
    assert "'gold_monthly'" in verdict.reason and "sub_2" in verdict.reason


def test_decide_unknown_lookup_key_on_an_old_ended_subscription_is_outranked():
    legacy = sub("sub_1", "canceled", "legacy_2024", ended_at=at("2025-01-01"))
    verdict = decide(CUSTOMER, [legacy, sub("sub_2", "active")], DEFAULT_PLANS)
    assert (verdict.kind, verdict.plan) == ("live", "reader")


def test_decide_deleted_customer_is_cancelled_with_username_from_subscription_mirror():
    gone = StripeCustomer("cus_A", deleted=True)
    verdict = decide(gone, [sub("sub_1", "canceled", ended_at=at("2026-11-20"), username="alice")], DEFAULT_PLANS)
    assert (verdict.kind, verdict.ended_on, verdict.username, verdict.email) == (
        "ended", date(2026, 11, 20), "alice", None,
    )  # fmt: skip


def test_decide_deleted_customer_overrides_a_still_live_status():
    gone = StripeCustomer("cus_A", deleted=True)
    verdict = decide(gone, [sub("sub_1", "active", canceled_at=at("2026-11-21"))], DEFAULT_PLANS)
    assert (verdict.kind, verdict.ended_on) == ("ended", date(2026, 11, 21))
