"""Receive Stripe webhooks and run the sync: `python -m scripts.stripe_webhook --roster PATH --port N`.

A small stdlib HTTP server around billing.webhook.WebhookHandler: POST a Stripe event to any path;
the Stripe-Signature header is verified with stripe-python (400 when bad or stale), events other
than customer.subscription.*, customer.deleted and customer.updated are acknowledged and ignored,
and the rest trigger one full reconcile from a fresh read of Stripe.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from billing.cli_support import add_target_arguments, api_base, api_key, resolve_target
from billing.reconcile import DEFAULT_GRACE_DAYS
from billing.report import RunSummary
from billing.stripe_source import make_client
from billing.sync import SyncSettings, run_sync
from billing.webhook import WebhookHandler, WebhookResponse
from scripts.cli import EXIT_OK, CliError, one_line, require_env

SECRET_ENV = "STRIPE_WEBHOOK_SECRET"
MAX_BODY = 1024 * 1024  # Stripe events are a few KB


def make_server(handler: WebhookHandler, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.headers.get("Content-Length") or "0"
            # rfile.read(-1) would read until the client hangs up: no answer, and a thread held meanwhile.
            if not raw.isdigit():
                self._send(WebhookResponse(400, {"error": f"bad Content-Length {raw!r}"}))
                return
            length = int(raw)
            if length > MAX_BODY:
                self._send(WebhookResponse(413, {"error": f"body over {MAX_BODY} bytes"}))
                return
            body = self.rfile.read(length)
            self._send(handler.handle(body, dict(self.headers.items())))

        def do_GET(self) -> None:
            self._send(WebhookResponse(405, {"error": "POST Stripe events here"}))

        def _send(self, response: WebhookResponse) -> None:
            payload = json.dumps(response.body).encode("utf-8")
            self.send_response(response.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
            sys.stderr.write(f"stripe_webhook: {self.address_string()} {format % args}\n")

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.stripe_webhook",
        description="Verify Stripe webhooks and run the roster sync for the events that matter.",
        epilog=f"environment: {SECRET_ENV} (the endpoint's whsec_ secret) and STRIPE_API_KEY are required.\n"
        "exit codes: 0 stopped normally; 2 could not start (missing secret or key, bad stack).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_target_arguments(parser)
    parser.add_argument("--port", type=int, default=8787, help="port to listen on (default 8787)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument(
        "--grace-days",
        type=int,
        default=DEFAULT_GRACE_DAYS,
        metavar="N",
        help=f"days after a subscription ends before the tenant's data is purged (default {DEFAULT_GRACE_DAYS})",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.grace_days < 0:
            raise CliError(f"--grace-days: expected 0 or more, got {args.grace_days}")
        secret = require_env(SECRET_ENV, "the webhook endpoint's signing secret, whsec_...")
        roster, plans = resolve_target(args)
        key = api_key()
    except CliError as exc:
        print(f"stripe_webhook: error: {one_line(exc.message)}", file=sys.stderr)
        return exc.code
    client = make_client(key, api_base=api_base(args))
    settings = SyncSettings(roster=roster, plans=plans, grace_days=args.grace_days)

    def sync() -> RunSummary:
        summary = run_sync(settings, client, datetime.now(UTC), secret=key)
        changes = len(summary.report.changes)
        print(f"stripe_webhook: sync: {changes} change(s), written={summary.written}", file=sys.stderr)
        return summary

    server = make_server(WebhookHandler(secret, sync), args.host, args.port)
    print(f"stripe_webhook: listening on http://{args.host}:{server.server_address[1]}", file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
