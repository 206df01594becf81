"""The pure reconciler: identity, usernames, holds, hand-managed entries, idempotence."""

from __future__ import annotations

from datetime import date

import pytest

import billing.reconcile as reconcile_module
from billing.reconcile import reconcile
from billing.snapshot import Snapshot, StripeCustomer, StripeSubscription
from billing.tenant_ids import tenant_id_for_customer
from tenants.plans import DEFAULT_PLANS
from tenants.roster import RosterEntry
from tests.billing.support import HAND_MANAGED, at, now

NOW = now("2026-11-26")


def customer(cid: str, username: str | None, email: str | None = None, created: str = "2026-01-01"):
    return StripeCustomer(cid, email=email or f"{cid[4:].lower()}@example.com", username=username, created=at(created))


def snapshot(*entries: tuple[StripeCustomer, str, str]) -> Snapshot:
    """(customer, status, lookup key) per subscription."""
    snap = Snapshot()
    for index, (cus, status, key) in enumerate(entries):
        snap.customers[cus.id] = cus
        ended = at("2026-11-20") if status == "canceled" else None
        snap.subscriptions.append(
            StripeSubscription(f"sub_{index}", cus.id, status, (key,), created=at("2026-01-01"), ended_at=ended)
        )
    return snap


def stripe_tenant(cid: str, username: str, **kw) -> RosterEntry:
    fields = {"email": f"{cid[4:].lower()}@example.com", "plan": "reader", "state": "active",
              "created_at": date(2026, 1, 1), **kw}  # fmt: skip
    return RosterEntry(tenant_id_for_customer(cid), username, stripe_customer=cid, **fields)


def run(roster, snap, **kw):
    return reconcile(roster, snap, now=kw.pop("now", NOW), plans=DEFAULT_PLANS, **kw)


def by_customer(tenants):
    return {t.stripe_customer: t for t in tenants if t.stripe_customer}


def test_reconcile_signup_adds_tenant_with_deterministic_id():
    tenants, report = run(HAND_MANAGED, snapshot((customer("cus_A", "alice"), "active", "reader_monthly")))
    added = by_customer(tenants)["cus_A"]
    assert added.id == tenant_id_for_customer("cus_A")
    assert (added.username, added.plan, added.state, added.created_at) == (
        "alice",
        "reader",
        "active",
        date(2026, 1, 1),
    )
    assert [c.kind for c in report.changes] == ["added"]
    assert not report.needs_attention


def test_reconcile_hand_managed_entries_are_never_changed():
    # A Stripe customer claiming a hand-managed tenant's username does not get it.
    snap = snapshot((customer("cus_A", "erin"), "active", "library_monthly"))
    tenants, report = run(HAND_MANAGED, snap)
    assert [t for t in tenants if not t.stripe_customer] == HAND_MANAGED
    assert [n.kind for n in report.notices] == ["skipped"]
    assert "'erin' is already used by tenant friend0001" in report.notices[0].message


@pytest.mark.parametrize(
    ("cus", "expected"),
    [
        (customer("cus_B", None), "no 'username'"),
        (customer("cus_B", "Bob_Smith"), "must be lowercase"),
        (customer("cus_B", "admin"), "is reserved"),
        (customer("cus_B", "bob", email="not-an-email"), "email 'not-an-email' is not usable"),
    ],
)
def test_reconcile_bad_new_customer_is_skipped_and_the_rest_applied(cus, expected):
    snap = snapshot((customer("cus_A", "alice"), "active", "reader_monthly"), (cus, "active", "reader_monthly"))
    tenants, report = run([], snap)
    assert set(by_customer(tenants)) == {"cus_A"}
    assert report.needs_attention
    assert [(n.kind, n.customer) for n in report.notices] == [("skipped", "cus_B")]
    assert expected in report.notices[0].message


def test_reconcile_existing_tenant_keeps_username_when_metadata_goes_bad():
    roster = [stripe_tenant("cus_A", "alice")]
    tenants, report = run(roster, snapshot((customer("cus_A", "Not Valid"), "active", "reader_monthly")))
    assert tenants == roster
    assert [n.kind for n in report.notices] == ["warning"]
    assert "keeping username 'alice'" in report.notices[0].message


def test_reconcile_username_change_in_metadata_renames_when_free():
    roster = [stripe_tenant("cus_A", "alice")]
    tenants, report = run(roster, snapshot((customer("cus_A", "alice-reads"), "active", "reader_monthly")))
    renamed = by_customer(tenants)["cus_A"]
    assert (renamed.id, renamed.username) == (roster[0].id, "alice-reads")
    assert [(c.kind, c.detail) for c in report.changes] == [("renamed", "alice -> alice-reads")]


