"""After the sync adds a tenant that Checkout made (its username only on the subscription), the username
is copied onto the customer, once; a customer that has one is never written; a refusal is a warning."""

from __future__ import annotations

from pathlib import Path

import stripe

from billing.claim_copy import copy_usernames
from billing.report import Change
from billing.snapshot import Snapshot, StripeCustomer
from billing.stripe_source import make_client
from billing.sync import SyncSettings, run_sync
from tenants.plans import DEFAULT_PLANS
from tenants.roster import write_roster
from tests.billing.support import FAST_RETRIES, at, now
from tests.support.stripe_mock import STRIPE_MOCK_KEY, Wire

CUSTOMERS = "/v1/customers/"


def customer_posts(account) -> list[tuple[str, dict[str, object]]]:
    return [(r.path, r.params) for r in account.fake.received if r.path.startswith(CUSTOMERS)]


def sync(account, roster: Path):
    return run_sync(SyncSettings(roster=roster, plans=DEFAULT_PLANS), account.client(), now("2026-11-26"))


def test_a_checkout_customer_gets_its_username_once(account, tmp_path: Path) -> None:
    roster = tmp_path / "prod.yaml"
    write_roster(roster, [])
    cus = account.world.add_customer(email="new@example.org", created=at("2026-11-01"))  # no metadata
    account.world.subscribe(cus, "reader_monthly", metadata={"username": "newreader"})

    first = sync(account, roster)

    assert [c.kind for c in first.report.changes] == ["added"] and not first.report.needs_attention
    assert account.world.customers[cus].metadata == {"username": "newreader"}
    assert customer_posts(account) == [(f"{CUSTOMERS}{cus}", {"metadata": {"username": "newreader"}})]
    account.fake.received.clear()
    sync(account, roster)
    assert customer_posts(account) == []


def test_a_customer_with_a_username_is_not_written(account, tmp_path: Path) -> None:
    roster = tmp_path / "prod.yaml"
    write_roster(roster, [])
    cus = account.world.add_customer(username="has-one", email="a@example.org", created=at("2026-11-01"))
    account.world.subscribe(cus, "reader_monthly")
    sync(account, roster)
    assert customer_posts(account) == []


def test_a_refused_copy_is_a_warning_naming_the_customer(account) -> None:
    change = Change("added", "s0000000000001", "newreader", "cus_Missing", "plan reader, active")
    snapshot = Snapshot(customers={"cus_Missing": StripeCustomer("cus_Missing")})
    (notice,) = copy_usernames([change], snapshot, account.client())
    assert (notice.kind, notice.customer, notice.tenant_id) == ("warning", "cus_Missing", "s0000000000001")
    assert notice.message == "could not copy username 'newreader' onto the customer: InvalidRequestError (HTTP 404)"


def test_the_update_is_a_request_stripe_accepts(stripe_mock, monkeypatch) -> None:
    wire = Wire().install(monkeypatch)
    client: stripe.StripeClient = make_client(
        STRIPE_MOCK_KEY, api_base=stripe_mock.url, retries=FAST_RETRIES, timeout=10.0
    )
    change = Change("added", "s0000000000001", "newreader", "cus_StripeMockFixture", "plan reader, active")
    snapshot = Snapshot(customers={"cus_StripeMockFixture": StripeCustomer("cus_StripeMockFixture")})
    assert copy_usernames([change], snapshot, client) == []
    (sent,) = wire.sent
    assert (sent.method, sent.path, sent.status) == ("POST", "/v1/customers/cus_StripeMockFixture", 200), sent.error()
