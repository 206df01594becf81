"""The signup's Stripe requests judged by stripe-mock (Stripe's OpenAPI schema; tests/billing/test_stripe_mock.py)."""

from __future__ import annotations

import pytest

from billing.stripe_source import make_client
from signup.availability import CheckoutHolds
from signup.checkout import PlanPrice, PriceBook, session_params
from signup.settings import default_plans
from tests.billing.support import FAST_RETRIES
from tests.support.stripe_mock import STRIPE_MOCK_KEY, Wire


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> Wire:
    return Wire().install(monkeypatch)


def accepted(wire: Wire) -> None:
    refused = [(s.method, s.path, s.status, s.error()) for s in wire.sent if s.status != 200]
    assert wire.sent and not refused, refused


def client(stripe_mock):
    return make_client(STRIPE_MOCK_KEY, api_base=stripe_mock.url, retries=FAST_RETRIES, timeout=10.0)


def test_the_prices_listing_is_valid_and_parses(stripe_mock, wire):
    book = PriceBook(client(stripe_mock), default_plans())
    book.prices()  # stripe-mock's fixture price has no matching lookup key: nothing sold, nothing broken
    accepted(wire)
    (sent,) = wire.to("/v1/prices")
    assert sent.query == {
        "lookup_keys[0]": ["free_monthly"], "lookup_keys[1]": ["reader_monthly"],
        "lookup_keys[2]": ["library_monthly"], "active": ["true"], "limit": ["100"],
    }  # fmt: skip


@pytest.mark.parametrize("amount", [400, 0], ids=["paid", "free"])
def test_the_checkout_session_request_is_valid(stripe_mock, wire, amount):
    price = PlanPrice("reader", "reader_monthly", "price_1Mock", amount, "eur", "month")
    params = session_params(
        site_url="https://www.books.example.com", username="new-reader", email="r@example.org", price=price
    )
    session = client(stripe_mock).v1.checkout.sessions.create(params=params)
    accepted(wire)
    assert session.id.startswith("cs_") and session.object == "checkout.session"
    (sent,) = wire.to("/v1/checkout/sessions")
    assert sent.method == "POST"


def test_the_open_and_recent_checkout_listings_and_retrieve_are_valid(stripe_mock, wire):
    stripe_client = client(stripe_mock)
    CheckoutHolds(stripe_client, ttl_s=0).held()
    stripe_client.v1.checkout.sessions.retrieve("cs_test_mock")
    accepted(wire)
    lists = [s.query for s in wire.to("/v1/checkout/sessions")]
    assert lists[0] == {"status": ["open"], "limit": ["100"]}
    assert lists[1]["status"] == ["complete"] and lists[1]["created[gte]"][0].isdigit()


def test_stripe_mock_refuses_a_parameter_checkout_does_not_have(stripe_mock, wire):
    price = PlanPrice("reader", "reader_monthly", "price_1Mock", 400, "eur", "month")
    params = session_params(site_url="https://www.x.example", username="u-1", email="r@example.org", price=price)
    with pytest.raises(Exception, match="Request validation error|unknown|additional"):
        client(stripe_mock).v1.checkout.sessions.create(params={**params, "username": "u-1"})
