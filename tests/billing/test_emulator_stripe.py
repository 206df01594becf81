"""The fake Stripe API answers like Stripe: shapes, filters, auth, errors (read with stripe-python)."""

from __future__ import annotations

import pytest
import requests
import stripe

from emulators.faults import Fault
from tests.billing.support import API_KEY, at


def test_emulator_subscription_has_the_current_api_shape(account):
    cus = account.world.add_customer(username="alice", email="a@example.com", metadata={"source": "checkout"})
    sub_id = account.world.subscribe(cus, "library_yearly")
    account.world.cancel(sub_id, at=at("2026-04-01"), requested_at=at("2026-03-01"))
    page = account.client().v1.subscriptions.list(params={"status": "all", "expand": ["data.customer"]})
    sub = page.data[0]
    item = sub["items"].data[0]
    assert (sub.status, sub.ended_at, sub.canceled_at) == ("canceled", at("2026-04-01"), at("2026-03-01"))
    assert (item.price.lookup_key, item.price.recurring.interval) == ("library_yearly", "year")
    assert item.current_period_end > item.current_period_start
    assert sub.customer.metadata["username"] == "alice" and sub.metadata["username"] == "alice"


def test_emulator_default_listing_leaves_out_canceled(account):
    cus = account.world.add_customer(username="bob")
    account.world.subscribe(cus, "reader_monthly")
    account.world.cancel(account.world.subscribe(cus, "reader_monthly"), at=at("2026-01-01"))
    client = account.client()
    assert len(client.v1.subscriptions.list().data) == 1
    assert len(client.v1.subscriptions.list(params={"status": "all"}).data) == 2


def test_emulator_deleted_customer_is_a_stub(account):
    cus = account.world.add_customer(username="carol")
    account.world.subscribe(cus, "reader_monthly")
    account.world.delete_customer(cus, at=at("2026-02-02"))
    client = account.client()
    gone = client.v1.customers.retrieve(cus)
    assert gone.deleted is True and not hasattr(gone, "metadata")
    sub = client.v1.subscriptions.list(params={"status": "all", "expand": ["data.customer"]}).data[0]
    assert (sub.status, sub.ended_at, sub.customer.deleted) == ("canceled", at("2026-02-02"), True)


def test_emulator_unknown_customer_is_resource_missing(account):
    with pytest.raises(stripe.InvalidRequestError) as info:
        account.client().v1.customers.retrieve("cus_nope")
    assert (info.value.http_status, info.value.code) == (404, "resource_missing")


def test_emulator_checks_the_key_and_counts_requests(account):
    response = requests.get(f"{account.url}/v1/subscriptions", headers={"Authorization": "Bearer sk_test_bad"})
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert account.requests == 1


def test_emulator_rejects_a_limit_over_100(account):
    with pytest.raises(stripe.InvalidRequestError, match="between 1 and 100"):
        account.client().v1.subscriptions.list(params={"limit": 101})


def test_emulator_429_carries_stripes_rate_limit_error(account):
    account.fake.faults.add(Fault(path="/v1/subscriptions", status=429))
    with pytest.raises(stripe.RateLimitError) as info:
        account.client().v1.subscriptions.list()
    assert info.value.http_status == 429
    body = info.value.json_body
    assert isinstance(body, dict) and body["error"]["code"] == "rate_limit"


def test_emulator_requires_bearer_of_the_configured_key(account):
    assert account.world.api_key == API_KEY
    ok = requests.get(
        f"{account.url}/v1/subscriptions",
        headers={"Authorization": f"Bearer {API_KEY}", "Stripe-Version": account.world.api_version},
    )
    assert ok.status_code == 200 and ok.json()["object"] == "list"
