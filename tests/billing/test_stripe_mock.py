"""The Stripe sync's requests against stripe-mock: Stripe's own OpenAPI schema judges what we send.

stripe-mock (github.com/stripe/stripe-mock v0.203.0, built by tools/gotools/build; the `stripe_mock`
fixture in tests/billing/conftest.py) checks each request against the schema of the API version it
embeds: the route exists, the key looks like a test key (else 401), every query parameter is known and
well-typed, enums hold (else 400, "Request validation error"). It is stateless and answers from fixtures
(one subscription, `has_more: false`), so these tests assert that our requests are accepted and that
our code parses the answers; business outcomes are tested against the fake in emulators/stripe.

What it does not check, so these tests check otherwise: `expand[]` values are not validated (an unknown
path is accepted and ignored), so `data.customer` is proven by the customer coming back expanded; `limit`
has no bounds in the schema (Stripe enforces 1-100 server-side; PAGE_SIZE is 100).

API version: our client pins PINNED_API_VERSION (2026-10-28.endive, stripe-python 16.1.0's own);
stripe-mock v0.203.0 embeds the OpenAPI spec of 2026-08-26.dahlia, the newest in the Go module proxy
here. Without `-strict-version-check` (off by default, and here) it ignores the `Stripe-Version` header,
so our requests are validated against the older spec; the parameters we send (status, limit, expand,
starting_after, customer on subscriptions; types, created, limit, starting_after on events; a customer
retrieve) exist in both. A test pins the gap, so a bump of either side shows up here.

Its one fixture event is a `plan.created`; the incremental run's tests rewrite it, on the wire, into the
subscription event it reads, so the code under test parses a real answer's shape.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
import stripe

from billing.cursor import Cursor, cursor_path, dump_cursor, fingerprint
from billing.report import RunSummary
from billing.snapshot import StripeCustomer
from billing.stripe_events import EVENT_TYPES, OVERLAP_S, EventMark, changes_since, newest_mark
from billing.stripe_source import (
    PAGE_SIZE,
    PINNED_API_VERSION,
    StripeUnavailable,
    _all_subscriptions,
    _customer_of,
    fetch_customers,
    fetch_snapshot,
    make_client,
)
from billing.sync import SyncSettings, run_sync
from billing.webhook import WebhookHandler
from tenants.plans import DEFAULT_PLANS
from tests.billing.support import FAST_RETRIES, now, write_hand_managed
from tests.support.gotools import require_tool
from tests.support.stripe_mock import STRIPE_MOCK_KEY, Sent, StripeMock, Wire, run_stripe_mock

STRIPE_MOCK_SPEC_VERSION = "2026-08-26.dahlia"  # embedded/openapi/spec3.json of stripe-mock v0.203.0
SUBS = "/v1/subscriptions"
EVENTS = "/v1/events"
MOCK_CUSTOMER = "cus_StripeMockEvents"
SECRET = "whsec_stripe_mock_fixture"


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> Wire:
    return Wire().install(monkeypatch)


def client_for(mock: StripeMock, key: str = STRIPE_MOCK_KEY) -> stripe.StripeClient:
    return make_client(key, api_base=mock.url, retries=FAST_RETRIES, timeout=10.0)


def accepted(wire: Wire) -> None:
    refused = [(s.method, s.path, s.status, s.error()) for s in wire.sent if s.status != 200]
    assert wire.sent and not refused, refused


def test_stripe_mock_listens_on_loopback_only(stripe_mock):
    listening = [line for line in stripe_mock.output().splitlines() if line.startswith("Listening for")]
    assert listening == [
        f"Listening for HTTP at address: {stripe_mock.url.removeprefix('http://')}",
        f"Listening for HTTPS at address: {stripe_mock.https_addr}",
    ]
    assert stripe_mock.https_addr.startswith("127.0.0.1:")


def test_subscription_listing_is_valid_for_stripes_schema_and_parses(stripe_mock, wire):
    snapshot = fetch_snapshot(client_for(stripe_mock))
    accepted(wire)
    (listing,) = wire.sent  # customers came expanded: no retrieve
    assert listing.method == "GET" and listing.path == SUBS
    assert listing.query == {"status": ["all"], "limit": [str(PAGE_SIZE)], "expand[0]": ["data.customer"]}
    (sub,) = snapshot.subscriptions
    assert sub.id.startswith("sub_") and sub.customer.startswith("cus_") and sub.status
    assert isinstance(sub.created, int) and isinstance(sub.lookup_keys, tuple)
    assert snapshot.customers[sub.customer].id == sub.customer


def test_the_expansion_path_is_one_stripe_expands(stripe_mock, wire):
    """stripe-mock accepts any expand value, so the proof is the shape: an object, not an id."""
    client = client_for(stripe_mock)
    (sub,) = _all_subscriptions(client, FAST_RETRIES, PAGE_SIZE, lambda _: None)
    assert isinstance(sub.customer, stripe.Customer) and sub.customer.id.startswith("cus_")
    (bare,) = client.v1.subscriptions.list(params={"status": "all", "limit": PAGE_SIZE}).data
    assert isinstance(bare.customer, str)
    accepted(wire)


def test_next_page_request_with_starting_after_is_valid(stripe_mock, wire):
    """stripe-mock never has a second page; claiming one on the first answer makes stripe-python ask."""

    def first_page_has_more(sent: Sent) -> bytes:
        if sent.path == SUBS and len(wire.to(SUBS)) == 1:
            return json.dumps({**json.loads(sent.body), "has_more": True}).encode()
        return sent.body

    wire.rewrite_body = first_page_has_more
    snapshot = fetch_snapshot(client_for(stripe_mock))
    accepted(wire)
    first, second = wire.to(SUBS)
    assert "starting_after" not in first.query
    assert second.query["starting_after"] == [snapshot.subscriptions[0].id]
    assert {k: v for k, v in second.query.items() if k != "starting_after"} == first.query


def test_customer_retrieve_is_valid_and_parses(stripe_mock, wire):
    """The path taken when a subscription names its customer by id only."""
    customer = _customer_of(client_for(stripe_mock), "cus_StripeMockFixture", {})
    accepted(wire)
    assert [(s.method, s.path) for s in wire.sent] == [("GET", "/v1/customers/cus_StripeMockFixture")]
    assert isinstance(customer, StripeCustomer) and customer.id.startswith("cus_")
    assert isinstance(customer.created, int) and not customer.deleted


@pytest.mark.parametrize(
    ("rewrite", "refusal"),
    [
        (lambda url: url.replace("status=all", "status=everything"), "value is not in enumeration"),
        (lambda url: url + "&include_customer=true", "additional properties are not allowed"),
        (lambda url: url.replace(f"limit={PAGE_SIZE}", "limit=many"), "Request validation error"),
    ],
    ids=["bad-status-value", "unknown-param", "limit-not-an-integer"],
)
def test_stripe_mock_refuses_a_wrong_request_through_the_same_code(
    stripe_mock, wire, rewrite: Callable[[str], str], refusal: str
):
    """The peer validates: the sync's own listing, one parameter spoiled on the wire, is a 400 we report."""
    wire.rewrite_url = rewrite
    with pytest.raises(StripeUnavailable) as caught:
        fetch_snapshot(client_for(stripe_mock))
    (sent,) = wire.sent  # a 400 is not retried
    assert sent.status == 400 and refusal in sent.error(), sent.error()
    assert "InvalidRequestError (HTTP 400" in str(caught.value) and "Request validation error" in str(caught.value)


