"""A customer's whole life, one sync run per step with the clock advancing, over real HTTP.

stripe-python's own client reads the fake Stripe API on 127.0.0.1; each step changes the fake the way
Stripe would, runs `scripts.stripe_sync` with `--now` and checks the roster entry and the change reported.
"""

from __future__ import annotations

import json
from datetime import date

import pytest

from billing.sync import SyncSettings, run_sync
from billing.tenant_ids import tenant_id_for_customer
from emulators.stripe.state import StripeWorld
from scripts.stripe_sync import main
from tenants.plans import DEFAULT_PLANS
from tenants.roster import load_roster
from tests.billing.support import API_KEY, at, now, write_hand_managed

CUS = "cus_Lifecycle1"
TENANT_ID = tenant_id_for_customer(CUS)


def signup(world: StripeWorld, ids: dict[str, str]) -> None:
    world.add_customer(id=CUS, username="alice", email="alice@example.com", created=at("2026-01-10"))
    ids["sub"] = world.subscribe(CUS, "reader_monthly", created=at("2026-01-10"))


def price(key):
    return lambda world, ids: world.change_price(ids["sub"], key)


def status(value):
    return lambda world, ids: world.set_status(ids["sub"], value)


def cancel(day):
    return lambda world, ids: world.cancel(ids["sub"], at=at(day), requested_at=at("2026-02-01"))


def resubscribe(key, day):
    def act(world, ids):
        ids["sub"] = world.subscribe(CUS, key, created=at(day))

    return act


def nothing(world, ids):
    pass


# (step, what happens at Stripe, run date, expected entry or None, change kinds reported)
# expected entry: (state, plan, cancelled_at, purge_after, purge_marked_at)
D = date.fromisoformat
LIFE = [
    ("signup", signup, "2026-01-10", ("active", "reader", None, None, None), ["added"]),
    ("upgrade", price("library_monthly"), "2026-01-15", ("active", "library", None, None, None), ["upgraded"]),
    ("downgrade", price("reader_yearly"), "2026-01-20", ("active", "reader", None, None, None), ["downgraded"]),
    ("payment fails, Stripe retries", status("past_due"), "2026-01-21", ("active", "reader", None, None, None), []),
    ("retries exhausted", status("unpaid"), "2026-01-30", ("suspended", "reader", None, None, None), ["suspended"]),
    ("recovery", status("active"), "2026-02-02", ("active", "reader", None, None, None), ["reactivated"]),
    ("paused", status("paused"), "2026-02-05", ("suspended", "reader", None, None, None), ["suspended"]),
    ("trial resumes", status("trialing"), "2026-02-06", ("active", "reader", None, None, None), ["reactivated"]),
    ("cancellation", cancel("2026-03-01"), "2026-03-02",
     ("cancelled", "reader", D("2026-03-01"), D("2026-03-31"), None), ["cancelled"]),
    ("last day of grace", nothing, "2026-03-31",
     ("cancelled", "reader", D("2026-03-01"), D("2026-03-31"), None), []),
    ("grace expiry", nothing, "2026-04-01",
     ("purging", "reader", D("2026-03-01"), D("2026-03-31"), D("2026-04-01")), ["purging"]),
    ("same day again", nothing, "2026-04-01",
     ("purging", "reader", D("2026-03-01"), D("2026-03-31"), D("2026-04-01")), []),
    ("purge", nothing, "2026-04-02", None, ["removed"]),
    ("canceled subscription still listed", nothing, "2026-05-01", None, []),
    ("comes back after the purge", resubscribe("library_monthly", "2026-06-01"), "2026-06-01",
     ("active", "library", None, None, None), ["added"]),
]  # fmt: skip


def entry(path):
    found = [t for t in load_roster(path, DEFAULT_PLANS) if t.stripe_customer == CUS]
    return found[0] if found else None


def test_lifecycle_signup_to_purge_and_back(account, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("STRIPE_API_KEY", API_KEY)
    roster = tmp_path / "roster.yaml"
    write_hand_managed(roster)
    ids: dict[str, str] = {}
    for step, act, day, expected, kinds in LIFE:
        act(account.world, ids)
        code = main(["--roster", str(roster), "--api-base", account.url, "--now", day, "--json"])
        summary = json.loads(capsys.readouterr().out)
        assert code == 0, step
        assert [c["kind"] for c in summary["changes"]] == kinds, step
        tenant = entry(roster)
        if expected is None:
            assert tenant is None, step
            continue
        assert tenant is not None, step
        got = (tenant.state, tenant.plan, tenant.cancelled_at, tenant.purge_after, tenant.purge_marked_at)
        assert got == expected, step
        assert (tenant.id, tenant.username) == (TENANT_ID, "alice"), step


@pytest.mark.parametrize("from_state_day", ["2026-03-05", "2026-04-01"])
def test_lifecycle_resubscription_reactivates_same_tenant(account, tmp_path, from_state_day):
    """Cancelled (or already purging) then subscribing again: same id, data kept, dates cleared."""
    roster = tmp_path / "roster.yaml"
    write_hand_managed(roster)
    settings = SyncSettings(roster=roster, plans=DEFAULT_PLANS)
    ids: dict[str, str] = {}
    signup(account.world, ids)
    run_sync(settings, account.client(), now("2026-01-10"))
    cancel("2026-03-01")(account.world, ids)
    run_sync(settings, account.client(), now(from_state_day))
    assert entry(roster).state in ("cancelled", "purging")
    resubscribe("reader_monthly", from_state_day)(account.world, ids)
    summary = run_sync(settings, account.client(), now(from_state_day))
    tenant = entry(roster)
    assert (tenant.id, tenant.state, tenant.cancelled_at, tenant.purge_after, tenant.purge_marked_at) == (
        TENANT_ID, "active", None, None, None,
    )  # fmt: skip
    assert [c.kind for c in summary.report.changes] == ["reactivated"]


def test_lifecycle_deleted_customer_is_cancelled_at_deletion(account, tmp_path):
    roster = tmp_path / "roster.yaml"
    write_hand_managed(roster)
    settings = SyncSettings(roster=roster, plans=DEFAULT_PLANS, grace_days=10)
    signup(account.world, {})
    run_sync(settings, account.client(), now("2026-01-10"))
    account.world.delete_customer(CUS, at=at("2026-02-14"))
    summary = run_sync(settings, account.client(), now("2026-02-15"))
    tenant = entry(roster)
    assert (tenant.state, tenant.username, tenant.email) == ("cancelled", "alice", "alice@example.com")
    assert (tenant.cancelled_at, tenant.purge_after) == (D("2026-02-14"), D("2026-02-24"))
    assert "customer deleted" in summary.report.changes[0].detail
    assert not summary.report.needs_attention


def test_sync_never_undoes_a_roster_change_made_while_stripe_was_read(account, tmp_path, monkeypatch):
    from billing.stripe_source import fetch_snapshot as fetch
    from billing.sync import SyncError

    roster = tmp_path / "roster.yaml"
    write_hand_managed(roster)
    before_read = roster.read_text()

    def fetch_while_someone_edits(*a, **kw):
        roster.write_text(before_read + "# a webhook run or a hand edit landed here\n")
        return fetch(*a, **kw)

    monkeypatch.setattr("billing.sync.fetch_snapshot", fetch_while_someone_edits)
    settings = SyncSettings(roster=roster, plans=DEFAULT_PLANS, grace_days=30, dry_run=False)
    with pytest.raises(SyncError, match="changed on disk since it was read"):
        run_sync(settings, account.client(), now("2026-01-10"))
    assert roster.read_text().endswith("# a webhook run or a hand edit landed here\n")
