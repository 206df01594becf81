"""The fake Stripe API over real HTTP on 127.0.0.1, served from a thread.

Routes: `GET /v1/subscriptions` (status, limit, starting_after, expand[N]=data.customer, customer),
`GET /v1/customers/{id}` and `POST /v1/customers/{id}` (metadata only); prices and Checkout Sessions
(`emulators/stripe/checkout.py`: `GET /v1/prices`, `POST|GET /v1/checkout/sessions`,
`GET /v1/checkout/sessions/{id}`, its `/expire`, and the hosted page `GET /checkout/{id}` with its Pay
button); events (`emulators/stripe/events.py`: `GET /v1/events` with `created`, `starting_after`/`ending_before`,
`type`/`types[]`, newest first, and `GET /v1/events/{id}`); `GET /_emulator/stats` returns the request count.
Parameters are read from the query and, for a POST, from the form-encoded body, both in Stripe's
bracket notation (`emulators/stripe/forms.py`); `FakeStripe.received` keeps every decoded POST body.
Every API request must carry `Authorization: Bearer <api_key>` (401 otherwise) and, when the world
pins one, the same `Stripe-Version` (400 otherwise), as Stripe does; the hosted page needs neither.

`latency` (seconds of the fake's clock, 0 by default; 0.3 is Stripe's real round trip from a CI runner)
delays every API answer, faults included, so a benchmark sees what a run costs in round trips; requests
still run side by side, as Stripe's do.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from emulators.clock import Clock, RealClock
from emulators.faults import RecordedRequest
from emulators.serving import serve_in_thread
from emulators.stripe import checkout, events
from emulators.stripe.faults import FaultBook, error_body
from emulators.stripe.forms import FormError, decode
from emulators.stripe.state import STATUSES, StripeWorld, Subscription

STATS_PATH = "/_emulator/stats"


class StripeApiError(Exception):
    def __init__(self, status: int, message: str, *, type_: str = "invalid_request_error", **extra: str) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {"message": message, "type": type_, **extra}}


def _missing(kind: str, obj_id: str, param: str) -> StripeApiError:
    return StripeApiError(404, f"No such {kind}: '{obj_id}'", code="resource_missing", param=param)


@dataclass(frozen=True)
class Html:
    """A page (the hosted Checkout stand-in), not a JSON answer."""

    content: bytes


@dataclass(frozen=True)
class Received:
    """One API POST as the fake decoded it: what a test asserts a client sent."""

    method: str
    path: str
    params: dict[str, Any]


class FakeStripe:
    """Answers requests against a world; usable without sockets through `answer()`."""

    def __init__(self, world: StripeWorld, clock: Clock | None = None, *, latency: float = 0.0) -> None:
        if latency < 0:
            raise ValueError(f"latency must be 0 or more seconds, got {latency}")
        self.world = world
        self.clock: Clock = clock or RealClock()
        self.latency = latency  # seconds each API answer takes to come back
        self.faults = FaultBook()
        self._received_lock = threading.Lock()
        self.received: list[Received] = []

    def posts(self, path: str) -> list[dict[str, Any]]:
        """The decoded bodies of every POST to `path`, oldest first."""
        with self._received_lock:
            return [r.params for r in self.received if r.method == "POST" and r.path == path]

    def answer(
        self, method: str, target: str, headers: dict[str, str], body: bytes = b"", base_url: str = ""
    ) -> tuple[int, dict[str, str], Any]:
        parts = urlsplit(target)
        query = parse_qs(parts.query, keep_blank_values=True)
        if parts.path == STATS_PATH:  # the emulator's own control route; not logged, no auth
            return 200, {}, {"requests": self.faults.count()}
        fault = self.faults.take(method, parts.path)
        if self.latency and parts.path.startswith("/v1/"):
            self.clock.sleep(self.latency)
        status = 200
        extra_headers: dict[str, str] = {}
        answer: Any = None
        if fault is not None and fault.delay:
            self.clock.sleep(fault.delay)
        if fault is None or fault.when == "after_work" or fault.status is None:
            page = checkout.hosted_page(self.world, method, parts.path)
            if page is not None:
                status, extra_headers, content = page
                answer = Html(content)
            else:
                try:
                    self._check_auth(headers)
                    params = self._params(method, parts.path, parts.query, body)
                    answer = self._route(method, parts.path, query, params, base_url)
                except StripeApiError as exc:
                    status, answer = exc.status, exc.body
                except checkout.CheckoutError as exc:
                    status = exc.status
                    answer = {"error": {"message": str(exc), "type": "invalid_request_error", **exc.extra}}
        if fault is not None and fault.status is not None:
            status, extra_headers, answer = fault.status, dict(fault.headers), error_body(fault)
        self.faults.record(RecordedRequest(method, parts.path, query, status))
        return status, {"Request-Id": f"req_emulator{len(self.faults.log)}", **extra_headers}, answer

    def _params(self, method: str, path: str, query: str, body: bytes) -> dict[str, Any]:
        """The request's parameters: the query's, and for a POST the form body's (recorded)."""
        try:
            params = decode(query)
            if method == "POST":
                form = decode(body.decode("utf-8"))
                with self._received_lock:
                    self.received.append(Received(method, path, form))
                params.update(form)
        except (FormError, UnicodeDecodeError) as exc:
            raise StripeApiError(400, f"Invalid request body: {exc}") from None
        return params

    def _check_auth(self, headers: dict[str, str]) -> None:
        auth = headers.get("authorization", "")
        if auth != f"Bearer {self.world.api_key}":
            shown = auth.removeprefix("Bearer ")
            masked = f"{shown[:8]}****{shown[-4:]}" if len(shown) > 12 else "****"
            raise StripeApiError(401, f"Invalid API Key provided: {masked}")
        pinned = self.world.api_version
        if pinned is not None and headers.get("stripe-version") != pinned:
            raise StripeApiError(400, f"Invalid Stripe API version: {headers.get('stripe-version')}")

    def _route(self, method: str, path: str, query: dict[str, list[str]], params: dict[str, Any], base_url: str) -> Any:
        if path == "/v1/checkout/sessions" and method == "POST":
            return checkout.create_session(self.world, params, base_url)
        found = checkout.session_route(self.world, method, path)
        if found is not None:
            return found
        if method == "POST" and path.startswith("/v1/customers/") and path.count("/") == 3:
            return self._update_customer(path.rsplit("/", 1)[1], params)
        if method != "GET":
            raise StripeApiError(404, f"Unrecognized request URL ({method}: {path})")
        if path == "/v1/prices":
            return checkout.list_prices(self.world, params)
        if path == "/v1/checkout/sessions":
            return checkout.list_sessions(self.world, params)
        if path == "/v1/subscriptions":
            return self._list_subscriptions(query)
        listed = events.route(self.world, method, path, params)
        if listed is not None:
            return listed
        if path.startswith("/v1/customers/") and path.count("/") == 3:
            cus_id = path.rsplit("/", 1)[1]
            with self.world.lock:
                if cus_id not in self.world.customers:
                    raise _missing("customer", cus_id, "id")
                return self.world.render_customer(cus_id)
        raise StripeApiError(404, f"Unrecognized request URL (GET: {path})")

    def _update_customer(self, cus_id: str, params: dict[str, Any]) -> dict[str, Any]:
        """`metadata[...]` only (what the sync writes); an empty value unsets a key, as Stripe's does."""
        unknown = sorted(set(params) - {"metadata"})
        if unknown:
            raise StripeApiError(400, f"Received unknown parameter: {unknown[0]}", param=unknown[0])
        metadata = params.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise StripeApiError(400, "Invalid object", param="metadata")
        with self.world.lock:
            if cus_id not in self.world.customers:
                raise _missing("customer", cus_id, "id")
        self.world.set_customer_metadata(cus_id, **{str(k): (str(v) or None) for k, v in metadata.items()})
        with self.world.lock:
            return self.world.render_customer(cus_id)

    def _list_subscriptions(self, query: dict[str, list[str]]) -> dict[str, Any]:
        def one(name: str) -> str | None:
            values = query.get(name)
            return values[-1] if values else None

        limit_text = one("limit") or "10"
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= 100:
            raise StripeApiError(400, "Invalid integer: limit must be between 1 and 100", param="limit")
        limit = int(limit_text)
        status = one("status")
        if status is not None and status not in (*STATUSES, "all", "ended"):
            raise StripeApiError(400, f"Invalid status: {status}", param="status")
        expand = [v for key, values in query.items() if key.startswith("expand[") for v in values]
        for path in expand:
            if path != "data.customer":
                raise StripeApiError(400, f"This property cannot be expanded ({path}).", param="expand")
        customer = one("customer")
        after = one("starting_after")
        with self.world.lock:
            ordered, position = self.world.ordered_subscriptions()
            start = 0
            if after is not None:
                if after not in position:
                    raise _missing("subscription", after, "starting_after")
                start = position[after] + 1
            page: list[Subscription] = []
            more = False
            for sub in ordered[start:]:
                if not _status_matches(sub.status, status) or (customer is not None and sub.customer != customer):
                    continue
                if len(page) == limit:
                    more = True
                    break
                page.append(sub)
            data = [self.world.render_subscription(s, expand_customer=bool(expand)) for s in page]
        return {"object": "list", "url": "/v1/subscriptions", "has_more": more, "data": data}


