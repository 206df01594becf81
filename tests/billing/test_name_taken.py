"""A subscription that lost its username to an earlier one: cancelled, refunded, its customer told.

The reconcile's side (who loses) is proven against the fake in test_reconcile; here billing.name_taken's
Stripe calls go to stripe-mock, whose OpenAPI schema judges them (the cancel, the invoice's payments,
the refund with its idempotency key), and its outcome is checked with a failing step.
"""

from __future__ import annotations

import stripe

from billing.name_taken import refund_payment, settle
from billing.report import LostClaim
from billing.stripe_source import make_client
from tests.billing.support import FAST_RETRIES
from tests.support.stripe_mock import STRIPE_MOCK_KEY, StripeMock, Wire

CLAIM = LostClaim("cus_Late", "sub_StripeMockFixture", "alice", "late@example.org", "s0000000000001")


def client_for(mock: StripeMock, key: str = STRIPE_MOCK_KEY) -> stripe.StripeClient:
    return make_client(key, api_base=mock.url, retries=FAST_RETRIES, timeout=10.0)


def test_the_loser_is_cancelled_refunded_and_told_with_requests_stripe_accepts(stripe_mock, monkeypatch) -> None:
    wire = Wire().install(monkeypatch)
    told: list[LostClaim] = []

    (done,) = settle([CLAIM], client_for(stripe_mock), told.append)

    refused = [(s.method, s.path, s.status, s.error()) for s in wire.sent if s.status != 200]
    assert wire.sent and not refused, refused
    paths = [(s.method, s.path) for s in wire.sent]
    # stripe-mock's invoice payment names no PaymentIntent, so nothing is refunded here; the refund's
    # own request is the next test's.
    assert paths == [
        ("DELETE", "/v1/subscriptions/sub_StripeMockFixture"),
        ("GET", "/v1/invoices"),
        ("GET", "/v1/invoice_payments"),
    ]
    assert done.problem is None and done.emailed and told == [CLAIM]


def test_a_payment_is_refunded_by_its_payment_intent_with_a_request_stripe_accepts(stripe_mock, monkeypatch) -> None:
    wire = Wire().install(monkeypatch)
    refund = refund_payment(
        client_for(stripe_mock), {"type": "payment_intent", "payment_intent": "pi_1"}, "sub_1-inpay_1"
    )
    (sent,) = wire.sent
    assert (sent.method, sent.path, sent.status) == ("POST", "/v1/refunds", 200), sent.error()
    assert refund is not None and refund.amount > 0
    assert refund_payment(client_for(stripe_mock), {"type": "payment_record"}, "sub_1-inpay_2") is None


def test_a_failed_cancel_touches_nothing_else_and_is_reported(stripe_mock, monkeypatch) -> None:
    wire = Wire().install(monkeypatch)
    told: list[LostClaim] = []

    (done,) = settle([CLAIM], client_for(stripe_mock, key="not-a-test-key"), told.append)

    assert [s.path for s in wire.sent] == ["/v1/subscriptions/sub_StripeMockFixture"]
    assert done.problem is not None and done.problem.startswith("cancelling sub_StripeMockFixture failed")
    assert told == [] and not done.emailed
