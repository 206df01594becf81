"""An answer from the Stripe address that is not Stripe's error JSON (HTML, empty, plain text, other JSON,
an echo of the request) is one line with exit 2 from the sync, and one log line from the webhook's run (the
webhook acknowledges at once and tries the run again later); never the key."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import stripe

from billing.report import RunSummary
from billing.stripe_source import make_client
from billing.sync import SyncSettings, run_sync
from billing.webhook import WebhookHandler
from scripts import stripe_sync
from tenants.plans import DEFAULT_PLANS
from tests.billing.support import API_KEY, now, write_hand_managed
from tests.support.servers import leaked

SECRET = "whsec_error_bodies"
BODIES = {
    "html 502": (502, "text/html", b"<html><body>Bad Gateway</body></html>"),
    "plain 500": (500, "text/plain", b"upstream exploded"),
    "empty 400": (400, "application/json", b""),
    "empty 500": (500, "application/json", b""),
    "json without error 400": (400, "application/json", b'{"message": "nope"}'),
    "error a string 402": (402, "application/json", b'{"error": "card declined"}'),
    "error message a number": (400, "application/json", b'{"error": {"message": 5}}'),
    "json list 500": (500, "application/json", b"[1, 2, 3]"),
    "garbage 200": (200, "application/json", b"garbage"),
    "list of numbers 200": (200, "application/json", b'{"object": "list", "data": [1, 2], "has_more": false}'),
    "json array 200": (200, "application/json", b"[1]"),
    "deep nesting 200": (200, "application/json", b"[" * 100_000 + b"]" * 100_000),
    "echo 500": (500, "text/plain", None),  # None: the request line and headers, Authorization included
    "echo 200": (200, "text/plain", None),
}


@pytest.fixture
def stripe_at() -> Iterator[Callable[[tuple[int, str, bytes | None]], str]]:
    """A 127.0.0.1 "Stripe" answering every call with one canned (status, type, body)."""
    answer: dict[str, tuple[int, str, bytes | None]] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, kind, body = answer["now"]
            if body is None:
                body = f"{self.requestline}\r\n{self.headers}".encode("latin-1")
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_GET

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()

    def at(case: tuple[int, str, bytes | None]) -> str:
        answer["now"] = case
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield at
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("case", BODIES.values(), ids=BODIES.keys())
def test_stripe_sync_unexpected_stripe_body_is_one_line_exit_2(
    stripe_at, fast_stripe_retries, monkeypatch, capsys, tmp_path, case
):
    roster = tmp_path / "roster.yaml"
    before = write_hand_managed(roster)
    monkeypatch.setenv("STRIPE_API_KEY", API_KEY)
    assert stripe_sync.main(["--roster", str(roster), "--api-base", stripe_at(case)]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert len([line for line in captured.err.splitlines() if "error" in line]) == 1, captured.err
    assert leaked(captured.out + captured.err, [API_KEY]) == []
    assert roster.read_text() == before


@pytest.mark.parametrize("case", BODIES.values(), ids=BODIES.keys())
def test_webhook_sync_unexpected_stripe_body_is_one_log_line_without_the_key(
    stripe_at, fast_stripe_retries, tmp_path, capfd, case
):
    roster = tmp_path / "roster.yaml"
    before = write_hand_managed(roster)
    client = make_client(API_KEY, api_base=stripe_at(case))
    settings = SyncSettings(roster=roster, plans=DEFAULT_PLANS)

    def sync() -> RunSummary:
        return run_sync(settings, client, now("2026-11-26"), secret=API_KEY)

    handler = WebhookHandler(SECRET, sync, debounce_s=0.0, retry_s=60.0)
    body = json.dumps({"id": "evt_bodies", "type": "customer.updated"}).encode()
    response = handler.handle(
        body, {"Stripe-Signature": stripe.WebhookSignature.generate_signature_header(body.decode(), SECRET)}
    )
    assert response.status == 200, response  # acknowledged at once; the run follows
    assert handler.runs.wait_runs(1, 20)
    handler.close()
    err = capfd.readouterr().err
    assert "sync for 1 event(s) failed, will try again: " in err and "Traceback" not in err
    assert leaked(json.dumps(response.body) + err, [API_KEY]) == []
    assert roster.read_text() == before