def _status_matches(actual: str, wanted: str | None) -> bool:
    if wanted is None:  # Stripe's default leaves out canceled subscriptions
        return actual != "canceled"
    if wanted == "all":
        return True
    if wanted == "ended":
        return actual in ("canceled", "incomplete_expired")
    return actual == wanted


def _handler_for(fake: FakeStripe) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Head and body leave in one write, without Nagle: otherwise each answer waits ~40 ms for a
        # delayed ACK, a latency no real Stripe round trip has on top of its own (emulators/serving.py).
        wbufsize = 64 * 1024
        disable_nagle_algorithm = True

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            base_url = f"http://{headers.get('host') or '127.0.0.1'}"
            status, extra, answer = fake.answer(self.command, self.path, headers, body, base_url)
            if isinstance(answer, Html):
                payload, kind = answer.content, "text/html; charset=utf-8"
            else:
                payload, kind = json.dumps(answer).encode("utf-8"), "application/json"
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(payload)))
            for key, value in extra.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
            pass  # quiet in tests; the FaultBook keeps the log

    return Handler


@contextmanager
def serve(
    world: StripeWorld, *, port: int = 0, clock: Clock | None = None, latency: float = 0.0
) -> Iterator[tuple[str, FakeStripe]]:
    """Runs the fake on 127.0.0.1 in a daemon thread; yields (base URL, fake)."""
    fake = FakeStripe(world, clock, latency=latency)
    with serve_in_thread(_handler_for(fake), port=port, name="fake-stripe") as url:
        yield url, fake
