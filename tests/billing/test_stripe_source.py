"""Reading Stripe with stripe-python's own client against the fake API over real HTTP."""

from __future__ import annotations

import pytest

from billing.snapshot import StripeCustomer
from billing.stripe_source import (
    PINNED_API_VERSION,
    RetryPolicy,
    StripeUnavailable,
    _customer_of,
    fetch_snapshot,
    make_client,
)
from emulators.faults import Fault
from tests.billing.support import API_KEY, FAST_RETRIES, at

SUBS = "/v1/subscriptions"


def populate(world, count: int) -> None:
    for n in range(count):
        cus = world.add_customer(username=f"user{n:04d}", email=f"u{n}@example.com", created=at("2026-01-01") + n)
        world.subscribe(cus, "reader_monthly")


def list_requests(account):
    return [r for r in account.fake.faults.log if r.path == SUBS]


def test_fetch_pages_through_every_subscription_with_status_all_and_customer_expanded(account):
    populate(account.world, 250)
    snapshot = fetch_snapshot(account.client(), page_size=100)
    assert len(snapshot.subscriptions) == 250
    assert len({s.id for s in snapshot.subscriptions}) == 250
    assert snapshot.customers[snapshot.subscriptions[0].customer].username is not None
    pages = list_requests(account)
    assert len(pages) == 3
    assert all(p.query["status"] == ["all"] and p.query["expand[0]"] == ["data.customer"] for p in pages)
    assert "starting_after" not in pages[0].query
    assert pages[2].query["starting_after"] == [snapshot.subscriptions[199].id]
    assert account.requests == 3  # the customers came expanded: no retrieve per customer


def test_fetch_includes_canceled_subscriptions(account):
    cus = account.world.add_customer(username="gone", email="g@example.com")
    account.world.cancel(account.world.subscribe(cus, "reader_monthly"), at=at("2026-05-01"))
    snapshot = fetch_snapshot(account.client())
    assert [(s.status, s.ended_at) for s in snapshot.subscriptions] == [("canceled", at("2026-05-01"))]


def test_fetch_retries_a_500_then_succeeds(account):
    populate(account.world, 3)
    account.fake.faults.add(Fault(path=SUBS, status=500, times=1))
    snapshot = fetch_snapshot(account.client())
    assert len(snapshot.subscriptions) == 3
    assert [r.status for r in list_requests(account)] == [500, 200]


def test_fetch_gives_up_after_network_retries(account):
    account.fake.faults.add(Fault(path=SUBS, status=503, times=10))
    with pytest.raises(StripeUnavailable, match=r"APIError \(HTTP 503"):
        fetch_snapshot(account.client())
    assert len(list_requests(account)) == 1 + FAST_RETRIES.network_retries


def test_fetch_backs_off_on_429_and_resumes_after_the_last_page(account):
    populate(account.world, 5)
    account.fake.faults.add(Fault(path=SUBS, status=429, times=2, skip=1))
    delays: list[float] = []
    snapshot = fetch_snapshot(account.client(), retries=FAST_RETRIES, page_size=2, sleep=delays.append)
    assert len({s.id for s in snapshot.subscriptions}) == len(snapshot.subscriptions) == 5
    statuses = [(r.status, r.query.get("starting_after")) for r in list_requests(account)]
    second = [snapshot.subscriptions[1].id]
    assert statuses == [(200, None), (429, second), (429, second), (200, second), (200, [snapshot.subscriptions[3].id])]
    assert delays == [FAST_RETRIES.rate_limit_delay, FAST_RETRIES.rate_limit_delay * 2]


def test_fetch_fails_when_429_persists(account):
    account.fake.faults.add(Fault(path=SUBS, status=429, times=50))
    with pytest.raises(StripeUnavailable, match="RateLimitError"):
        fetch_snapshot(account.client(), retries=FAST_RETRIES, sleep=lambda _: None)
    # The SDK does not retry a 429 itself; each attempt is ours.
    assert len(list_requests(account)) == 1 + FAST_RETRIES.rate_limit_retries


def test_fetch_with_bad_key_fails_without_showing_it(account):
    client = make_client("sk_test_WRONGwrongWRONGwrong9999", api_base=account.url, retries=FAST_RETRIES)
    with pytest.raises(StripeUnavailable) as info:
        fetch_snapshot(client)
    assert "401" in str(info.value)
    assert "WRONG" not in str(info.value) and "9999" not in str(info.value)


def test_client_pins_the_api_version(account):
    account.world.api_version = "2020-08-27"
    with pytest.raises(StripeUnavailable, match="Invalid Stripe API version: " + PINNED_API_VERSION):
        fetch_snapshot(account.client())


def test_fetch_retries_a_slow_response_that_times_out(account):
    populate(account.world, 1)
    account.fake.faults.add(Fault(path=SUBS, status=None, delay=0.5, times=1))
    snapshot = fetch_snapshot(account.client(timeout=0.2))
    assert len(snapshot.subscriptions) == 1


def test_fetch_from_an_unreachable_stripe_fails_after_retries(closed_port):
    client = make_client(API_KEY, api_base=f"http://127.0.0.1:{closed_port}", retries=RetryPolicy(network_retries=1))
    with pytest.raises(StripeUnavailable, match="APIConnectionError"):
        fetch_snapshot(client)


def test_customer_given_as_an_id_is_retrieved_once(account):
    cus = account.world.add_customer(username="idonly", email="i@example.com")
    seen: dict[str, StripeCustomer] = {}
    found = _customer_of(account.client(), cus, seen)
    assert (found.id, found.username, found.email) == (cus, "idonly", "i@example.com")
    account.world.delete_customer(cus, at=at("2026-06-01"))
    assert _customer_of(account.client(), cus, {}).deleted is True
    assert [r.path for r in account.fake.faults.log] == [f"/v1/customers/{cus}"] * 2
