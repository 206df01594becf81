"""Per-address token buckets: 429 with Retry-After, addresses independent, memory bounded."""

from __future__ import annotations

import pytest
import requests

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


def test_200_addresses_of_one_ipv6_64_are_one_client(site: Site):
    """Before, each full IPv6 address had its own bucket: 200 addresses of one /64 got no 429."""
    site.app.limits["available"] = RateLimiter(3, total_per_minute=1200, clock=lambda: 0.0)  # no refill meanwhile
    with requests.Session() as session:
        statuses = [
            session.get(
                site.url + "/api/available",
                params={"username": "someone"},
                headers={"Fly-Client-IP": f"2001:db8:1:2::{n:x}"},
                timeout=10,
            ).status_code
            for n in range(1, 201)
        ]
    assert statuses == [200] * 3 + [429] * 197
    neighbour = {"Fly-Client-IP": "2001:db8:1:3::1"}  # the next /64: another client
    assert site.get("/api/available", params={"username": "someone"}, headers=neighbour).status_code == 200


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("203.0.113.7", "::ffff:203.0.113.7"),  # an IPv4 client seen through an IPv6 socket
        ("2001:db8::1", "2001:0db8:0000:0000:ffff:ffff:ffff:ffff"),  # spelt long, the other end of the /64
        ("2001:db8::1", "2001:DB8::2"),  # upper case
    ],
)
def test_one_client_however_its_address_is_spelt(first, second):
    limiter = RateLimiter(60, burst=1)
    assert limiter.take(first) is None
    assert limiter.take(second) is not None


def test_the_route_ceiling_holds_across_addresses():
    """Each address under its own limit, all of them together under the route's."""
    now = [0.0]
    limiter = RateLimiter(60, total_per_minute=5, clock=lambda: now[0])
    assert [limiter.take(f"198.51.100.{n}") for n in range(7)] == [None] * 5 + [12, 12]
    now[0] += 12.0
    assert limiter.take("198.51.100.200") is None


def test_a_route_over_its_ceiling_is_429_for_every_address_and_the_others_routes_are_not(site: Site):
    site.app.limits["available"] = RateLimiter(60, total_per_minute=4)
    statuses = [
        site.get("/api/available", params={"username": "someone"}, headers={"Fly-Client-IP": f"192.0.2.{n}"})
        for n in range(6)
    ]
    assert [r.status_code for r in statuses] == [200] * 4 + [429] * 2
    assert int(statuses[-1].headers["Retry-After"]) >= 1
    assert site.get("/", headers={"Fly-Client-IP": "192.0.2.99"}).status_code == 200
