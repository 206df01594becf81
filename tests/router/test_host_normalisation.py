"""The Host header is looked up lowercase, without a port or one trailing dot; a missing or malformed
Host (whitespace, control characters, a bad port or IPv6 literal) is a 400 page."""

from __future__ import annotations

import httpx
import pytest

from tests.router.harness import Router, raw_exchange


@pytest.mark.parametrize(
    "host",
    [
        "ALICE.EXAMPLE.COM",
        "Alice.Example.Com",
        "alice.example.com:443",
        "alice.example.com.",
        "Alice.Example.COM.:8080",
    ],
)
def test_the_host_is_matched_without_case_port_or_trailing_dot(client: httpx.Client, host: str) -> None:
    response = client.get("/", headers={"Host": host})

    assert response.status_code == 200
    assert response.headers["fly-replay"] == "app=ah-t0000001"


@pytest.mark.parametrize(
    "host, shown", [("[::1]", "[::1]"), ("[::1]:8080", "[::1]"), ("[2001:DB8::1]:443", "[2001:db8::1]")]
)
def test_an_ipv6_literal_is_understood_and_is_no_library(client: httpx.Client, host: str, shown: str) -> None:
    response = client.get("/", headers={"Host": host})

    assert response.status_code == 404
    assert f"<strong>{shown}</strong>" in response.text


@pytest.mark.parametrize(
    "host",
    [
        "alice.example.com:http",
        "alice.example.com:123456",
        "alice.example.com:443:443",
        "[::1",
        "[not-an-ip]:80",
        "user@alice.example.com",
        "alice.example.com/path",
        ".",
        ":8080",
    ],
)
def test_a_malformed_host_is_a_bad_request(client: httpx.Client, host: str) -> None:
    response = client.get("/", headers={"Host": host})

    assert response.status_code == 400
    assert "fly-replay" not in response.headers
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "Bad request" in response.text


@pytest.mark.parametrize(
    "request_bytes",
    [
        pytest.param(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", id="no-host-http-1.1"),
        pytest.param(b"GET / HTTP/1.0\r\n\r\n", id="no-host-http-1.0"),
        pytest.param(b"GET / HTTP/1.1\r\nHost:\r\nConnection: close\r\n\r\n", id="empty-host"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: alice .example.com\r\nConnection: close\r\n\r\n", id="space"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: alice\t.example.com\r\nConnection: close\r\n\r\n", id="tab"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: alice\x01.example.com\r\nConnection: close\r\n\r\n", id="control"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: alice\x7f.example.com\r\nConnection: close\r\n\r\n", id="delete"),
        pytest.param("GET / HTTP/1.1\r\nHost: alicé.example.com\r\nConnection: close\r\n\r\n".encode(), id="non-ascii"),
    ],
)
def test_a_missing_host_or_one_with_whitespace_or_control_characters_is_a_bad_request(
    shared_router: Router, request_bytes: bytes
) -> None:
    status, answer = raw_exchange(shared_router.port, request_bytes)

    assert status == 400, answer
    assert "fly-replay" not in answer.lower()
