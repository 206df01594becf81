"""The signup site: its routes (`SignupApp`), and the Starlette app on uvicorn around them (`asgi_app`).

Routes: `GET /` (plans and the form), `GET /api/available?username=`, `POST /signup` (creates the
Checkout Session, 303 to Stripe), `GET /welcome?session_id=`, `GET /api/ready?session_id=`,
`POST /stripe/webhook`, `GET /_signup/health`, and the page's own script and style under `/_signup/`.

The HTTP stack is public_http's: uvicorn's parser and timeouts, a per-address connection cap and a
request-head deadline, and the guard's request slots in four pools that never share (the webhook, the
form, the other pages, health) and its body rules (Content-Length, size, deadline). What stays
here are the site's own rules: the shape of the query and the form, the form's content type, the
webhook's signature, and the rate limits per client and per route.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
import stripe
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from billing.stripe_source import make_client
from billing.webhook import MAX_EVENT_BYTES, EventIntake, is_handled
from public_http.clients import client_address
from public_http.guard import BODY_TIMEOUT_S, Pool, RequestGuard
from public_http.server import DEFAULT_LIMITS, PublicServer, ServerLimits
from public_http.server import make_server as make_public_server
from signup import pages
from signup.availability import Availability, CheckoutHolds, NamesFile
from signup.checkout import PriceBook, PriceMissing, session_params
from signup.dispatch import Dispatcher, DispatchTarget
from signup.ratelimit import RateLimiter
from signup.sessions import Completed, Missing, Sessions
from signup.settings import Settings
from tenants.emails import email_problem

MAX_FORM = 16 * 1024
MAX_FIELD = 320  # an email's longest; anything longer in a form or query is refused early
# Fields in a query or a form: the site reads three at most, and a link may carry a few more of its own
# (a campaign's); more is a 400, never a 500.
MAX_FIELDS = 32
SUSPICIOUS_USERNAME = 64
SESSION_ID = re.compile(r"cs_(?:test|live)_[A-Za-z0-9]{1,250}")
DISPATCH_EVENTS = frozenset({"checkout.session.completed"})
PROBE_TIMEOUT_S = 3.0
_JSON = "application/json"
_HTML = "text/html; charset=utf-8"
WEBHOOK_PATH = "/stripe/webhook"
FORM_PATH = "/signup"
HEALTH_PATH = "/_signup/health"


def _log(message: str) -> None:
    sys.stderr.write(f"signup: {message}\n")


def _respond(status: int, body: bytes, content_type: str = _HTML, **headers: str) -> Response:
    """Every answer's headers: no caching unless said, no sniffing, no referrer, and the CSP on pages."""
    sent = {
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        **({"Content-Security-Policy": pages.CSP} if content_type == _HTML else {}),
        **headers,
    }
    return Response(body, status, headers=sent, media_type=content_type)


def _json(status: int, data: Any, **headers: str) -> Response:
    return _respond(status, json.dumps(data).encode("utf-8"), _JSON, **headers)


def _html(status: int, text: str, **headers: str) -> Response:
    return _respond(status, text.encode("utf-8"), _HTML, **headers)


def _message(status: int, title: str, message: str, **headers: str) -> Response:
    return _html(status, pages.message_page(title, message), **headers)


def _bad_text(value: str, limit: int) -> bool:
    """Too long, or holding a control, format or separator character (never a legitimate username or email)."""
    return len(value) > limit or any(unicodedata.category(c)[0] in "CZ" and c != " " for c in value)


def fields(text: str) -> dict[str, list[str]] | None:
    """The fields of a query string or form body, percent-escapes read as UTF-8; None when it holds more
    than MAX_FIELDS or an escape that is not UTF-8 (no username, email or plan has one)."""
    try:
        return parse_qs(text, keep_blank_values=True, max_num_fields=MAX_FIELDS, errors="strict")
    except ValueError:  # UnicodeDecodeError is one
        return None


def _first(query: Mapping[str, list[str]], name: str) -> str:
    values = query.get(name)
    return values[0] if values else ""


def wants_dispatch(event_type: str) -> bool:
    """The events after which the roster may have to change (the Stripe sync's, plus a finished checkout)."""
    return event_type in DISPATCH_EVENTS or is_handled(event_type)


@dataclass(frozen=True)
class RateLimits:
    """Requests a minute per client (an IPv6 client by its /64), and for every client together, per kind."""

    available_per_min: float = 60
    signup_per_min: float = 10
    page_per_min: float = 120
    # Stripe lookups of a session id the site does not remember (signup/sessions.py): a welcome page makes
    # one, made-up ids one each.
    lookup_per_min: float = 10
    available_total_per_min: float = 1200
    signup_total_per_min: float = 120
    page_total_per_min: float = 6000
    lookup_total_per_min: float = 120


RATE_LIMITS = RateLimits()
Probe = Callable[[str], bool]


