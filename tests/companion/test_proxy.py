"""Everything outside /_hosted/ reaches Alex unchanged, streaming, and a dead Alex gives a plain 502."""

from __future__ import annotations

import json
import socket
import time

import httpx
import pytest

from tests.companion.harness import Companion
from tests.support.alex_web import AlexWeb
from tests.support.poll import wait_until


def test_alex_pages_pass_through_with_their_redirects(signed_out: httpx.Client, signed_in: httpx.Client) -> None:
    home = signed_out.get("/")
    assert home.status_code == 307
    assert home.headers["location"] == "/login"
    login = signed_out.get("/login")
    assert login.status_code == 200
    assert 'id="login-form"' in login.text
    assert signed_in.get("/").headers["location"] == "/library"
    assert signed_in.get("/library").status_code == 200
    assert signed_out.get("/no-such-page").status_code == 404


def test_absolute_location_is_not_rewritten(signed_out: httpx.Client) -> None:
    answer = signed_out.get("/redirect")
    assert answer.status_code == 307
    assert answer.headers["location"] == "https://reader.example.com/elsewhere?x=1"


def test_every_set_cookie_header_reaches_the_browser(signed_out: httpx.Client) -> None:
    answer = signed_out.get("/set-cookies")
    assert answer.headers.get_list("set-cookie") == ["first=1; Path=/", "second=2; Path=/; HttpOnly"]


def test_request_line_headers_and_body_reach_alex_unchanged(companion: Companion) -> None:
    body = b"x=1&y=" + b"z" * 200_000
    headers = {
        "Host": "reader.example.com",
        "Cookie": "a=1; b=2",
        "X-Forwarded-Proto": "https",
        "Content-Type": "text/plain",
    }
    answer = httpx.post(f"{companion.url}/echo?q=%2F1&r=2", content=body, headers=headers)
    seen = answer.json()
    got = {name.lower(): value for name, value in seen["headers"]}
    assert seen["method"] == "POST"
    assert seen["path"] == "/echo?q=%2F1&r=2"
    assert got["host"] == "reader.example.com"
    assert got["cookie"] == "a=1; b=2"
    assert got["x-forwarded-proto"] == "https"
    assert seen["body"] == body.decode()


def test_login_through_the_proxy_sets_alex_session_cookie(companion: Companion) -> None:
    with httpx.Client(base_url=companion.url) as browser:
        answer = browser.post(
            "/login",
            data={"email": "reader@example.com", "password": "correct-horse-42", "callbackUrl": "/_hosted/"},
        )
        assert answer.status_code == 303
        assert answer.headers["location"] == "/library"  # Alex ignores callbackUrl
        assert browser.get("/_hosted/").status_code == 200


def test_library_events_arrive_one_by_one_through_the_proxy(companion: Companion) -> None:
    """Alex sends an event every 100 ms for 5 s: the first ones must arrive long before the stream ends."""
    start = time.monotonic()
    arrivals: list[float] = []
    with httpx.stream("GET", f"{companion.url}/api/library/events?count=50", timeout=10) as stream:
        assert stream.headers["content-type"] == "text/event-stream"
        for line in stream.iter_lines():
            if line.startswith("data: "):
                arrivals.append(time.monotonic() - start)
                assert json.loads(line[6:])["n"] == len(arrivals) - 1
            if len(arrivals) == 3:
                break
    assert arrivals[0] < 1.0, arrivals
    assert arrivals[2] - arrivals[0] >= 0.15, arrivals  # spaced out as sent, not delivered in one lump


def test_closing_the_tab_closes_alex_event_stream(companion: Companion, alex_web: AlexWeb) -> None:
    with httpx.stream("GET", f"{companion.url}/api/library/events?count=100", timeout=10) as stream:
        next(stream.iter_lines())
    wait_until(lambda: alex_web.event_streams_closed != 0, "Alex's event stream to be closed")
    assert alex_web.event_streams_closed == 1


def test_alex_gone_after_it_answered_gives_a_plain_502_page(companion: Companion, alex_web: AlexWeb) -> None:
    alex_web.stop()
    answer = httpx.get(f"{companion.url}/library")
    assert answer.status_code == 502
    assert answer.headers["content-type"].startswith("text/html")
    assert "not answering" in answer.text
    health = httpx.get(f"{companion.url}/_hosted/healthz")
    assert health.status_code == 503
    assert health.json() == {"ok": False, "alex": False, "waiting": 0}


def test_health_says_alex_answers(signed_out: httpx.Client) -> None:
    assert signed_out.get("/_hosted/healthz").json() == {"ok": True, "alex": True, "waiting": 0}


def test_proxy_copes_with_raw_http_pipelining_of_keepalive_requests(companion: Companion) -> None:
    """Two requests on one connection (keep-alive), as Fly's proxy sends them."""
    port = int(companion.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        request = b"GET /login HTTP/1.1\r\nHost: reader.example.com\r\n\r\n"
        sock.sendall(request)
        first = _read_response(sock)
        sock.sendall(request)
        second = _read_response(sock)
    assert first.startswith(b"HTTP/1.1 200") and second.startswith(b"HTTP/1.1 200")


def _read_response(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head


@pytest.mark.parametrize(
    "typed", ["Reader@example.com", "reader@Example.com", "READER@EXAMPLE.COM", " reader@example.com"]
)
def test_alex_matches_the_login_email_exactly(companion: Companion, typed: str) -> None:
    """Alex's credentials check is `WHERE email = ?1`: only the stored spelling signs in (the image stores
    the welcome email's spelling, tests/image/test_entrypoint_owner_email.py)."""
    answer = httpx.post(f"{companion.url}/login", data={"email": typed, "password": "correct-horse-42"})
    assert answer.status_code == 401
    assert "Invalid email or password" in answer.text
