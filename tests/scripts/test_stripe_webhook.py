"""`python -m scripts.stripe_webhook`: the server over real HTTP, and its start-up checks."""

from __future__ import annotations

import json

import pytest
import requests
import stripe

from billing.cursor import cursor_path
from billing.report import RunSummary
from billing.sync import SyncSettings, run_sync
from billing.webhook import WebhookHandler
from scripts.stripe_webhook import main, make_server
from tenants.plans import DEFAULT_PLANS
from tenants.roster import load_roster
from tests.billing.support import API_KEY, fake_account, now, write_hand_managed
from tests.support.public_http import exchange, running

SECRET = "whsec_http_fixture"


@pytest.fixture
def webhook_url(tmp_path):
    """The webhook server on 127.0.0.1, syncing tmp roster from a fake Stripe account."""
    roster = tmp_path / "roster.yaml"
    write_hand_managed(roster)
    with fake_account() as account:
        settings = SyncSettings(roster=roster, plans=DEFAULT_PLANS)

        def sync() -> RunSummary:
            return run_sync(settings, account.client(), now("2026-11-26"))

        handler = WebhookHandler(SECRET, sync, debounce_s=0.0)
        with running(make_server(handler)) as server:
            yield f"http://127.0.0.1:{server.port}/webhook", account, roster, handler
        handler.close()


def post(url, body: bytes, signature: str | None):
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["Stripe-Signature"] = signature
    return requests.post(url, data=body, headers=headers, timeout=5)


def test_webhook_server_verifies_then_syncs(webhook_url):
    url, account, roster, handler = webhook_url
    cus = account.world.add_customer(username="alice", email="alice@example.com")
    account.world.subscribe(cus, "reader_yearly")
    body = json.dumps({"id": "evt_http1", "type": "customer.subscription.created", "data": {"object": {}}}).encode()
    good = stripe.WebhookSignature.generate_signature_header(body.decode(), SECRET)

    tampered = post(url, body.replace(b"created", b"deleted"), good)
    assert tampered.status_code == 400
    assert [t for t in load_roster(roster) if t.stripe_customer] == []

    response = post(url, body, good)
    assert response.status_code == 200, response.text
    assert response.json()["sync"] == "scheduled"  # answered at once; the run follows
    assert handler.runs.wait_runs(1, 10) and handler.last is not None
    assert len(handler.last.report.changes) == 1
    assert [(t.username, t.plan) for t in load_roster(roster) if t.stripe_customer] == [("alice", "reader")]
    assert requests.get(url, timeout=5).status_code == 405


@pytest.mark.parametrize("length", ["-1", "many"])
def test_webhook_server_answers_400_to_a_bad_content_length(webhook_url, length):
    """A negative Content-Length made the handler read until the client hung up: no answer, a thread held.
    uvicorn's parser refuses it now, in its own words."""
    url, _, _, _ = webhook_url
    port = int(url.removeprefix("http://").split("/")[0].split(":")[1])
    answer = exchange(port, f"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n".encode())
    assert answer.startswith("HTTP/1.1 400 "), answer
    assert "Invalid HTTP request received." in answer


def test_webhook_main_needs_the_signing_secret(capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("STRIPE_WEBHOOK_SECRET", raising=False)
    monkeypatch.setenv("STRIPE_API_KEY", API_KEY)
    assert main(["--roster", str(tmp_path / "r.yaml"), "--port", "0"]) == 2
    assert "STRIPE_WEBHOOK_SECRET is not set" in capsys.readouterr().err


def test_webhook_main_needs_the_api_key(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", SECRET)
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)
    assert main(["--roster", str(tmp_path / "r.yaml"), "--port", "0"]) == 2
    assert "STRIPE_API_KEY is not set" in capsys.readouterr().err


def test_webhook_main_refuses_a_negative_grace_window(capsys, monkeypatch, tmp_path):
    """A negative grace would purge a tenant the day its subscription ends; stripe_sync refuses it too."""
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("STRIPE_API_KEY", API_KEY)

    def no_server(*_args, **_kwargs):
        raise AssertionError("the server must not start with a negative grace window")

    monkeypatch.setattr("scripts.stripe_webhook.make_server", no_server)
    assert main(["--roster", str(tmp_path / "r.yaml"), "--port", "0", "--grace-days", "-30"]) == 2
    assert "--grace-days: expected 0 or more" in capsys.readouterr().err


def test_webhook_main_refuses_one_shard_of_several(capsys, monkeypatch):
    """prod lists prod and prod-2: syncing prod's roster alone would ignore prod-2's names and capacity."""
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("STRIPE_API_KEY", API_KEY)
    assert main(["--stack", "prod", "--port", "0"]) == 2
    assert "stack prod is one of several shards (prod, prod-2)" in capsys.readouterr().err


def test_webhook_main_runs_incremental_syncs_from_a_cursor_beside_the_roster(monkeypatch, tmp_path):
    """The first burst has no cursor, so it lists everything and writes one; the next reads only the
    events since it."""
    roster = tmp_path / "roster.yaml"
    write_hand_managed(roster)
    runs: list[RunSummary] = []

    class Burst:
        """Stands in for the server: two signed events, each waited on until its run is done."""

        port = 0

        def __init__(self, handler: WebhookHandler) -> None:
            self.handler = handler

        def serve_forever(self) -> None:
            for n, username in enumerate(("alice", "bob"), start=1):
                cus = account.world.add_customer(username=username, email=f"{username}@example.com")
                account.world.subscribe(cus, "reader_monthly")
                body = json.dumps({"id": f"evt_main{n}", "type": "customer.subscription.created"}).encode()
                signature = stripe.WebhookSignature.generate_signature_header(body.decode(), SECRET)
                assert self.handler.handle(body, {"Stripe-Signature": signature}).status == 200
                assert self.handler.runs.wait_runs(n, 20) and self.handler.last is not None
                runs.append(self.handler.last)

    with fake_account() as account:
        monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", SECRET)
        monkeypatch.setenv("STRIPE_API_KEY", API_KEY)
        monkeypatch.setattr("scripts.stripe_webhook.make_server", lambda handler, *_a, **_k: Burst(handler))
        args = ["--roster", str(roster), "--port", "0", "--debounce", "0.01", "--api-base", account.url]
        assert main(args) == 0
    first, second = runs
    assert (first.read.mode, first.read.cursor_outcome) == ("full", "written")
    assert first.read.fallback.startswith(f"no cursor at {cursor_path(roster)}")
    assert (second.read.mode, second.read.customers, [c.username for c in second.report.changes]) == (
        "incremental", 1, ["bob"]
    )  # fmt: skip
