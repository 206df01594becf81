"""The router's own pages: 503 for a paused library, 410 for a closed one (with its export deadline in
words), 404 for an unknown host. Small, self-contained HTML, with everything shown in them escaped."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from tests.router.conftest import StartRouter


def assert_self_contained(response: httpx.Response) -> None:
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    body = response.text.lower()
    assert "<script" not in body and "src=" not in body and "href=" not in body
    assert len(response.content) < 2048


def test_a_suspended_library_is_a_paused_page_asking_the_owner_to_check_billing(client: httpx.Client) -> None:
    response = client.get("/books", headers={"Host": "bob.example.com"})

    assert response.status_code == 503
    assert response.headers["retry-after"] == "3600"
    assert "bob.example.com" in response.text
    assert "paused" in response.text and "billing" in response.text and "payment" in response.text
    assert_self_contained(response)


def test_a_cancelled_library_offers_its_export_until_the_date_in_words(client: httpx.Client) -> None:
    response = client.get("/", headers={"Host": "carol.example.com"})

    assert response.status_code == 410
    assert "carol.example.com" in response.text and "was closed" in response.text
    assert "Its owner can ask for an export of their books until 31 December 2099." in response.text
    assert "2099-12-31" not in response.text
    assert_self_contained(response)


def test_a_cancelled_library_past_its_export_deadline_says_the_window_ended(client: httpx.Client) -> None:
    response = client.get("/", headers={"Host": "dave.example.com"})

    assert response.status_code == 410
    assert "export window for its books ended on 31 January 2001" in response.text
    assert "can ask" not in response.text
    assert_self_contained(response)


def test_a_cancelled_library_without_an_export_deadline_just_says_it_closed(start: StartRouter) -> None:
    router = start(hosts={"fay.example.com": {"app": "ah-t0000006", "state": "cancelled"}})

    response = httpx.get(f"{router.url}/", headers={"Host": "fay.example.com"})

    assert response.status_code == 410
    assert "<strong>fay.example.com</strong> was closed." in response.text
    assert "export" not in response.text
    assert_self_contained(response)


def test_the_export_deadline_day_itself_is_still_open(start: StartRouter) -> None:
    today = datetime.now(UTC).date()
    router = start(
        hosts={"erin.example.com": {"app": "ah-t0000005", "state": "cancelled", "exportUntil": today.isoformat()}}
    )

    response = httpx.get(f"{router.url}/", headers={"Host": "erin.example.com"})

    assert f"until {today.day} {today:%B} {today.year}" in response.text


def test_an_unknown_host_is_no_library_here(client: httpx.Client) -> None:
    response = client.get("/", headers={"Host": "nobody.example.com"})

    assert response.status_code == 404
    assert "No library here" in response.text
    assert "<strong>nobody.example.com</strong>" in response.text
    assert_self_contained(response)


def test_an_unknown_host_is_html_escaped_on_the_page(client: httpx.Client) -> None:
    response = client.get("/", headers={"Host": "<script>alert(1)<.example.com\"&'"})

    assert response.status_code == 404
    assert "<script>" not in response.text
    assert "&lt;script&gt;alert(1)&lt;.example.com&quot;&amp;&#39;" in response.text
    assert_self_contained(response)


def test_a_long_unknown_host_is_cut_short_on_the_page(client: httpx.Client) -> None:
    host = ".".join(["a" * 60] * 4)  # 243 characters, a valid name
    response = client.get("/", headers={"Host": host})

    assert response.status_code == 404
    assert f"<strong>{host[:100]}...</strong>" in response.text
    assert host not in response.text


def test_a_bad_request_page_does_not_echo_the_host(client: httpx.Client) -> None:
    response = client.get("/", headers={"Host": "<script>alert(1)</script>"})

    assert response.status_code == 400
    assert "script" not in response.text
    assert_self_contained(response)


@pytest.mark.parametrize("host, status", [("bob.example.com", 503), ("carol.example.com", 410), ("x.example.com", 404)])
def test_head_gets_the_pages_headers_without_a_body(client: httpx.Client, host: str, status: int) -> None:
    response = client.head("/", headers={"Host": host})

    assert response.status_code == status
    assert response.content == b""
    assert int(response.headers["content-length"]) > 0
