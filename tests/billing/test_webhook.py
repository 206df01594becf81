"""Webhook request handling as a function: signature checks, event filter, replay, failures."""

from __future__ import annotations

import json
import time

import pytest
import stripe

from billing.report import Report, RunSummary
from billing.sync import SyncError, SyncSettings, run_sync
from billing.webhook import WebhookHandler
from tenants.plans import DEFAULT_PLANS
from tenants.roster import load_roster
from tests.billing.support import now, write_hand_managed

SECRET = "whsec_test_fixture_secret"


def event(event_id: str = "evt_1", event_type: str = "customer.subscription.updated") -> bytes:
    body = {"id": event_id, "object": "event", "type": event_type, "created": 1_764_000_000,
            "data": {"object": {"id": "sub_1", "object": "subscription", "status": "active"}}}  # fmt: skip
    return json.dumps(body).encode()


def signed(body: bytes, *, secret: str = SECRET, timestamp: int | None = None) -> dict[str, str]:
    header = stripe.WebhookSignature.generate_signature_header(body.decode(), secret, timestamp=timestamp)
    return {"Stripe-Signature": header}


class CountingSync:
    def __init__(self, fail: bool = False) -> None:
        self.calls = 0
        self.fail = fail

    def __call__(self) -> RunSummary:
        self.calls += 1
        if self.fail:
            raise SyncError("reading Stripe failed after retries: APIConnectionError")
        return RunSummary(Report(), "roster.yaml", "2026-11-26T00:00:00+00:00", False, False)


@pytest.fixture
def sync() -> CountingSync:
    return CountingSync()


@pytest.mark.parametrize(
    "event_type", ["customer.subscription.created", "customer.subscription.deleted", "customer.deleted",
                   "customer.updated", "customer.subscription.paused"],
)  # fmt: skip
def test_webhook_valid_signature_triggers_a_sync(sync, event_type):
    body = event(event_type=event_type)
    response = WebhookHandler(SECRET, sync).handle(body, signed(body))
    assert response.status == 200 and response.body["event"] == "evt_1"
    assert sync.calls == 1


@pytest.mark.parametrize(
    ("headers_for", "reason"),
    [
        (lambda body: signed(body.replace(b'"active"', b'"canceled"')), "tampered body"),
        (lambda body: signed(body, secret="whsec_someone_else"), "wrong secret"),
        (lambda body: signed(body, timestamp=int(time.time()) - 301), "stale timestamp"),
        (lambda body: {}, "no header"),
        (lambda body: {"Stripe-Signature": "garbage"}, "unparsable header"),
    ],
)
def test_webhook_bad_signature_is_400_and_does_nothing(sync, headers_for, reason):
    body = event()
    response = WebhookHandler(SECRET, sync).handle(body, headers_for(body))
    assert response.status == 400, reason
    assert "signature rejected" in response.body["error"]
    assert sync.calls == 0, reason


def test_webhook_header_name_is_case_insensitive(sync):
    body = event()
    headers = {"stripe-signature": signed(body)["Stripe-Signature"]}
    assert WebhookHandler(SECRET, sync).handle(body, headers).status == 200


def test_webhook_event_types_that_do_not_matter_are_acknowledged_and_ignored(sync):
    body = event(event_type="invoice.paid")
    response = WebhookHandler(SECRET, sync).handle(body, signed(body))
    assert (response.status, response.body["ignored"]) == (200, "invoice.paid")
    assert sync.calls == 0


def test_webhook_replayed_event_is_acknowledged_without_a_second_run(sync):
    handler = WebhookHandler(SECRET, sync)
    body = event()
    assert handler.handle(body, signed(body)).status == 200
    replay = handler.handle(body, signed(body))  # Stripe re-signs each delivery
    assert (replay.status, replay.body.get("duplicate")) == (200, True)
    assert sync.calls == 1


def test_webhook_failed_sync_answers_503_so_stripe_retries(sync):
    failing = CountingSync(fail=True)
    handler = WebhookHandler(SECRET, failing)
    body = event()
    assert handler.handle(body, signed(body)).status == 503
    failing.fail = False
    assert handler.handle(body, signed(body)).status == 200  # the retry is not taken for a duplicate
    assert failing.calls == 2


def test_webhook_signed_garbage_is_400(sync):
    body = b"not json"
    assert WebhookHandler(SECRET, sync).handle(body, signed(body)).status == 400
    assert sync.calls == 0


def test_webhook_reads_stripe_fresh_and_replays_leave_the_roster_identical(account, tmp_path):
    """The payload says nothing about state; the run reads Stripe, so a replay after a restart is a no-op."""
    cus = account.world.add_customer(username="alice", email="alice@example.com")
    account.world.subscribe(cus, "library_monthly")
    roster = tmp_path / "roster.yaml"
    write_hand_managed(roster)
    settings = SyncSettings(roster=roster, plans=DEFAULT_PLANS)

    def sync_now() -> RunSummary:
        return run_sync(settings, account.client(), now("2026-11-26"))

    body = event(event_type="customer.subscription.created")
    first = WebhookHandler(SECRET, sync_now).handle(body, signed(body))
    assert first.body["changes"] == 1 and first.body["written"] is True
    assert [t.plan for t in load_roster(roster) if t.stripe_customer == cus] == ["library"]
    before = roster.read_bytes()
    again = WebhookHandler(SECRET, sync_now).handle(body, signed(body))  # a new process: no memory of evt_1
    assert (again.status, again.body["changes"], again.body["written"]) == (200, 0, False)
    assert roster.read_bytes() == before


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,  # recursion
        b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
        b'["evt_1", "customer.updated"]',
        b'"customer.updated"',
        b"null",
        b'{"id": 1, "type": "customer.updated"}',
        b'{"id": "evt_1", "type": ["customer.updated"]}',
        b'{"id": {"x": 1}, "type": "customer.updated"}',
        b'{"id": "", "type": "customer.updated"}',
        b'{"id": "evt_1", "type": null}',
        b'{"id": "evt_1", "type": "customer.updated", "n": 1' + b"0" * 5000 + b"}",  # over int()'s digit limit
    ],
    ids=["nested-array", "nested-object", "list", "string", "null", "id-int", "type-list", "id-object", "id-empty",
         "type-null", "huge-int"],
)  # fmt: skip
def test_webhook_signed_body_that_is_not_a_stripe_event_is_400(sync, body):
    """A valid signature says nothing of the shape; a str() of a list must not pass as an event type."""
    response = WebhookHandler(SECRET, sync).handle(body, signed(body))
    assert response.status == 400 and "not a Stripe event" in response.body["error"]
    assert sync.calls == 0
