"""The signup site's routes, as a function of the request, and the hardened server around them.

Routes: `GET /` (plans and the form), `GET /api/available?username=`, `POST /signup` (creates the
Checkout Session, 303 to Stripe), `GET /welcome?session_id=`, `GET /api/ready?session_id=`,
`POST /stripe/webhook`, `GET /_signup/health`, and the page's own script and style under `/_signup/`.

The server is the Stripe webhook server's (scripts/stripe_webhook.py): a whole-request read deadline, a
cap on connections (503 beyond), strict Content-Length (411/400/413), one log line per failure.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
import stripe

from billing.stripe_source import make_client
from billing.webhook import RejectedEvent, WebhookResponse, is_handled, verified_event
from scripts.stripe_webhook import MAX_BODY, BoundedRequestHandler, Limits, WebhookServer
from signup import pages
from signup.availability import Availability, CheckoutHolds, NamesFile
from signup.checkout import PriceBook, PriceMissing, session_params
from signup.dispatch import Dispatcher, DispatchTarget
from signup.ratelimit import RateLimiter
from signup.settings import Settings
from tenants.emails import email_problem
from tenants.roster import username_error

MAX_FORM = 16 * 1024
MAX_FIELD = 320  # an email's longest; anything longer in a form or query is refused early
SUSPICIOUS_USERNAME = 64
SESSION_ID = re.compile(r"cs_(?:test|live)_[A-Za-z0-9]{1,250}")
DISPATCH_EVENTS = frozenset({"checkout.session.completed"})
PROBE_TIMEOUT_S = 3.0
_SEEN_LIMIT = 1000
_JSON = "application/json"
_HTML = "text/html; charset=utf-8"


def _log(message: str) -> None:
    sys.stderr.write(f"signup: {message}\n")


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = _HTML
    headers: dict[str, str] = field(default_factory=dict)


def _json(status: int, data: Any, **headers: str) -> Response:
    return Response(status, json.dumps(data).encode("utf-8"), _JSON, dict(headers))


def _html(status: int, text: str, **headers: str) -> Response:
    return Response(status, text.encode("utf-8"), _HTML, dict(headers))


def _message(status: int, title: str, message: str) -> Response:
    return _html(status, pages.message_page(title, message))


def _bad_text(value: str, limit: int) -> bool:
    """Too long, or holding a control, format or separator character (never a legitimate username or email)."""
    return len(value) > limit or any(unicodedata.category(c)[0] in "CZ" and c != " " for c in value)


def wants_dispatch(event_type: str) -> bool:
    """The events after which the roster may have to change (the Stripe sync's, plus a finished checkout)."""
    return event_type in DISPATCH_EVENTS or is_handled(event_type)


@dataclass(frozen=True)
class RateLimits:
    """Requests a minute per client address, for each kind of route."""

    available_per_min: float = 60
    signup_per_min: float = 10
    page_per_min: float = 120


RATE_LIMITS = RateLimits()
SERVER_LIMITS = Limits()
Probe = Callable[[str], bool]


def http_probe(template: str, domain: str) -> Probe:
    """Does the tenant answer? A 2xx or 3xx from its login page (the edge answers 404 for a hostname not
    yet in its map, and a page of its own for a paused one, so anything else is "not yet")."""
    session = requests.Session()

    def probe(username: str) -> bool:
        url = template.format(username=username, domain=domain)
        session.trust_env = urlsplit(url).hostname not in ("127.0.0.1", "localhost", "::1")
        try:
            response = session.get(url, timeout=PROBE_TIMEOUT_S, allow_redirects=False)
        except requests.RequestException:
            return False
        response.close()
        return response.status_code < 400

    return probe


class SignupApp:
    """Everything the routes need; `handle` answers one request."""

    def __init__(
        self,
        settings: Settings,
        *,
        client: stripe.StripeClient | None = None,
        dispatcher: Dispatcher | None = None,
        probe: Probe | None = None,
        rates: RateLimits = RATE_LIMITS,
        checkout_ttl_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.client = client or make_client(settings.stripe_api_key, api_base=settings.stripe_api_base, timeout=10.0)
        self.prices = PriceBook(self.client, settings.plans)
        self.holds = CheckoutHolds(self.client, ttl_s=checkout_ttl_s)
        self.availability = Availability(NamesFile(settings.names_file), self.holds)
        target = None
        if settings.dispatch_configured:
            target = DispatchTarget(
                settings.github_api_url, settings.github_repository, settings.github_token, settings.sync_workflow
            )
        self.dispatcher = dispatcher or Dispatcher(target, settings.sync_debounce_s)
        self.probe = probe or http_probe(settings.tenant_probe, settings.domain)
        self.limits = {
            "available": RateLimiter(rates.available_per_min, clock=clock),
            "signup": RateLimiter(rates.signup_per_min, clock=clock),
            "page": RateLimiter(rates.page_per_min, clock=clock),
        }
        self._sessions: OrderedDict[str, tuple[str, str | None]] = OrderedDict()  # completed: (username, email)
        self._ready: set[str] = set()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    # --- the request ---

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes, address: str) -> Response:
        parts = urlsplit(target)
        path = parts.path
        query = parse_qs(parts.query, keep_blank_values=True, max_num_fields=20)
        if path == "/stripe/webhook":
            return self.webhook(body, headers) if method == "POST" else _json(405, {"error": "POST only"}, Allow="POST")
        if path == "/_signup/health" and method == "GET":
            return self.health()
        if path == "/_signup/signup.js" and method == "GET":
            return Response(200, pages.SCRIPT.encode(), "text/javascript; charset=utf-8")
        if path == "/_signup/signup.css" and method == "GET":
            return Response(200, pages.STYLE.encode(), "text/css; charset=utf-8")
        routes: dict[tuple[str, str], tuple[str, Callable[[dict[str, list[str]], bytes, Mapping[str, str]], Response]]]
        routes = {
            ("GET", "/"): ("page", self.index),
            ("GET", "/api/available"): ("available", self.available),
            ("POST", "/signup"): ("signup", self.signup),
            ("GET", "/welcome"): ("page", self.welcome),
            ("GET", "/api/ready"): ("page", self.ready),
        }
        route = routes.get((method, path))
        if route is None:
            if any(p == path for _, p in routes):
                return _message(405, "Not allowed", "This address does not take that method.")
            return _message(404, "Not found", "There is nothing here.")
        kind, answer = route
        wait = self.limits[kind].take(address)
        if wait is not None:
            if path.startswith("/api/"):
                return _json(429, {"error": "too many requests"}, **{"Retry-After": str(wait)})
            page = pages.message_page("Slow down", "Too many requests; try again in a minute.")
            return _html(429, page, **{"Retry-After": str(wait)})
        return answer(query, body, headers)

    # --- pages ---

    def _plans_or_error(self) -> list[Any] | Response:
        try:
            return self.prices.prices()
        except stripe.StripeError as exc:
            _log(f"listing prices failed: {type(exc).__name__}")
            return _message(502, "Try again", "We could not reach our payment provider. Try again in a minute.")

    def index(self, query: dict[str, list[str]], _body: bytes, _headers: Mapping[str, str]) -> Response:
        values = {name: _first(query, name) for name in ("username", "email", "plan")}
        values = {k: v for k, v in values.items() if not _bad_text(v, MAX_FIELD)}
        plans = self._plans_or_error()
        if isinstance(plans, Response):
            return plans
        return _html(200, pages.signup_page(self.settings.domain, plans, values))

    def available(self, query: dict[str, list[str]], _body: bytes, _headers: Mapping[str, str]) -> Response:
        username = _first(query, "username")
        if _bad_text(username, SUSPICIOUS_USERNAME):
            return _json(400, {"error": "not a username"})
        return _json(200, self.availability.check(username).to_json(), **{"Cache-Control": "no-store"})

    def signup(self, _query: dict[str, list[str]], body: bytes, headers: Mapping[str, str]) -> Response:
        kind = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
        if kind.split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
            return _message(415, "Not a form", "Send the signup form.")
        try:
            form = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
        except (UnicodeDecodeError, ValueError):
            return _message(400, "Not a form", "Send the signup form.")
        username, email, plan = (_first(form, name).strip() for name in ("username", "email", "plan"))
        if _bad_text(username, SUSPICIOUS_USERNAME) or _bad_text(email, MAX_FIELD) or _bad_text(plan, 40):
            return _message(400, "Not a signup", "The form held something no username or email has.")
        values = {"username": username, "email": email, "plan": plan}
        problems = []
        if email_problem(email) is not None:
            problems.append("Enter an email address you can read: you sign in with it.")
        if self.settings.plan(plan) is None:
            problems.append("Choose one of the plans.")
        answer = self.availability.check(username)
        if not answer.available:
            problems.append(f"Username: {answer.reason}.")
        price = None
        if not problems:
            try:
                price = self.prices.price(plan)
            except PriceMissing:
                problems.append("Choose one of the plans.")
            except stripe.StripeError as exc:
                _log(f"listing prices failed: {type(exc).__name__}")
                return _message(502, "Try again", "We could not reach our payment provider. Try again in a minute.")
        if problems or price is None:
            plans = self._plans_or_error()
            if isinstance(plans, Response):
                return plans
            return _html(400, pages.signup_page(self.settings.domain, plans, values, " ".join(problems)))
        params = session_params(site_url=self.settings.site_url, username=username, email=email, price=price)
        try:
            session = self.client.v1.checkout.sessions.create(params=params)  # type: ignore[arg-type]
        except stripe.StripeError as exc:
            _log(f"creating a checkout session failed: {type(exc).__name__} (HTTP {exc.http_status})")
            return _message(502, "Try again", "We could not start the payment. Nothing was charged; try again.")
        self.holds.created(username, session.id)
        _log(f"checkout session {session.id} created for plan {price.plan}")
        return Response(303, b"", _HTML, {"Location": str(session.url)})

    def _completed(self, session_id: str) -> tuple[str, str | None] | Response:
        """(username, email) of a completed session of ours, or the error answer."""
        if not SESSION_ID.fullmatch(session_id):
            return _message(404, "Not found", "This signup does not exist.")
        with self._lock:
            known = self._sessions.get(session_id)
        if known is not None:
            return known
        try:
            session = self.client.v1.checkout.sessions.retrieve(session_id)
        except stripe.InvalidRequestError:
            return _message(404, "Not found", "This signup does not exist.")
        except stripe.StripeError as exc:
            _log(f"reading a checkout session failed: {type(exc).__name__}")
            return _message(502, "Try again", "We could not reach our payment provider. Reload in a minute.")
        metadata = getattr(session, "metadata", None)
        username = metadata["username"] if metadata is not None and "username" in metadata else None
        if session.status != "complete" or not isinstance(username, str) or username_error(username):
            return _message(404, "Not found", "This signup is not finished.")
        details = getattr(session, "customer_details", None)
        email = getattr(details, "email", None) or getattr(session, "customer_email", None)
        found = (username, email if isinstance(email, str) else None)
        with self._lock:
            self._sessions[session_id] = found
            while len(self._sessions) > _SEEN_LIMIT:
                self._sessions.popitem(last=False)
        return found

    def welcome(self, query: dict[str, list[str]], _body: bytes, _headers: Mapping[str, str]) -> Response:
        session_id = _first(query, "session_id")
        found = self._completed(session_id)
        if isinstance(found, Response):
            return found
        username, email = found
        return _html(200, pages.welcome_page(username, self.settings.domain, email, session_id))

    def ready(self, query: dict[str, list[str]], _body: bytes, _headers: Mapping[str, str]) -> Response:
        found = self._completed(_first(query, "session_id"))
        if isinstance(found, Response):
            return _json(found.status, {"error": "unknown signup"})
        username = found[0]
        url = f"https://{username}.{self.settings.domain}"
        with self._lock:
            known = username in self._ready
        if not known and self.probe(username):
            with self._lock:
                self._ready.add(username)
            known = True
        return _json(200, {"ready": known, "url": url}, **{"Cache-Control": "no-store"})

    # --- webhooks and health ---

    def webhook(self, body: bytes, headers: Mapping[str, str]) -> Response:
        try:
            event_id, event_type = verified_event(body, headers, self.settings.webhook_secret)
        except RejectedEvent as exc:
            return _json(400, {"error": str(exc)})
        if not wants_dispatch(event_type):
            return _json(200, {"event": event_id, "ignored": event_type})
        with self._lock:
            if event_id in self._seen:
                return _json(200, {"event": event_id, "duplicate": True})
            self._seen[event_id] = None
            while len(self._seen) > _SEEN_LIMIT:
                self._seen.popitem(last=False)
        self.dispatcher.notify()
        return _json(200, {"event": event_id, "type": event_type, "sync": "scheduled"})

    def health(self) -> Response:
        return _json(
            200,
            {
                "ok": True,
                "usernames": len(self.availability.names.names()),
                "dispatches": len(self.dispatcher.sent),
                "dispatch_failures": self.dispatcher.failed,
                "pending_events": self.dispatcher.pending,
            },
        )

    def close(self) -> None:
        self.dispatcher.close()


def _first(query: Mapping[str, list[str]], name: str) -> str:
    values = query.get(name)
    return values[0] if values else ""


def client_address(headers: Mapping[str, str], peer: str) -> str:
    """Fly's proxy sets Fly-Client-IP (and replaces one a client sent); elsewhere the socket's peer."""
    given = next((v for k, v in headers.items() if k.lower() == "fly-client-ip"), "").strip()
    return given if given and len(given) <= 64 and re.fullmatch(r"[0-9A-Fa-f:.]+", given) else peer


def make_server(
    app: SignupApp, host: str = "127.0.0.1", port: int = 0, limits: Limits = SERVER_LIMITS
) -> WebhookServer:
    class Handler(BoundedRequestHandler):
        timeout = limits.read_timeout_s
        server_version = "alex-signup"
        sys_version = ""

        def _answer(self) -> None:
            body = b""
            if self.command == "POST":
                cap = MAX_BODY if urlsplit(self.path).path == "/stripe/webhook" else MAX_FORM
                read = self.read_body(cap)
                if isinstance(read, WebhookResponse):
                    self._send(_json(read.status, read.body))
                    return
                if read is None:
                    return
                body = read
            self._deadline.cancel()  # the request is in: the answer may take its time
            headers = dict(self.headers.items())
            try:
                address = client_address(headers, self.client_address[0])
                response = app.handle(self.command, self.path, headers, body, address)
            except Exception as exc:  # a bug must still answer, in one log line
                self.log_message("handler failed: %s", type(exc).__name__)
                response = _message(500, "Something went wrong", "Try again in a minute.")
            self._send(response)

        do_GET = do_POST = _answer

        def do_PUT(self) -> None:
            self._send(_message(405, "Not allowed", "This address does not take that method."))

        do_DELETE = do_PATCH = do_PUT

        def _send(self, response: Response) -> None:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            self.send_header("Cache-Control", response.headers.pop("Cache-Control", "no-store"))
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Referrer-Policy", "no-referrer")
            if response.content_type == _HTML:
                self.send_header("Content-Security-Policy", pages.CSP)
            for key, value in response.headers.items():
                self.send_header(key, value)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(response.body)
            self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
            _log(f"{self.address_string()} {format % args}")

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            # The path may hold an email (the cancel URL's prefill): log the route only.
            _log(f'{self.address_string()} "{self.command} {urlsplit(self.path).path}" {code}')

    return WebhookServer((host, port), Handler, limits)
