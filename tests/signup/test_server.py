"""The signup site over raw sockets on 127.0.0.1: slow clients never starve the page or the webhook, and
every bad request of every family gets a 4xx while the site keeps serving.

Attackers connect from other loopback addresses (127.0.0.2 and up), so the per-address limits see them
as the other clients they would be; the page and the webhook are asked from 127.0.0.1.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
import stripe

from public_http.guard import RequestGuard
from public_http.server import ServerLimits
from signup.app import SitePools
from tests.signup.conftest import WEBHOOK_SECRET, Site
from tests.support.public_http import (
    exchange,
    first_status,
    guard_cases,
    parser_cases,
    request,
    status_of,
    trickle_bodies,
    trickle_heads,
)

BODY_TIMEOUT_S = 2.0
HEAD_TIMEOUT_S = 2.0
LIMITS = ServerLimits(head_timeout_s=HEAD_TIMEOUT_S, peer_connections=16, max_connections=256, shutdown_s=1.0)
POOLS = SitePools()


@pytest.fixture
def site_options() -> dict[str, Any]:
    return {"server": {"limits": LIMITS, "body_timeout_s": BODY_TIMEOUT_S}}


def guard(site: Site) -> RequestGuard:
    assert site.server is not None and isinstance(site.server.app, RequestGuard)
    return site.server.app


def attackers(count: int) -> list[str]:
    return [f"127.0.0.{n}" for n in range(2, 2 + count)]


def page_status(site: Site) -> int:
    return status_of(request(site.port, "GET", "/"))


def webhook_status(site: Site, event_id: str = "evt_during") -> int:
    body = json.dumps({"id": event_id, "type": "customer.subscription.created"}).encode()
    signature = stripe.WebhookSignature.generate_signature_header(body.decode(), WEBHOOK_SECRET)
    return status_of(request(site.port, "POST", "/stripe/webhook", f"Stripe-Signature: {signature}\r\n", body))


def still_serving(site: Site) -> None:
    assert page_status(site) == 200
    assert webhook_status(site) == 200


# (who trickles, to where, the pool that fills, how many of the 32 it holds): before, 32 connections trickling
# a body byte each made the page and the webhook answer 503 for as long as they liked.
SLOW_BODIES = {
    "one address, the form": (["127.0.0.2"] * 32, "/signup", "form", POOLS.form.per_client, 429),
    "32 addresses, the form": (attackers(32), "/signup", "form", POOLS.form.total, 503),
    "one address, the webhook": (["127.0.0.2"] * 32, "/stripe/webhook", "webhook", POOLS.webhook.per_client, 429),
    "32 addresses, the webhook": (attackers(32), "/stripe/webhook", "webhook", 32, 503),  # of 64
}


@pytest.mark.parametrize(("sources", "path", "pool", "held", "refused"), SLOW_BODIES.values(), ids=SLOW_BODIES.keys())
def test_32_trickled_bodies_hold_their_slots_only_and_the_page_and_webhook_answer(
    site: Site, sources, path, pool, held, refused
):
    slots = guard(site).slots
    sockets = trickle_bodies(site.port, sources, path)
    try:
        assert slots.wait_for(lambda s: s.in_use(pool) == held, 5)
        still_serving(site)
        assert slots.wait_for(lambda s: s.in_use(pool) == held, 5)  # they held theirs meanwhile
        expected = {408: held, refused: 32 - held} if held < len(sources) else {408: held}
        assert Counter(first_status(sock) for sock in sockets) == expected
    finally:
        for sock in sockets:
            sock.close()


def test_one_address_trickling_32_request_heads_holds_16_connections_and_the_rest_get_429(site: Site):
    assert site.server is not None
    peers = site.server.peers
    held = trickle_heads(site.port, ["127.0.0.2"] * 32, "/")
    try:
        assert peers.wait_for(lambda p: p.count("127.0.0.2") == LIMITS.peer_connections, 5)
        still_serving(site)
        assert peers.count("127.0.0.2") == LIMITS.peer_connections
        assert Counter(first_status(sock) for sock in held) == {429: 16, 408: 16}
    finally:
        for sock in held:
            sock.close()


def test_a_form_body_that_does_not_arrive_in_time_is_408_and_frees_its_slot(site: Site):
    slots = guard(site).slots
    (sock,) = trickle_bodies(site.port, ["127.0.0.2"], "/signup")
    with sock:
        assert first_status(sock) == 408
    assert slots.wait_for(lambda s: s.in_use("form") == 0, 5)
    assert site.session_posts() == []


def head(method: str, target: str, lines: str = "", body: bytes = b"", version: str = "HTTP/1.1") -> bytes:
    return f"{method} {target} {version}\r\nHost: x\r\n{lines}\r\n".encode("latin-1") + body


FORM = "Content-Type: application/x-www-form-urlencoded\r\n"
GOOD_FORM = b"username=new-reader&email=reader%40example.org&plan=reader"
QUERY_21 = "&".join(f"p{n}=v" for n in range(21))
QUERY_TOO_MANY = "&".join(f"p{n}=v" for n in range(33))

# Each bad request, by family, with the 4xx it gets. Before, 21 query parameters were a 500 on every route,
# and a garbled request line or an unknown HTTP version got no answer at all.
BAD_REQUESTS: dict[str, tuple[bytes, int | tuple[int, ...]]] = {
    # framing
    **parser_cases("/"),
    **guard_cases("/"),
    "Content-Length not a number": (head("POST", "/signup", FORM + "Content-Length: 1_0\r\n", b"x" * 10), 400),
    "negative Content-Length": (head("POST", "/signup", FORM + "Content-Length: -1\r\n"), 400),
    "conflicting Content-Lengths": (head("POST", "/signup", FORM + "Content-Length: 2\r\nContent-Length: 3\r\n"), 400),
    "no Content-Length": (head("POST", "/signup", FORM), 411),
    "chunked form": (head("POST", "/signup", FORM + "Transfer-Encoding: chunked\r\n", b"0\r\n\r\n"), 411),
    "chunked webhook": (head("POST", "/stripe/webhook", "Transfer-Encoding: chunked\r\n", b"0\r\n\r\n"), 411),
    "unknown transfer coding": (head("POST", "/signup", FORM + "Transfer-Encoding: gzip\r\n"), 400),
    # limits
    "form over 16 KiB": (head("POST", "/signup", FORM + "Content-Length: 16385\r\n"), 413),
    "webhook over 1 MiB": (head("POST", "/stripe/webhook", f"Content-Length: {2 * 1024 * 1024}\r\n"), 413),
    "Content-Length of 5000 digits": (head("POST", "/signup", FORM + f"Content-Length: {'9' * 5000}\r\n"), 400),
    "a body on a page": (head("GET", "/", "Content-Length: 5\r\n", b"hello"), 413),
    "head over 16 KiB, at once": (head("GET", "/", f"X-Long: {'a' * 20000}\r\n"), 431),
    # h11 refuses it when a read leaves it incomplete (400), the guard when it came whole (431)
    "head over 80 KiB": (head("GET", "/", f"X-Long: {'a' * 90000}\r\n"), (400, 431)),
    "2000 headers": (head("GET", "/", "".join(f"X-{n}: v\r\n" for n in range(2000))), 431),
    "query over 16 KiB": (head("GET", "/?username=" + "a" * 20000), 431),
    "33 query parameters": (head("GET", "/?" + QUERY_TOO_MANY), 400),
    "33 query parameters, API": (head("GET", "/api/available?" + QUERY_TOO_MANY), 400),
    "form of 33 fields": (
        head("POST", "/signup", FORM + f"Content-Length: {len(QUERY_TOO_MANY)}\r\n", QUERY_TOO_MANY.encode()),
        400,
    ),
    "username over 64 characters": (head("GET", "/api/available?username=" + "a" * 65), 400),
    # encodings
    "NUL escaped in a username": (head("GET", "/api/available?username=a%00b"), 400),
    "newline escaped in a username": (head("GET", "/api/available?username=a%0Ab"), 400),
    "invalid UTF-8 escaped in a username": (head("GET", "/api/available?username=%ff%fe"), 400),
    "overlong UTF-8 escaped in a username": (head("GET", "/api/available?username=%C0%AF"), 400),
    "right-to-left override in a username": (head("GET", "/api/available?username=%E2%80%AEabc"), 400),
    "form body not UTF-8": (head("POST", "/signup", FORM + "Content-Length: 4\r\n", b"\xff\xfe\xfd\xfc"), 400),
    "form body with NUL": (
        head("POST", "/signup", FORM + "Content-Length: 19\r\n", b"username=a%00b&x=y\n"),
        400,
    ),
    "form as JSON": (head("POST", "/signup", "Content-Type: application/json\r\nContent-Length: 2\r\n", b"{}"), 415),
    "form as multipart": (
        head("POST", "/signup", "Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 0\r\n"),
        415,
    ),
    "form with no content type": (head("POST", "/signup", f"Content-Length: {len(GOOD_FORM)}\r\n", GOOD_FORM), 415),
    "escaped path traversal": (head("GET", "/%2e%2e/%2e%2e/etc/passwd"), 404),
    "NUL escaped in the path": (head("GET", "/welcome%00"), 404),
    "session id with a slash": (head("GET", "/welcome?session_id=cs_test_a%2Fb"), 404),
    "webhook signed badly": (
        head("POST", "/stripe/webhook", "Content-Length: 2\r\nStripe-Signature: t=1,v1=x\r\n", b"{}"),
        400,
    ),
    # methods
    "unknown method": (head("BREW", "/"), 405),
    "PUT": (head("PUT", "/signup", "Content-Length: 0\r\n"), 405),
    "DELETE": (head("DELETE", "/"), 405),
    "PATCH": (head("PATCH", "/api/available", "Content-Length: 0\r\n"), 405),
    "OPTIONS": (head("OPTIONS", "/"), 405),
    "TRACE": (head("TRACE", "/"), 405),
    "lower-case get": (head("get", "/"), 405),
    "GET on the form": (head("GET", "/signup"), 405),
    "GET on the webhook": (head("GET", "/stripe/webhook"), 405),
    "POST on a page": (head("POST", "/welcome", "Content-Length: 0\r\n"), 405),
}


@pytest.mark.parametrize(("raw", "status"), BAD_REQUESTS.values(), ids=BAD_REQUESTS.keys())
def test_a_bad_request_gets_its_4xx_and_the_site_keeps_serving(site: Site, capfd, raw, status):
    assert status_of(exchange(site.port, raw)) in (status if isinstance(status, tuple) else (status,))
    assert page_status(site) == 200
    assert "Traceback" not in capfd.readouterr().err
    assert site.session_posts() == []
    assert site.app.dispatcher.pending == 0


ODD_QUERIES = {
    "21 parameters": QUERY_21,
    "32 parameters": "&".join(f"p{n}=v" for n in range(32)),
    "a parameter repeated": "username=first&username=second&username=third",
    "a lone percent": "username=%",
    "a bad escape": "username=%zz",
    "a %u escape": "username=%u0041",
    "plus for space": "username=a+b",
    "an empty name": "=value&&&",
    "no equals": "username",
    "semicolons": "username=a;email=b",
    "escaped ampersand": "username=a%26email%3Db",
    "15 KB of one value": "email=" + "a" * 15000,
}


@pytest.mark.parametrize("query", ODD_QUERIES.values(), ids=ODD_QUERIES.keys())
def test_odd_queries_are_answered_on_every_route_never_with_a_5xx(site: Site, query):
    """Before, 21 query parameters made every route answer 500."""
    for path in ("/", "/api/available", "/welcome", "/api/ready"):
        status = status_of(request(site.port, "GET", f"{path}?{query}"))
        assert status < 500, (path, status)
    assert status_of(request(site.port, "GET", f"/?{query}")) == 200


def test_a_repeated_parameter_counts_once_the_first(site: Site):
    answer = request(site.port, "GET", "/api/available?username=alice&username=free-name")
    assert json.loads(answer.split("\r\n\r\n", 1)[1])["username"] == "alice"