@dataclass(frozen=True)
class SitePools:
    """The guard's pools (public_http/guard.py). None shares another's slots: slow or flooding form posts
    never take the pages' slots, and neither ever takes the webhook's."""

    # Stripe delivers a few events at a time, from a dozen addresses; 64 bodies of at most 1 MiB each is the
    # most the pool buffers at once.
    webhook: Pool = Pool("webhook", total=64, per_client=8, max_body=MAX_EVENT_BYTES)
    # POST /signup, the one public route with a body: a sign-up is one post, a retry or two.
    form: Pool = Pool("form", total=16, per_client=4, max_body=MAX_FORM)
    # Every other public route: a browser opens at most 6 connections, the welcome page polls /api/ready.
    pages: Pool = Pool("pages", total=64, per_client=8)
    health: Pool = Pool("health", total=4, per_client=4)

    def of(self, path: str) -> str:
        named = {WEBHOOK_PATH: self.webhook.name, FORM_PATH: self.form.name, HEALTH_PATH: self.health.name}
        return named.get(path, self.pages.name)

    @property
    def all(self) -> tuple[Pool, ...]:
        return (self.webhook, self.form, self.pages, self.health)


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


@dataclass(frozen=True)
class Call:
    """One request as the routes see it: the query's fields, the body (whole, read by the guard), the
    headers, and the client's address."""

    query: dict[str, list[str]]
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    address: str = ""


Handler = Callable[[Call], Response]


class SignupApp:
    """Everything the routes need; each route is a method from a Call to a Response."""

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
        self.sessions = Sessions(self.client, clock=clock)
        target = None
        if settings.dispatch_configured:
            target = DispatchTarget(
                settings.github_api_url, settings.github_repository, settings.github_token, settings.sync_workflow
            )
        self.dispatcher = dispatcher or Dispatcher(target, settings.sync_debounce_s)
        self.events = EventIntake(settings.webhook_secret, wants_dispatch, self.dispatcher.notify)
        self.probe = probe or http_probe(settings.tenant_probe, settings.domain)
        self.limits = {
            kind: RateLimiter(
                getattr(rates, f"{kind}_per_min"), total_per_minute=getattr(rates, f"{kind}_total_per_min"), clock=clock
            )
            for kind in ("available", "signup", "page", "lookup")
        }
        self._ready: set[str] = set()
        self._lock = threading.Lock()

    # --- the request ---

    def answer(self, kind: str, handler: Handler, call: Call, api: bool) -> Response:
        """The route's answer, unless the client or the route is over its rate (429); a bug is a 500 page."""
        wait = self.limits[kind].take(call.address)
        if wait is not None:
            return self.too_many(wait, api)
        try:
            return handler(call)
        except Exception as exc:  # a bug must still answer, in one log line
            _log(f"handler failed: {type(exc).__name__}")
            return _message(500, "Something went wrong", "Try again in a minute.")

    @staticmethod
    def too_many(wait: int, api: bool) -> Response:
        if api:
            return _json(429, {"error": "too many requests"}, **{"Retry-After": str(wait)})
        page = pages.message_page("Slow down", "Too many requests; try again in a minute.")
        return _html(429, page, **{"Retry-After": str(wait)})

    # --- pages ---

    def _plans_or_error(self) -> list[Any] | Response:
        try:
            return self.prices.prices()
        except stripe.StripeError as exc:
            _log(f"listing prices failed: {type(exc).__name__}")
            return _message(502, "Try again", "We could not reach our payment provider. Try again in a minute.")

    def index(self, call: Call) -> Response:
        values = {name: _first(call.query, name) for name in ("username", "email", "plan")}
        values = {k: v for k, v in values.items() if not _bad_text(v, MAX_FIELD)}
        plans = self._plans_or_error()
        if isinstance(plans, Response):
            return plans
        return _html(200, pages.signup_page(self.settings.domain, plans, values))

    def available(self, call: Call) -> Response:
        username = _first(call.query, "username")
        if _bad_text(username, SUSPICIOUS_USERNAME):
            return _json(400, {"error": "not a username"})
        return _json(200, self.availability.check(username).to_json(), **{"Cache-Control": "no-store"})

    def signup(self, call: Call) -> Response:
        kind = next((v for k, v in call.headers.items() if k.lower() == "content-type"), "")
        if kind.split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
            return _message(415, "Not a form", "Send the signup form.")
        try:
            form = fields(call.body.decode("ascii"))  # a form is percent-encoded: its bytes are ASCII
        except UnicodeDecodeError:
            form = None
        if form is None:
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
        return _respond(303, b"", _HTML, Location=str(session.url))

    def _completed(self, call: Call, api: bool) -> Completed | Response:
        """The completed signup of the query's session id, or the answer to give instead: 404 for anything
        but a completed session of ours, 429 when Stripe would be asked too often, 502 when Stripe fails."""
        session_id = _first(call.query, "session_id")
        if not SESSION_ID.fullmatch(session_id):
            return self._not_found(Missing(), api)
        found = self.sessions.cached(session_id)
        if found is None:
            wait = self.limits["lookup"].take(call.address)
            if wait is not None:
                return self.too_many(wait, api)
            try:
                found = self.sessions.lookup(session_id)
            except stripe.StripeError as exc:
                _log(f"reading a checkout session failed: {type(exc).__name__}")
                if api:
                    return _json(502, {"error": "payment provider unreachable"})
                return _message(502, "Try again", "We could not reach our payment provider. Reload in a minute.")
        return found if isinstance(found, Completed) else self._not_found(found, api)

    @staticmethod
    def _not_found(missing: Missing, api: bool) -> Response:
        if api:
            return _json(404, {"error": "unknown signup"})
        if missing.unfinished:
            return _message(404, "Not found", "This signup is not finished.")
        return _message(404, "Not found", "This signup does not exist.")

    def welcome(self, call: Call) -> Response:
        found = self._completed(call, api=False)
        if isinstance(found, Response):
            return found
        session_id = _first(call.query, "session_id")
        return _html(200, pages.welcome_page(found.username, self.settings.domain, found.email, session_id))

    def ready(self, call: Call) -> Response:
        found = self._completed(call, api=True)
        if isinstance(found, Response):
            return found
        username = found.username
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
        answer = self.events.handle(body, headers)
        return _json(answer.status, answer.body)

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