def test_stripe_mock_refuses_a_key_that_is_not_a_test_key(stripe_mock, wire):
    with pytest.raises(StripeUnavailable, match=r"refused the API key \(HTTP 401\)"):
        fetch_snapshot(client_for(stripe_mock, key="not-a-stripe-key"))
    assert [s.status for s in wire.sent] == [401]


def test_webhook_path_reads_stripe_with_valid_requests(stripe_mock, wire, tmp_path):
    """A signed event runs the real sync (dry run) against the peer; every request it made was accepted."""
    roster = tmp_path / "roster.yaml"
    before = write_hand_managed(roster)
    settings = SyncSettings(roster=roster, plans=DEFAULT_PLANS, dry_run=True)

    def sync_now() -> RunSummary:
        return run_sync(settings, client_for(stripe_mock), now("2026-11-26"))

    body = json.dumps({"id": "evt_mock1", "type": "customer.subscription.updated", "data": {"object": {}}}).encode()
    header = stripe.WebhookSignature.generate_signature_header(body.decode(), SECRET)
    handler = WebhookHandler(SECRET, sync_now, debounce_s=0.0)
    response = handler.handle(body, {"Stripe-Signature": header})
    assert response.status == 200, response.body
    assert handler.runs.wait_runs(1, 20) and handler.last is not None  # acknowledged at once; the run follows
    assert response.body["event"] == "evt_mock1" and handler.last.written is False
    accepted(wire)
    assert [s.path for s in wire.sent] == [SUBS]
    assert roster.read_text(encoding="utf-8") == before


def as_subscription_event(sent: Sent) -> bytes:
    """stripe-mock's fixture event (a plan.created), as the subscription event an incremental run reads."""
    if sent.path != EVENTS:
        return sent.body
    page = json.loads(sent.body)
    for event in page["data"]:
        event["type"] = "customer.subscription.updated"
        event["data"]["object"] = {"id": "sub_StripeMockEvents", "object": "subscription", "customer": MOCK_CUSTOMER}
    return json.dumps(page).encode()


def events_query(mark: EventMark) -> dict[str, list[str]]:
    query = {f"types[{n}]": [t] for n, t in enumerate(EVENT_TYPES)} | {"limit": [str(PAGE_SIZE)]}
    return query | ({"created[gte]": [str(mark.created - OVERLAP_S)]} if mark.created is not None else {})