def test_reconcile_username_change_to_a_taken_name_keeps_the_old_one():
    roster = [stripe_tenant("cus_A", "alice"), stripe_tenant("cus_B", "bob")]
    snap = snapshot((customer("cus_A", "bob"), "active", "reader_monthly"),
                    (customer("cus_B", "bob"), "active", "reader_monthly"))  # fmt: skip
    tenants, report = run(roster, snap)
    assert tenants == sorted(roster, key=lambda t: t.id)
    assert [(n.kind, n.customer) for n in report.notices] == [("warning", "cus_A")]


def test_reconcile_rename_chain_resolves_in_one_run():
    # bob takes alice's old name in the same run alice moves away from it.
    roster = [stripe_tenant("cus_A", "alice"), stripe_tenant("cus_B", "bob")]
    snap = snapshot((customer("cus_A", "alice2"), "active", "reader_monthly"),
                    (customer("cus_B", "alice"), "active", "reader_monthly"))  # fmt: skip
    tenants, report = run(roster, snap)
    assert {c: t.username for c, t in by_customer(tenants).items()} == {"cus_A": "alice2", "cus_B": "alice"}
    assert not report.needs_attention


def test_reconcile_two_new_customers_claiming_one_username_the_older_wins():
    snap = snapshot((customer("cus_B", "sam", created="2026-02-01"), "active", "reader_monthly"),
                    (customer("cus_A", "sam", created="2026-03-01"), "active", "reader_monthly"))  # fmt: skip
    tenants, report = run([], snap)
    assert set(by_customer(tenants)) == {"cus_B"}
    assert [(n.kind, n.customer) for n in report.notices] == [("skipped", "cus_A")]


@pytest.mark.parametrize(("status", "state"), [("active", "suspended"), ("unpaid", "suspended")])
def test_reconcile_hold_keeps_tenant_suspended_whatever_stripe_says(status, state):
    roster = [stripe_tenant("cus_A", "alice", state="suspended", hold="over_quota")]
    tenants, report = run(roster, snapshot((customer("cus_A", "alice"), status, "reader_monthly")))
    assert tenants == roster
    assert report.changes == [] and report.notices == []


def test_reconcile_hold_does_not_stop_cancellation():
    roster = [stripe_tenant("cus_A", "alice", state="suspended", hold="operator")]
    tenants, _ = run(roster, snapshot((customer("cus_A", "alice"), "canceled", "reader_monthly")))
    cancelled = tenants[0]
    assert (cancelled.state, cancelled.hold, cancelled.cancelled_at) == ("cancelled", "operator", date(2026, 11, 20))


def test_reconcile_missing_customer_is_reported_not_touched():
    roster = [stripe_tenant("cus_GONE", "ghost")]
    tenants, report = run(roster, Snapshot())
    assert tenants == roster
    assert [(n.kind, n.tenant_id) for n in report.notices] == [("missing", roster[0].id)]
    assert not report.needs_attention


def test_reconcile_ended_customer_without_entry_is_not_added():
    tenants, report = run([], snapshot((customer("cus_A", "alice"), "canceled", "reader_monthly")))
    assert tenants == [] and report.changes == [] and report.notices == []


def test_reconcile_incomplete_signup_is_pending_not_provisioned():
    tenants, report = run([], snapshot((customer("cus_A", "alice"), "incomplete", "reader_monthly")))
    assert tenants == []
    assert [n.kind for n in report.notices] == ["pending"]
    assert not report.needs_attention


def test_reconcile_customer_on_two_entries_is_skipped():
    first = stripe_tenant("cus_A", "alice")
    second = RosterEntry("dupe000001", "alice-2", "x@example.com", "reader", "active", stripe_customer="cus_A")
    tenants, report = run([first, second], snapshot((customer("cus_A", "alice"), "unpaid", "reader_monthly")))
    assert sorted(tenants, key=lambda t: t.id) == sorted([first, second], key=lambda t: t.id)
    assert report.notices[0].kind == "skipped" and "several roster entries" in report.notices[0].message


def test_reconcile_email_follows_the_customer():
    roster = [stripe_tenant("cus_A", "alice")]
    snap = snapshot((customer("cus_A", "alice", email="new@example.com"), "active", "reader_monthly"))
    tenants, report = run(roster, snap)
    assert tenants[0].email == "new@example.com"
    assert [c.kind for c in report.changes] == ["email"]