async def _not_found(_request: Request, _exc: Exception) -> Response:
    return _message(404, "Not found", "There is nothing here.")


async def _not_allowed(request: Request, exc: Exception) -> Response:
    allow = dict(getattr(exc, "headers", None) or {})
    if request.url.path == WEBHOOK_PATH:
        return _json(405, {"error": "POST only"}, **allow)
    return _message(405, "Not allowed", "This address does not take that method.", **allow)


def asgi_app(app: SignupApp, *, pools: SitePools = SitePools(), body_timeout_s: float = BODY_TIMEOUT_S) -> RequestGuard:
    """The site as an ASGI app: Starlette's routing, behind the guard (public_http/guard.py)."""

    def route(path: str, kind: str, handler: Handler, method: str = "GET", api: bool = False) -> Route:
        async def endpoint(request: Request) -> Response:
            body = await request.body()  # already read, whole, by the guard
            query = fields(request.scope["query_string"].decode("latin-1"))
            if query is None:
                if api:
                    return _json(400, {"error": "too many query parameters, or one that is not UTF-8"})
                return _message(400, "Not a page", "This address holds too many parameters, or a garbled one.")
            peer = request.client.host if request.client else ""
            headers = dict(request.headers)
            call = Call(query, body, headers, client_address(headers, peer))
            # The routes may call Stripe or probe a tenant: a thread each, never the event loop.
            return await run_in_threadpool(app.answer, kind, handler, call, api)

        return Route(path, endpoint, methods=[method])

    async def webhook(request: Request) -> Response:
        # A hash and a JSON parse of at most 1 MiB, and a notify that never waits: on the event loop, so a
        # thread pool busy with slow Stripe calls from the public routes never delays Stripe's deliveries.
        return app.webhook(await request.body(), dict(request.headers))

    async def health(_request: Request) -> Response:
        return app.health()

    async def script(_request: Request) -> Response:
        return _respond(200, pages.SCRIPT.encode(), "text/javascript; charset=utf-8")

    async def style(_request: Request) -> Response:
        return _respond(200, pages.STYLE.encode(), "text/css; charset=utf-8")

    site = Starlette(
        routes=[
            route("/", "page", app.index),
            route("/api/available", "available", app.available, api=True),
            route(FORM_PATH, "signup", app.signup, method="POST"),
            route("/welcome", "page", app.welcome),
            route("/api/ready", "page", app.ready, api=True),
            Route(WEBHOOK_PATH, webhook, methods=["POST"]),
            Route(HEALTH_PATH, health, methods=["GET"]),
            Route("/_signup/signup.js", script, methods=["GET"]),
            Route("/_signup/signup.css", style, methods=["GET"]),
        ],
        exception_handlers={404: _not_found, 405: _not_allowed},
    )
    return RequestGuard(site, pools.all, pools.of, name="signup", body_timeout_s=body_timeout_s)


SERVER_LIMITS = DEFAULT_LIMITS


def make_server(
    app: SignupApp,
    host: str = "127.0.0.1",
    port: int = 0,
    limits: ServerLimits = SERVER_LIMITS,
    *,
    pools: SitePools = SitePools(),
    body_timeout_s: float = BODY_TIMEOUT_S,
) -> PublicServer:
    return make_public_server(asgi_app(app, pools=pools, body_timeout_s=body_timeout_s), host, port, limits, "signup")
