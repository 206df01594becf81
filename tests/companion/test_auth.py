"""The upload page and API are for signed-in readers only, as Alex itself judges each request's cookies."""

from __future__ import annotations

import httpx
import pytest

from tests.companion.harness import Companion
from tests.support.alex_web import AlexWeb

API_PATHS = [
    "/_hosted/api/uploads",
    "/_hosted/api/uploads/parts",
    "/_hosted/api/uploads/complete",
    "/_hosted/api/uploads/abort",
]
PLAN = {"name": "Book.pdf", "size": 10, "type": "application/pdf"}


def test_signed_in_reader_gets_the_upload_page(signed_in: httpx.Client) -> None:
    page = signed_in.get("/_hosted/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    for marker in ('id="file-input"', 'id="drop-zone"', 'id="file-list"', "/_hosted/upload.js"):
        assert marker in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


def test_signed_out_page_goes_to_alex_login(signed_out: httpx.Client) -> None:
    answer = signed_out.get("/_hosted/")
    assert answer.status_code == 302
    assert answer.headers["location"] == "/login?callbackUrl=/_hosted/"


def test_bare_prefix_redirects_to_the_page(signed_out: httpx.Client) -> None:
    answer = signed_out.get("/_hosted")
    assert answer.status_code == 308
    assert answer.headers["location"] == "/_hosted/"


@pytest.mark.parametrize("path", API_PATHS)
@pytest.mark.parametrize("cookie", [None, "authjs.session-token=forged", "other=1", "authjs.session-token="])
def test_api_refuses_signed_out_requests_with_401_json(companion: Companion, path: str, cookie: str | None) -> None:
    headers = {"Cookie": cookie} if cookie else {}
    answer = httpx.post(f"{companion.url}{path}", json=PLAN, headers=headers)
    assert answer.status_code == 401
    assert answer.json() == {"error": "You are signed out. Sign in again, then add your books."}


def test_every_request_asks_alex(companion: Companion, alex_web: AlexWeb, signed_in: httpx.Client) -> None:
    assert signed_in.get("/_hosted/").status_code == 200
    checks = alex_web.session_checks
    assert signed_in.get("/_hosted/").status_code == 200
    assert alex_web.session_checks == checks + 1


def test_page_assets_and_health_need_no_session(signed_out: httpx.Client) -> None:
    assert signed_out.get("/_hosted/upload.js").headers["content-type"].startswith("text/javascript")
    assert signed_out.get("/_hosted/upload.css").headers["content-type"].startswith("text/css")
    assert signed_out.get("/_hosted/healthz").status_code == 200


def test_unknown_hosted_paths_are_404_not_alex(signed_in: httpx.Client) -> None:
    assert signed_in.get("/_hosted/other").status_code == 404
    answer = signed_in.post("/_hosted/api/other", json={})
    assert answer.status_code == 404
    assert "error" in answer.json()


def test_api_wants_post(signed_in: httpx.Client) -> None:
    answer = signed_in.get("/_hosted/api/uploads")
    assert answer.status_code == 405
    assert answer.json() == {"error": "Use POST."}


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "http://127.0.0.1:1"])
def test_api_refuses_posts_from_another_site(shared_reader: httpx.Client, origin: str) -> None:
    answer = shared_reader.post("/_hosted/api/uploads", json=PLAN, headers={"Origin": origin})
    assert answer.status_code == 403
    assert answer.json() == {"error": "This request did not come from your library's page."}


def test_api_accepts_its_own_origin(signed_in: httpx.Client, companion: Companion) -> None:
    answer = signed_in.post("/_hosted/api/uploads", json=PLAN, headers={"Origin": companion.url})
    assert answer.status_code == 200


@pytest.mark.parametrize(
    ("body", "content_type", "status", "error"),
    [
        (b'{"name": "a.pdf"}', "text/plain", 415, "Send the request as JSON."),
        (b"not json", "application/json", 400, "That request is not valid JSON."),
        (b"[1, 2]", "application/json", 400, "That request is not valid JSON."),
        (b"null", "application/json", 400, "That request is not valid JSON."),
        (b'{"a": "' + b"x" * 70_000 + b'"}', "application/json", 413, "That request is too large."),
    ],
)
def test_malformed_api_requests_are_refused(
    shared_reader: httpx.Client, body: bytes, content_type: str, status: int, error: str
) -> None:
    answer = shared_reader.post("/_hosted/api/uploads", content=body, headers={"Content-Type": content_type})
    assert answer.status_code == status
    assert answer.json() == {"error": error}


def test_alex_down_during_session_check_is_a_502_not_a_sign_out(companion: Companion, alex_web: AlexWeb) -> None:
    cookie = alex_web.cookie_header()
    alex_web.stop()
    answer = httpx.post(f"{companion.url}/_hosted/api/uploads", json=PLAN, headers={"Cookie": cookie})
    assert answer.status_code == 502
    assert answer.json() == {"error": "Your library is not answering right now. Please try again in a moment."}
    assert httpx.get(f"{companion.url}/_hosted/", headers={"Cookie": cookie}).status_code == 502
