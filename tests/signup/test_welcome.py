"""GET /welcome and /api/ready: where the library will be, and a link once the tenant answers."""

from __future__ import annotations

import requests

from signup.ratelimit import RateLimiter
from tests.signup.conftest import SESSIONS, Site


def paid_session(site: Site, username: str = "new-reader") -> str:
    response = site.post("/signup", data={"username": username, "email": "reader@example.org", "plan": "reader"})
    assert response.status_code == 303
    session_id = response.headers["Location"].rsplit("/", 1)[1]
    site.world.complete_checkout(session_id)
    return session_id


def test_the_welcome_page_says_where_the_library_will_be_and_the_login_email(site: Site):
    session_id = paid_session(site)
    page = site.get("/welcome", params={"session_id": session_id})
    assert page.status_code == 200
    assert "Your library will be at <span id=library-url>https://new-reader.books.example.com</span>" in page.text
    assert "reader@example.org" in page.text and "<a href" not in page.text


def test_ready_is_false_until_the_tenant_answers_then_true(site: Site):
    session_id = paid_session(site)
    before = site.get("/api/ready", params={"session_id": session_id}).json()
    assert before == {"ready": False, "url": "https://new-reader.books.example.com"}
    assert site.tenant.asked == ["/new-reader/login"]
    site.tenant.ready = True
    after = site.get("/api/ready", params={"session_id": session_id}).json()
    assert after == {"ready": True, "url": "https://new-reader.books.example.com"}


def test_an_unfinished_or_unknown_session_is_404(site: Site):
    response = site.post("/signup", data={"username": "slow-payer", "email": "s@example.org", "plan": "reader"})
    open_id = response.headers["Location"].rsplit("/", 1)[1]
    assert site.get("/welcome", params={"session_id": open_id}).status_code == 404
    assert site.get("/welcome", params={"session_id": "cs_test_doesnotexist"}).status_code == 404
    assert site.get("/welcome", params={"session_id": "../../v1/customers"}).status_code == 404
    assert site.get("/welcome").status_code == 404
    assert site.get("/api/ready", params={"session_id": "cs_test_nope"}).status_code == 404


def session_reads(site: Site) -> list[str]:
    """The Checkout Sessions the site asked Stripe for, one entry per call."""
    return [r.path for r in site.fake.faults.requests() if r.method == "GET" and r.path.startswith(SESSIONS + "/")]


def test_150_made_up_session_ids_cost_10_stripe_calls_then_429(site: Site):
    """Before, each made-up id was one Stripe call: 150 in a row, no 429, the site's Stripe budget spent."""
    site.app.limits["lookup"] = RateLimiter(10, total_per_minute=120, clock=lambda: 0.0)  # no refill meanwhile
    with requests.Session() as session:
        statuses = [
            session.get(site.url + "/welcome", params={"session_id": f"cs_test_madeup{n:04d}"}, timeout=10).status_code
            for n in range(150)
        ]
    assert statuses == [404] * 10 + [429] * 140
    assert len(session_reads(site)) == 10


def test_a_made_up_session_id_asked_again_is_answered_from_memory(site: Site):
    for n in range(150):  # from many addresses, so that no per-address limit is what stops it
        response = site.get(
            "/api/ready", params={"session_id": "cs_test_madeup"}, headers={"Fly-Client-IP": f"198.51.100.{n % 250}"}
        )
        assert response.status_code == 404
    assert session_reads(site) == [SESSIONS + "/cs_test_madeup"]


def test_many_addresses_together_cannot_spend_more_than_the_lookup_ceiling(site: Site):
    site.app.limits["lookup"] = RateLimiter(10, total_per_minute=20, clock=lambda: 0.0)
    statuses = [
        site.get("/welcome", params={"session_id": f"cs_test_spread{n}"}, headers={"Fly-Client-IP": f"203.0.113.{n}"})
        for n in range(40)
    ]
    assert [r.status_code for r in statuses] == [404] * 20 + [429] * 20
    assert len(session_reads(site)) == 20


def test_an_unfinished_session_is_remembered_for_a_moment(site: Site):
    response = site.post("/signup", data={"username": "slow-payer", "email": "s@example.org", "plan": "reader"})
    session_id = response.headers["Location"].rsplit("/", 1)[1]
    assert site.get("/welcome", params={"session_id": session_id}).status_code == 404
    assert site.get("/welcome", params={"session_id": session_id}).status_code == 404
    assert len(session_reads(site)) == 1  # remembered for a few seconds (tests/signup/test_sessions.py)
