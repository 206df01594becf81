"""Signing out and removing a user take effect on every route, Alex's own and /_hosted/.

Alex's sessions are stateless tokens valid 30 days (the stand-in's are the same: tests/support/alex_web.py),
so Alex alone would still take a cookie copied before its reader signed out, or the cookie of a user the
owner deleted. The companion judges each request's token itself (image/companion/lib/sessions.js).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.companion.harness import Companion
from tests.support import nextauth_jwt
from tests.support.alex_web import EMAIL, PASSWORD, SECRET, USER_ID, AlexWeb

PLAN = {"name": "Book.pdf", "size": 10, "type": "application/pdf"}
COOKIE = nextauth_jwt.cookie_name(None)
GUEST = ("u-guest", "Guest@example.com", "guest-password-1")


@contextmanager
def signed_in_browser(companion: Companion, email: str = EMAIL, password: str = PASSWORD) -> Iterator[httpx.Client]:
    """A client that signed in through Alex's login form, keeping its cookies as a browser does."""
    with httpx.Client(base_url=companion.url, timeout=30) as browser:
        answer = browser.post("/login", data={"email": email, "password": password})
        assert answer.status_code == 303, answer.text
        assert browser.cookies.get(COOKIE)
        yield browser


def sign_out(browser: httpx.Client) -> httpx.Response:
    """What next-auth/react's signOut() sends."""
    answer = browser.post(
        "/api/auth/signout",
        content="callbackUrl=%2Flogin",
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Auth-Return-Redirect": "1"},
    )
    assert answer.status_code == 200, answer.text
    return answer


def assert_refused_everywhere(companion: Companion, cookie: str) -> None:
    """Every kind of route treats the session as signed out, and tells the browser to drop the cookie."""
    headers = {"Cookie": f"{COOKIE}={cookie}"}
    with httpx.Client(base_url=companion.url, headers=headers, timeout=30) as stale:
        books = stale.get("/api/books")
        assert books.status_code == 401, "Alex's API took the session"
        page = stale.get("/library")
        assert (page.status_code, page.headers.get("location")) == (307, "/login"), "Alex's page took the session"
        assert stale.get("/api/auth/session").json() == {}
        assert stale.post("/_hosted/api/uploads", json=PLAN).status_code == 401, "the upload API took the session"
        assert stale.get("/_hosted/").status_code == 302
        for answer in (books, page):
            assert f"{COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax" in answer.headers.get_list("set-cookie")


def assert_works(companion: Companion, cookie: str) -> None:
    with httpx.Client(base_url=companion.url, headers={"Cookie": f"{COOKIE}={cookie}"}, timeout=30) as client:
        assert client.get("/api/books").status_code == 200
        plan = {**PLAN, "name": f"Book {uuid.uuid4().hex[:8]}.pdf"}  # each plan holds its name a while
        assert client.post("/_hosted/api/uploads", json=plan).status_code == 200


@pytest.fixture
def browser(companion: Companion) -> Iterator[httpx.Client]:
    with signed_in_browser(companion) as client:
        yield client


def test_a_cookie_copied_before_sign_out_is_refused_on_every_route(companion: Companion, browser: httpx.Client) -> None:
    copied = browser.cookies[COOKIE]
    assert_works(companion, copied)
    # The browser goes on reading: Alex re-issues its token, so the one it signs out with is not the copy.
    assert browser.get("/library").status_code == 200
    assert browser.cookies[COOKIE] != copied
    latest = browser.cookies[COOKIE]

    sign_out(browser)

    assert_refused_everywhere(companion, copied)
    assert_refused_everywhere(companion, latest)
    assert "sessions: user u-reader signed out" in companion.output()


def test_signing_in_again_after_signing_out_works(companion: Companion, browser: httpx.Client) -> None:
    sign_out(browser)
    with signed_in_browser(companion) as again:
        assert again.get("/api/books").status_code == 200
        assert again.post("/_hosted/api/uploads", json={**PLAN, "name": "Again.pdf"}).status_code == 200


def test_signing_in_from_a_browser_still_carrying_a_refused_cookie_keeps_the_new_session(
    companion: Companion, browser: httpx.Client
) -> None:
    stale = browser.cookies[COOKIE]
    sign_out(browser)
    answer = httpx.post(
        f"{companion.url}/login", data={"email": EMAIL, "password": PASSWORD}, headers={"Cookie": f"{COOKIE}={stale}"}
    )
    assert answer.status_code == 303
    set_cookies = answer.headers.get_list("set-cookie")
    assert len(set_cookies) == 1 and not set_cookies[0].startswith(f"{COOKIE}=;"), set_cookies
    assert_works(companion, set_cookies[0].split(";")[0].split("=", 1)[1])