def test_reconcile_twice_changes_nothing_the_second_time():
    snap = snapshot(
        (customer("cus_A", "alice"), "active", "reader_monthly"),
        (customer("cus_B", "bob"), "canceled", "library_yearly"),
        (customer("cus_C", "carol"), "past_due", "library_monthly"),
    )
    roster = [*HAND_MANAGED, stripe_tenant("cus_B", "bob")]
    first, _ = run(roster, snap)
    second, report = run(first, snap)
    assert second == first
    assert report.changes == []


def test_reconcile_change_that_fails_roster_validation_is_left_out(monkeypatch):
    """The roster's own validation is the last word: a change it rejects is put back and reported."""
    monkeypatch.setattr(reconcile_module, "username_error", lambda name: None)
    roster = [stripe_tenant("cus_A", "alice"), stripe_tenant("cus_B", "bob")]
    snap = snapshot((customer("cus_A", "Alice!"), "active", "library_monthly"),
                    (customer("cus_B", "bob"), "unpaid", "reader_monthly"))  # fmt: skip
    tenants, report = run(roster, snap)
    assert by_customer(tenants)["cus_A"] == roster[0]
    assert by_customer(tenants)["cus_B"].state == "suspended"
    assert [(c.kind, c.customer) for c in report.changes] == [("suspended", "cus_B")]
    assert report.notices[0].kind == "skipped" and "username" in report.notices[0].message


def test_reconcile_deleted_customer_without_metadata_keeps_username_quietly():
    roster = [stripe_tenant("cus_A", "alice")]
    snap = Snapshot(
        customers={"cus_A": StripeCustomer("cus_A", deleted=True)},
        subscriptions=[
            StripeSubscription("sub_1", "cus_A", "canceled", ("reader_monthly",), ended_at=at("2026-11-20"))
        ],
    )
    tenants, report = run(roster, snap)
    assert (tenants[0].username, tenants[0].email, tenants[0].state) == ("alice", roster[0].email, "cancelled")
    assert report.notices == []


def test_reconcile_keeps_an_operator_extension_of_the_grace_window():
    """scripts/export tells the operator to extend purge_after by hand; the sync must not undo it."""
    extended = stripe_tenant(
        "cus_A", "alice", state="cancelled", cancelled_at=date(2026, 11, 20), purge_after=date(2027, 1, 31)
    )
    snap = snapshot((customer("cus_A", "alice"), "canceled", "reader_monthly"))
    later = now("2026-12-25")  # past the computed window (2026-12-20), inside the extended one
    tenants, report = run([extended], snap, now=later)
    assert by_customer(tenants)["cus_A"] == extended
    assert report.changes == []


def test_reconcile_never_takes_a_shorter_hand_edited_window_as_an_extension():
    shortened = stripe_tenant(
        "cus_A", "alice", state="cancelled", cancelled_at=date(2026, 11, 20), purge_after=date(2026, 11, 25)
    )
    tenants, _ = run([shortened], snapshot((customer("cus_A", "alice"), "canceled", "reader_monthly")))
    assert by_customer(tenants)["cus_A"].purge_after == date(2026, 12, 20)


def test_reconcile_two_checkouts_for_one_name_the_first_customer_wins_and_the_other_is_to_be_settled():
    early = customer("cus_Early", "alice", created="2026-01-01")
    late = customer("cus_Late", "alice", created="2026-01-02")
    tenants, report = run([], snapshot((late, "active", "reader_monthly"), (early, "active", "reader_monthly")))
    assert by_customer(tenants)["cus_Early"].username == "alice"
    assert "cus_Late" not in by_customer(tenants)
    (lost,) = report.lost_claims
    assert (lost.customer, lost.subscription, lost.username, lost.email) == (
        "cus_Late", "sub_0", "alice", "late@example.com"
    )  # fmt: skip
    assert lost.holder == tenant_id_for_customer("cus_Early")


def test_reconcile_a_name_held_by_a_hand_managed_tenant_is_also_settled_but_a_suspended_claim_is_not():
    snap = snapshot(
        (customer("cus_A", "erin"), "active", "reader_monthly"), (customer("cus_B", "erin"), "unpaid", "reader_monthly")
    )
    _, report = run(HAND_MANAGED, snap)
    assert [c.customer for c in report.lost_claims] == ["cus_A"]  # the unpaid one is charged nothing
