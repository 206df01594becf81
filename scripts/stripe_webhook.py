"""Receive Stripe webhooks and run the sync: `python -m scripts.stripe_webhook --stack NAME --port N`.

A small stdlib HTTP server around billing.webhook.WebhookHandler: POST a Stripe event to any path;
the Stripe-Signature header is verified with stripe-python (400 when bad or stale), events other
than customer.subscription.*, customer.deleted and customer.updated are acknowledged and ignored,
and the rest trigger one full reconcile from a fresh read of Stripe.

It faces the internet, so it holds nothing open for a client: the request line, headers and body must
arrive within `Limits.read_timeout_s` (else the connection is dropped), at most `max_connections` are
served at once (the rest get 503 at once), and every malformed request gets an HTTP error: 400 for a
bad or repeated Content-Length, 411 for none or for Transfer-Encoding, 413 over the size cap, 431 for
oversized headers (the stdlib's), and a one-line log entry, never a traceback.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from billing.report import RunSummary
from billing.stripe_source import make_client
from billing.sync import SyncSettings, run_sync
from billing.webhook import WebhookHandler, WebhookResponse
from scripts import cli

SECRET_ENV = "STRIPE_WEBHOOK_SECRET"
MAX_BODY = 1024 * 1024  # Stripe events are a few KB
READ_TIMEOUT_S = 10.0  # for the request line, headers and body together; Stripe sends all at once
MAX_CONNECTIONS = 32  # Stripe delivers a few events at a time; beyond this a client gets 503 at once
_LENGTH = re.compile(r"[0-9]{1,8}")  # ASCII digits only: int() also takes "١٢", "+5", " 5" and "1_0"


@dataclass(frozen=True)
class Limits:
    read_timeout_s: float = READ_TIMEOUT_S
    max_connections: int = MAX_CONNECTIONS
    max_body: int = MAX_BODY


def body_length(headers: Message, max_body: int) -> int | WebhookResponse:
    """The body's length from a single plain Content-Length, or the error answer for anything else."""
    if headers.get_all("Transfer-Encoding"):
        # No chunked bodies: every Stripe delivery has a Content-Length, and TE next to CL is smuggling.
        return WebhookResponse(411, {"error": "Transfer-Encoding is not accepted; send a Content-Length"})
    values = headers.get_all("Content-Length") or []
    if not values:
        return WebhookResponse(411, {"error": "Content-Length is required"})
    if len(values) > 1:
        return WebhookResponse(400, {"error": "more than one Content-Length"})
    raw = values[0]
    if not raw.isascii() or not raw.isdigit():
        return WebhookResponse(400, {"error": f"bad Content-Length {raw!r}"})
    if not _LENGTH.fullmatch(raw) or int(raw) > max_body:
        return WebhookResponse(413, {"error": f"body over {max_body} bytes"})
    return int(raw)


class _Deadline:
    """Closes the connection's reading side when the request has not fully arrived in time.

    The socket timeout alone bounds each recv(), so a client trickling a byte at a time would hold
    its thread for ever; this bounds the whole request.
    """

    def __init__(self, connection: socket.socket, seconds: float) -> None:
        self._connection = connection
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self.expired = False
        self._timer.start()

    def _expire(self) -> None:
        self.expired = True
        with contextlib.suppress(OSError):
            self._connection.shutdown(socket.SHUT_RD)

    def cancel(self) -> None:
        self._timer.cancel()


def _log(message: str) -> None:
    sys.stderr.write(f"stripe_webhook: {message}\n")


class BoundedRequestHandler(BaseHTTPRequestHandler):
    """A handler whose whole request must arrive within `timeout` seconds (each recv() is bounded by the
    socket timeout, the request as a whole by a _Deadline), with a body read by one strict rule.

    Shared by this receiver and the signup site; a subclass sets `timeout` to its limit.
    """

    timeout = READ_TIMEOUT_S
    # The stdlib's default, HTTP/0.9, makes error answers to a garbled request line bare HTML with no
    # status line; a client (and a test) must always see the status.
    default_request_version = "HTTP/1.0"

    def setup(self) -> None:
        super().setup()
        self._deadline = _Deadline(self.connection, self.timeout)

    def finish(self) -> None:
        self._deadline.cancel()
        with contextlib.suppress(OSError):
            super().finish()

    def read_body(self, cap: int) -> bytes | WebhookResponse | None:
        """The body by its Content-Length (body_length's rules), the error answer for a bad length, or
        None when it did not all arrive (the client hung up or the deadline passed): close, no answer."""
        length = body_length(self.headers, cap)
        if isinstance(length, WebhookResponse):
            return length
        try:
            body = self.rfile.read(length)
        except OSError as exc:  # the read timed out
            self.log_message("body not received: %s", type(exc).__name__)
            self.close_connection = True
            return None
        self._deadline.cancel()
        if len(body) < length:
            self.log_message("body cut short: %d of %d bytes", len(body), length)
            self.close_connection = True
            return None
        return body


