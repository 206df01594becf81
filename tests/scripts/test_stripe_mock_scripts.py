"""The Stripe scripts end to end against stripe-mock, Stripe's own schema-validating API mock.

`python -m scripts.stripe_sync --api-base` and the webhook server (`scripts.stripe_webhook`) read Stripe
from stripe-mock on 127.0.0.1 (tests/support/stripe_mock.py; see tests/billing/test_stripe_mock.py for
what it validates and the API-version gap). stripe-mock is stateless, so the assertions are that every
request was accepted and the scripts completed, never what the roster became; both run as dry runs or
on a throwaway roster.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests
import stripe

from billing.report import RunSummary
from billing.stripe_source import make_client
from billing.sync import SyncSettings, run_sync
from billing.webhook import WebhookHandler
from scripts.cli import EXIT_ATTENTION, EXIT_OK
from scripts.stripe_sync import main
from scripts.stripe_webhook import make_server
from tenants.plans import DEFAULT_PLANS
from tests.billing.support import FAST_RETRIES, now, write_hand_managed
from tests.support.gotools import require_tool
from tests.support.public_http import running
from tests.support.stripe_mock import STRIPE_MOCK_KEY, StripeMock, Wire, run_stripe_mock

SECRET = "whsec_stripe_mock_http"


@pytest.fixture(scope="module")
def stripe_mock() -> Iterator[StripeMock]:
    with run_stripe_mock(require_tool("stripe-mock")) as mock:
        yield mock


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> Wire:
    return Wire().install(monkeypatch)


def test_stripe_sync_cli_reads_stripe_mock(stripe_mock, wire, tmp_path, monkeypatch, capsys):
    roster = tmp_path / "roster.yaml"
    before = write_hand_managed(roster)
    monkeypatch.setenv("STRIPE_API_KEY", STRIPE_MOCK_KEY)
    argv = ["--roster", str(roster), "--api-base", stripe_mock.url, "--dry-run", "--json", "--now", "2026-11-26"]
    code = main(argv)
    out, err = capsys.readouterr()
    assert code in (EXIT_OK, EXIT_ATTENTION), err
    assert isinstance(json.loads(out), dict)
    assert [(s.path, s.status) for s in wire.sent] == [("/v1/subscriptions", 200)]
    assert roster.read_text(encoding="utf-8") == before


def test_webhook_server_syncs_from_stripe_mock(stripe_mock, wire, tmp_path):
    roster = tmp_path / "roster.yaml"
    write_hand_managed(roster)
    settings = SyncSettings(roster=roster, plans=DEFAULT_PLANS)

    def sync() -> RunSummary:
        client = make_client(STRIPE_MOCK_KEY, api_base=stripe_mock.url, retries=FAST_RETRIES, timeout=10.0)
        return run_sync(settings, client, now("2026-11-26"))

    handler = WebhookHandler(SECRET, sync, debounce_s=0.0)
    with running(make_server(handler)) as server:
        body = json.dumps({"id": "evt_mock_http", "type": "customer.subscription.created", "data": {}}).encode()
        signature = stripe.WebhookSignature.generate_signature_header(body.decode(), SECRET)
        response = requests.post(
            f"http://127.0.0.1:{server.port}/webhook",
            data=body,
            headers={"Content-Type": "application/json", "Stripe-Signature": signature},
            timeout=10,
        )
        assert handler.runs.wait_runs(1, 20)  # acknowledged at once; the run follows
    handler.close()
    assert response.status_code == 200, response.text
    assert response.json()["event"] == "evt_mock_http"
    assert [(s.path, s.status) for s in wire.sent] == [("/v1/subscriptions", 200)]