def test_one_readers_sign_out_leaves_other_readers_signed_in(
    companion: Companion, alex_web: AlexWeb, browser: httpx.Client
) -> None:
    alex_web.add_user(*GUEST)
    guest = alex_web.new_session(GUEST[0])
    sign_out(browser)
    assert_works(companion, guest)


def test_a_deleted_users_cookie_is_refused_on_every_route(companion: Companion, alex_web: AlexWeb) -> None:
    alex_web.add_user(*GUEST)
    guest = alex_web.new_session(GUEST[0])
    owner = alex_web.new_session(USER_ID)
    assert_works(companion, guest)

    alex_web.delete_user(GUEST[0])  # what Alex's admin page does: the row goes, the token stays valid to Alex

    assert_refused_everywhere(companion, guest)
    assert_works(companion, owner)
    assert "sessions: refused a session of user u-guest (deleted)" in companion.output()


def test_sign_outs_are_remembered_across_companion_restarts(
    start: Callable[..., Companion], alex_web: AlexWeb, tmp_path: Path
) -> None:
    kept = tmp_path / "state" / "signed-out.json"
    first = start(HOSTED_SIGNOUTS_FILE=str(kept))
    with signed_in_browser(first) as browser:
        copied = browser.cookies[COOKIE]
        sign_out(browser)
    first.stop()
    saved = kept.read_text()
    assert list(json.loads(saved)["signedOut"]) == [USER_ID]
    assert copied not in saved  # no token is ever written down

    second = start(HOSTED_SIGNOUTS_FILE=str(kept))
    assert_refused_everywhere(second, copied)


def test_an_unreadable_sign_out_list_signs_everyone_out_rather_than_no_one(
    start: Callable[..., Companion], alex_web: AlexWeb, tmp_path: Path
) -> None:
    kept = tmp_path / "signed-out.json"
    kept.write_text("{not json")
    before = alex_web.new_session(USER_ID, now=time.time() - 5)
    companion = start(HOSTED_SIGNOUTS_FILE=str(kept))
    assert_refused_everywhere(companion, before)
    assert "is not a sign-out list" in companion.output()
    with signed_in_browser(companion) as again:  # a new sign-in works
        assert again.get("/api/books").status_code == 200


@pytest.mark.parametrize(
    "cookie",
    [
        nextauth_jwt.encode({"sub": USER_ID, "id": USER_ID}, "another-secret", COOKIE),
        nextauth_jwt.encode({"sub": USER_ID, "id": USER_ID}, SECRET, "__Secure-authjs.session-token"),
        nextauth_jwt.encode({"sub": USER_ID, "id": USER_ID}, SECRET, COOKIE, now=0),  # expired in 1970
        "not-a-token",
        "a.b.c.d.e",
    ],
    ids=["other secret", "other cookie name", "expired", "garbage", "five dots"],
)
def test_tokens_alex_would_not_take_pass_through_untouched(companion: Companion, cookie: str) -> None:
    """Not a session to Alex either: passed on as they came (Alex answers as signed out), never a 500."""
    answer = httpx.get(f"{companion.url}/api/books", headers={"Cookie": f"{COOKIE}={cookie}"})
    assert answer.status_code == 401
    assert not answer.headers.get_list("set-cookie")


def test_a_token_naming_no_user_is_refused(companion: Companion) -> None:
    token = nextauth_jwt.encode({"name": "x"}, SECRET, COOKIE)
    assert_refused_everywhere(companion, token)


def test_a_database_the_companion_cannot_read_is_a_502_never_a_pass(
    start: Callable[..., Companion], alex_web: AlexWeb, tmp_path: Path
) -> None:
    companion = start(DATABASE_PATH=str(tmp_path / "missing" / "library.db"))
    headers = {"Cookie": alex_web.cookie_header()}
    assert httpx.get(f"{companion.url}/api/books", headers=headers).status_code == 502
    assert httpx.get(f"{companion.url}/library", headers=headers).status_code == 502
    assert httpx.post(f"{companion.url}/_hosted/api/uploads", json=PLAN, headers=headers).status_code == 502
    assert "sessions: reading users from" in companion.output()
    # Without a session nothing needs the database.
    assert httpx.get(f"{companion.url}/login").status_code == 200
