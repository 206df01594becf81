"""Webhook request handling as a function: signature checks, event filter, replay, failures.

Events are acknowledged at once and coalesce into runs (billing.coalesce); with no debounce window, a
test waits for the run it expects (`handler.runs.wait_runs`), never for a fixed time."""

from __future__ import annotations

import json
import threading
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


def handler_for(sync, **options) -> WebhookHandler:
    return WebhookHandler(SECRET, sync, debounce_s=0.0, **options)


def settled(handler: WebhookHandler, runs: int = 1) -> WebhookHandler:
    """The handler once `runs` runs have finished and nothing else is pending."""
    assert handler.runs.wait_runs(runs, 10) and handler.runs.wait_idle(10)
    return handler


@pytest.mark.parametrize(
    "event_type", ["customer.subscription.created", "customer.subscription.deleted", "customer.deleted",
                   "customer.updated", "customer.subscription.paused"],
)  # fmt: skip
def test_webhook_valid_signature_triggers_a_sync(sync, event_type):
    body = event(event_type=event_type)
    handler = handler_for(sync)
    response = handler.handle(body, signed(body))
    assert response.status == 200 and response.body["event"] == "evt_1"
    settled(handler)
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
    handler = handler_for(sync)
    response = handler.handle(body, headers_for(body))
    assert response.status == 400, reason
    assert handler.runs.wait_idle(10)
    assert "signature rejected" in response.body["error"]
    assert sync.calls == 0, reason


def test_webhook_header_name_is_case_insensitive(sync):
    body = event()
    headers = {"stripe-signature": signed(body)["Stripe-Signature"]}
    assert handler_for(sync).handle(body, headers).status == 200


def test_webhook_event_types_that_do_not_matter_are_acknowledged_and_ignored(sync):
    body = event(event_type="invoice.paid")
    handler = handler_for(sync)
    response = handler.handle(body, signed(body))
    assert handler.runs.wait_idle(10)
    assert (response.status, response.body["ignored"]) == (200, "invoice.paid")
    assert sync.calls == 0


def test_webhook_replayed_event_is_acknowledged_without_a_second_run(sync):
    handler = handler_for(sync)
    body = event()
    assert handler.handle(body, signed(body)).status == 200
    settled(handler)
    replay = handler.handle(body, signed(body))  # Stripe re-signs each delivery
    assert (replay.status, replay.body.get("duplicate")) == (200, True)
    settled(handler)
    assert sync.calls == 1


def test_webhook_failed_sync_is_acknowledged_and_run_again_after_a_pause(sync, capfd):
    """The answer no longer waits for the run, so Stripe cannot redeliver on a failure: the handler tries
    the run again itself, after `retry_s`, and the events stay counted until one succeeds."""
    failing = CountingSync(fail=True)
    handler = handler_for(failing, retry_s=0.05)
    body = event()
    assert handler.handle(body, signed(body)).status == 200
    assert handler.runs.wait_runs(1, 10)
    failing.fail = False
    settled(handler, runs=2)
    assert failing.calls == 2
    assert handler.handle(body, signed(body)).body.get("duplicate") is True  # counted once, run once
    assert "sync for 1 event(s) failed, will try again: reading Stripe failed" in capfd.readouterr().err


def test_webhook_events_during_a_run_make_one_more_run_not_one_each(sync):
    gate = threading.Event()
    started = threading.Event()

    def slow() -> RunSummary:
        started.set()
        gate.wait(10)
        return sync()  # type: ignore[no-any-return]

    handler = handler_for(slow)
    first = event("evt_first")
    assert handler.handle(first, signed(first)).status == 200
    assert started.wait(10)
    for n in range(10):
        body = event(f"evt_{n}")
        assert handler.handle(body, signed(body)).body["sync"] == "scheduled"
    gate.set()
    settled(handler, runs=2)
    assert sync.calls == 2


def test_webhook_signed_garbage_is_400(sync):
    body = b"not json"
    assert handler_for(sync).handle(body, signed(body)).status == 400
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
    first = handler_for(sync_now)
    assert first.handle(body, signed(body)).status == 200
    done = settled(first).last
    assert done is not None and len(done.report.changes) == 1 and done.written is True
    assert [t.plan for t in load_roster(roster) if t.stripe_customer == cus] == ["library"]
    before = roster.read_bytes()
    again = handler_for(sync_now)  # a new process: no memory of evt_1
    assert again.handle(body, signed(body)).status == 200
    done = settled(again).last
    assert done is not None and (len(done.report.changes), done.written) == (0, False)
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
    response = handler_for(sync).handle(body, signed(body))
    assert response.status == 400 and "not a Stripe event" in response.body["error"]
    assert sync.calls == 0