class WebhookServer(ThreadingHTTPServer):
    """A thread per connection, at most `limits.max_connections` of them; the rest get 503 and are closed."""

    daemon_threads = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], limits: Limits) -> None:
        self.limits = limits
        self._slots = threading.BoundedSemaphore(limits.max_connections)
        self._in_use = 0
        self._count_lock = threading.Lock()
        super().__init__(address, handler)

    @property
    def connections_in_use(self) -> int:
        """Connections holding a slot now (tests wait on it instead of sleeping)."""
        with self._count_lock:
            return self._in_use

    def _take(self) -> bool:
        if not self._slots.acquire(blocking=False):
            return False
        with self._count_lock:
            self._in_use += 1
        return True

    def _give_back(self) -> None:
        with self._count_lock:
            self._in_use -= 1
        self._slots.release()

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._take():
            self._refuse(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._give_back()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._give_back()

    def _refuse(self, request: socket.socket) -> None:
        """Answer 503 without reading (never blocks the accept loop: the answer fits the send buffer)."""
        payload = b'{"error": "too many connections"}'
        head = "HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
        head += f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
        with contextlib.suppress(OSError):
            request.setblocking(False)
            request.send(head.encode("ascii") + payload)
        self.shutdown_request(request)
        _log("503: too many connections")

    def handle_error(self, request: Any, client_address: Any) -> None:
        # One line, not a traceback: a client can always make a request fail; that is not our bug to print.
        exc = sys.exc_info()[1]
        _log(f"{client_address[0]} connection failed: {type(exc).__name__}")


def make_server(
    handler: WebhookHandler, host: str = "127.0.0.1", port: int = 0, limits: Limits = Limits()
) -> WebhookServer:
    class Handler(BoundedRequestHandler):
        timeout = limits.read_timeout_s

        def do_POST(self) -> None:
            body = self.read_body(limits.max_body)
            if isinstance(body, WebhookResponse):
                self._send(body)
                return
            if body is None:
                return
            try:
                response = handler.handle(body, dict(self.headers.items()))
            except Exception as exc:  # a bug must still answer, and keep the log to one line
                self.log_message("handler failed: %s", type(exc).__name__)
                response = WebhookResponse(500, {"error": "internal error"})
            self._send(response)

        def do_GET(self) -> None:
            self._send(WebhookResponse(405, {"error": "POST Stripe events here"}))

        def _send(self, response: WebhookResponse) -> None:
            payload = json.dumps(response.body).encode("utf-8")
            self.send_response(response.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(payload)
            self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
            _log(f"{self.address_string()} {format % args}")

    return WebhookServer((host, port), Handler, limits)


def build_parser() -> cli.Parser:
    parser = cli.parser(
        "stripe_webhook",
        "Verify Stripe webhooks and run the roster sync for the events that matter.",
        epilog=f"environment: {SECRET_ENV} (the endpoint's whsec_ secret) and STRIPE_API_KEY are required.\n"
        "exit codes: 0 stopped normally; 2 could not start (missing secret or key, bad stack, bad or busy port).",
    )
    cli.add_stack_arguments(parser, roster_alone=True)
    cli.add_stripe_api_base(parser)
    parser.add_argument("--port", type=cli.port_number, default=8787, help="port to listen on (default 8787)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    cli.add_grace_days(parser)
    return parser


def _body(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    secret = cli.require_env(SECRET_ENV, "the webhook endpoint's signing secret, whsec_...")
    target = cli.resolve_target(args, roster_alone=True)
    if target.config is not None and len(target.config.domain_shards) > 1:
        # One shard's roster alone would take every new tenant past its capacity and could not see the
        # names the other shards hold; the signup site's receiver dispatches the sync of all of them.
        raise cli.UsageError(
            f"stack {target.config.stack} is one of several shards ({', '.join(target.config.domain_shards)}): "
            "run the signup site's webhook receiver, which dispatches the Stripe sync of every shard"
        )
    key = cli.stripe_api_key()
    base = cli.stripe_api_base(args)
    client = make_client(key, api_base=base)
    settings = SyncSettings(roster=target.roster, plans=target.plans, grace_days=args.grace_days)

    def sync() -> RunSummary:
        summary = run_sync(settings, client, datetime.now(UTC), secret=key)
        changes = len(summary.report.changes)
        print(f"stripe_webhook: sync: {changes} change(s), written={summary.written}", file=sys.stderr)
        return summary

    try:
        server = make_server(WebhookHandler(secret, sync), args.host, args.port)
    except (OSError, OverflowError, ValueError, TypeError) as exc:  # busy port, address not ours, bad host
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise cli.CliError(f"cannot listen on {args.host}:{args.port}: {reason}") from None
    print(f"stripe_webhook: listening on http://{args.host}:{server.server_address[1]}", file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return cli.EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    return cli.run("stripe_webhook", _body, argv)


if __name__ == "__main__":
    sys.exit(main())
