"""GET /welcome and /api/ready: where the library will be, and a link once the tenant answers."""

from __future__ import annotations

from tests.signup.conftest import Site


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
