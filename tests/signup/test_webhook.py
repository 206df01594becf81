"""POST /stripe/webhook: verified, answered at once, and debounced into one workflow_dispatch."""

from __future__ import annotations

import json
import socket
import time

import pytest
import stripe
import yaml

from emulators.faults import Fault
from tenants.roster import REPO_ROOT
from tests.signup.conftest import GITHUB_TOKEN, WEBHOOK_SECRET, Site

DISPATCHES = "/repos/octo/hosted/actions/workflows/stripe-sync.yml/dispatches"


def event(event_id: str, event_type: str = "customer.subscription.created") -> bytes:
    return json.dumps({"id": event_id, "object": "event", "type": event_type, "data": {"object": {}}}).encode()


def deliver(site: Site, body: bytes, secret: str = WEBHOOK_SECRET):
    header = stripe.WebhookSignature.generate_signature_header(body.decode(), secret)
    return site.post("/stripe/webhook", data=body, headers={"Stripe-Signature": header})


def wait_for(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_bad_signature_is_400_and_schedules_nothing(site: Site):
    assert deliver(site, event("evt_1"), secret="whsec_someone_else").status_code == 400
    no_header = site.post("/stripe/webhook", data=event("evt_1"))
    assert no_header.status_code == 400
    assert site.app.dispatcher.pending == 0


def test_a_good_event_is_acknowledged_within_100_ms(site: Site):
    body = event("evt_fast")
    header = stripe.WebhookSignature.generate_signature_header(body.decode(), WEBHOOK_SECRET)
    deliver(site, event("evt_warm"))  # the first request pays for imports and connections
    started = time.perf_counter()
    response = site.post("/stripe/webhook", data=body, headers={"Stripe-Signature": header})
    elapsed = time.perf_counter() - started
    assert response.status_code == 200 and response.json()["sync"] == "scheduled"
    assert elapsed < 0.1, elapsed


def test_a_burst_of_events_makes_one_dispatch_after_the_debounce(site: Site):
    types = ["customer.created", "customer.subscription.created", "checkout.session.completed",
             "customer.updated", "customer.subscription.updated"]  # fmt: skip
    for n, event_type in enumerate(types):
        assert deliver(site, event(f"evt_b{n}", event_type)).status_code == 200
    assert site.github.world.dispatches == []  # still inside the window
    wait_for(lambda: len(site.github.world.dispatches) == 1)
    assert site.app.dispatcher.wait_idle(5)  # no window open or being sent: nothing else can come
    (dispatch,) = site.github.world.dispatches
    assert (dispatch.workflow, dispatch.ref, dispatch.inputs) == (
        "stripe-sync.yml",
        "main",
        {"reason": "webhook: 4 events", "mode": "incremental"},
    )


def test_a_replayed_event_joins_nothing(site: Site):
    for _ in range(3):
        assert deliver(site, event("evt_same")).status_code == 200
    wait_for(lambda: len(site.github.world.dispatches) == 1)
    assert site.github.world.dispatches[0].inputs == {"reason": "webhook: 1 event", "mode": "incremental"}


def test_the_dispatch_is_retried_after_a_502(site: Site, capfd):
    site.github.faults.add(Fault(path=DISPATCHES, method="POST", status=502))
    deliver(site, event("evt_r"))
    wait_for(lambda: len(site.github.world.dispatches) == 1)
    assert [r.status for r in site.github.faults.requests() if r.path == DISPATCHES] == [502, 204]
    logged = capfd.readouterr().err
    assert "dispatched stripe-sync.yml on main (webhook: 1 event): HTTP 204, attempt 2" in logged
    assert GITHUB_TOKEN not in logged


@pytest.mark.parametrize("event_type", ["invoice.paid", "charge.succeeded", "checkout.session.expired"])
def test_other_event_types_are_acknowledged_and_dispatch_nothing(site: Site, event_type):
    response = deliver(site, event("evt_x", event_type))
    assert response.status_code == 200 and response.json()["ignored"] == event_type
    assert site.app.dispatcher.wait_idle(5)  # a window this event opened would be sent by now
    assert site.github.world.dispatches == [] and site.app.dispatcher.pending == 0


def test_the_dispatch_is_one_the_workflow_file_accepts(site: Site):
    """GitHub refuses inputs the workflow does not declare (422): the site sends only stripe-sync.yml's."""
    workflow = yaml.safe_load((REPO_ROOT / ".github/workflows/stripe-sync.yml").read_text(encoding="utf-8"))
    declared = workflow[True]["workflow_dispatch"]["inputs"]  # PyYAML reads the key `on` as True
    site.github.world.declare_workflow("stripe-sync.yml", tuple(declared))
    deliver(site, event("evt_inputs"))
    assert site.app.dispatcher.wait_idle(10)
    (dispatch,) = site.github.world.dispatches
    assert dispatch.inputs["mode"] in declared["mode"]["options"] and site.app.dispatcher.failed == 0


def test_a_refused_dispatch_is_not_retried_and_is_logged_once(site: Site, capfd):
    site.github.world.declare_workflow("stripe-sync.yml", ("stack",))  # the workflow as it is declared today
    deliver(site, event("evt_decl"))
    wait_for(lambda: site.app.dispatcher.failed == 1)
    assert [r.status for r in site.github.faults.requests() if r.path == DISPATCHES] == [422]
    assert "dispatch of stripe-sync.yml failed (webhook: 1 event): HTTP 422" in capfd.readouterr().err


def status_of_raw(site: Site, head: str) -> int:
    port = int(site.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(head.encode("ascii"))
        answer = sock.recv(1024).decode("latin-1")
    return int(answer.split(" ", 2)[1])


def test_the_webhook_body_cap_is_the_webhook_servers_and_the_forms_is_16_kib(site: Site):
    assert status_of_raw(site, "POST /stripe/webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n") == 413
    assert status_of_raw(site, "POST /signup HTTP/1.1\r\nHost: x\r\nContent-Length: 16385\r\n\r\n") == 413
    assert status_of_raw(site, "POST /signup HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n") == 411
    big = json.dumps({"id": "evt_big", "type": "invoice.paid", "pad": "x" * 20_000}).encode()
    assert deliver(site, big).status_code == 200  # a real event may be bigger than a form
