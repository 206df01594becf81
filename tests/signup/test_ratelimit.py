"""Per-address token buckets: 429 with Retry-After, addresses independent, memory bounded."""

from __future__ import annotations

import pytest

from public_http.clients import client_address
from signup.app import RateLimits
from signup.ratelimit import RateLimiter
from tests.signup.conftest import Site


@pytest.fixture
def site_options():
    return {"rates": RateLimits(available_per_min=3, signup_per_min=2, page_per_min=5)}


def test_availability_is_429_with_retry_after_past_the_limit_per_address(site: Site):
    first = {"Fly-Client-IP": "203.0.113.7"}
    for _ in range(3):
        assert site.get("/api/available", params={"username": "someone"}, headers=first).status_code == 200
    limited = site.get("/api/available", params={"username": "someone"}, headers=first)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    other = {"Fly-Client-IP": "2001:db8::1"}
    assert site.get("/api/available", params={"username": "someone"}, headers=other).status_code == 200


def test_signup_posts_are_limited_separately(site: Site):
    headers = {"Fly-Client-IP": "198.51.100.9"}
    form = {"username": "x", "email": "bad", "plan": "reader"}
    assert [site.post("/signup", data=form, headers=headers).status_code for _ in range(3)] == [400, 400, 429]
    assert site.get("/api/available", params={"username": "someone"}, headers=headers).status_code == 200


def test_the_bucket_refills_and_forgets_the_oldest_address():
    now = [0.0]
    limiter = RateLimiter(60, burst=2, max_addresses=3, clock=lambda: now[0])
    assert [limiter.take("a") for _ in range(3)] == [None, None, 1]
    now[0] += 1.0
    assert limiter.take("a") is None
    for address in ("b", "c", "d", "e"):
        limiter.take(address)
    assert len(limiter) == 3


def test_the_client_address_is_flys_header_when_it_is_an_address():
    assert client_address({"Fly-Client-IP": "203.0.113.7"}, "10.0.0.1") == "203.0.113.7"
    assert client_address({}, "10.0.0.1") == "10.0.0.1"
    assert client_address({"fly-client-ip": "not an address"}, "10.0.0.1") == "10.0.0.1"