def test_the_events_since_a_mark_are_listed_with_valid_requests_and_parse(stripe_mock, wire):
    wire.rewrite_body = as_subscription_event
    mark = EventMark(1_700_000_000, ("evt_read_before",))
    changes = changes_since(mark, client_for(stripe_mock), budget=5, retries=FAST_RETRIES)
    accepted(wire)
    (listing,) = wire.sent
    assert (listing.method, listing.path, listing.query) == ("GET", EVENTS, events_query(mark))
    assert changes.customers == {MOCK_CUSTOMER} and changes.events == 1 and changes.mark.created == 1234567890


def test_the_next_events_page_with_starting_after_is_valid(stripe_mock, wire):
    def first_page_has_more(sent: Sent) -> bytes:
        body = as_subscription_event(sent)
        if sent.path == EVENTS and len(wire.to(EVENTS)) == 1:
            return json.dumps({**json.loads(body), "has_more": True}).encode()
        return body

    wire.rewrite_body = first_page_has_more
    changes_since(EventMark(), client_for(stripe_mock), budget=5, retries=FAST_RETRIES)
    accepted(wire)
    first, second = wire.to(EVENTS)
    assert "starting_after" not in first.query and "created[gte]" not in first.query
    assert second.query["starting_after"] == ["evt_1Pgc76B7WZ01zgkWwyRHS12y"]  # stripe-mock's fixture event id


def test_the_mark_of_a_full_run_is_read_with_a_valid_request(stripe_mock, wire):
    mark = newest_mark(client_for(stripe_mock), retries=FAST_RETRIES)
    accepted(wire)
    (listing,) = wire.sent
    assert listing.path == EVENTS and listing.query == events_query(EventMark())
    assert mark.created == 1234567890 and len(mark.seen) == 1


def test_a_customers_subscriptions_are_listed_with_valid_requests_and_parse(stripe_mock, wire):
    snapshot = fetch_customers(client_for(stripe_mock), ["cus_StripeMockA", "cus_StripeMockB"], retries=FAST_RETRIES)
    accepted(wire)
    assert sorted(s.query["customer"][0] for s in wire.to(SUBS)) == ["cus_StripeMockA", "cus_StripeMockB"]
    for sent in wire.to(SUBS):
        assert {k: v for k, v in sent.query.items() if k != "customer"} == {
            "status": ["all"], "limit": [str(PAGE_SIZE)], "expand[0]": ["data.customer"],
        }  # fmt: skip
    assert len(snapshot.subscriptions) == 2 and all(s.id.startswith("sub_") for s in snapshot.subscriptions)


def test_an_incremental_webhook_run_makes_only_valid_requests(stripe_mock, wire, tmp_path):
    """A signed event runs the real incremental sync (dry run) against the peer: the events since the
    cursor, then the one customer they name; every request accepted, nothing written."""
    roster = tmp_path / "roster.yaml"
    before = write_hand_managed(roster)
    at = now("2026-11-26")
    cursor = Cursor(EventMark(1_700_000_000, ()), at, fingerprint({roster: before}))
    cursor_path(roster).write_text(dump_cursor(cursor))
    settings = SyncSettings(
        roster=roster, plans=DEFAULT_PLANS, dry_run=True, cursor=cursor_path(roster), incremental=True
    )
    wire.rewrite_body = as_subscription_event

    def sync_now() -> RunSummary:
        return run_sync(settings, client_for(stripe_mock), at)

    body = json.dumps({"id": "evt_mock2", "type": "customer.subscription.updated", "data": {"object": {}}}).encode()
    handler = WebhookHandler(SECRET, sync_now, debounce_s=0.0)
    assert (
        handler.handle(
            body, {"Stripe-Signature": stripe.WebhookSignature.generate_signature_header(body.decode(), SECRET)}
        ).status
        == 200
    )
    assert handler.runs.wait_runs(1, 20) and handler.last is not None
    assert handler.last.read.mode == "incremental" and handler.last.read.customers == 1
    accepted(wire)
    assert [(s.path, s.query.get("customer")) for s in wire.sent] == [(EVENTS, None), (SUBS, [MOCK_CUSTOMER])]
    assert roster.read_text(encoding="utf-8") == before


def test_pinned_api_version_against_stripe_mocks_spec():
    """With -strict-version-check stripe-mock compares Stripe-Version to its spec: the documented gap."""
    with run_stripe_mock(require_tool("stripe-mock"), "-strict-version-check") as strict:
        try:
            client_for(strict).v1.customers.retrieve("cus_version")
            outcome = "accepted"
        except stripe.InvalidRequestError as exc:
            outcome = exc.user_message or str(exc)
    if STRIPE_MOCK_SPEC_VERSION == PINNED_API_VERSION:
        assert outcome == "accepted"
    else:
        assert f"'{PINNED_API_VERSION}'" in outcome and f"'{STRIPE_MOCK_SPEC_VERSION}'" in outcome, outcome
