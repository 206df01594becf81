"""Readers find the upload page from the library, and come back to it after signing in.

Nothing in Alex links to /_hosted/, and Alex's login page ignores callbackUrl (it always goes to /library):
the companion adds an "Add books" link to the library's pages and brings a reader who set out from
/_hosted/ back there (image/companion/lib/pages.js). The browser test is in test_upload_in_browser.py.
"""

from __future__ import annotations

import re

import httpx
import pytest

from tests.companion.harness import Companion
from tests.support.alex_web import EMAIL, PASSWORD

PAGE = {"Accept": "text/html,application/xhtml+xml"}
LINK = '<a id="hosted-add-books" class="hosted-add-books" href="/_hosted/">Add books</a>'


@pytest.mark.parametrize("path", ["/library", "/collections"])
def test_library_pages_get_an_add_books_link_right_after_body(signed_in: httpx.Client, path: str) -> None:
    page = signed_in.get(path, headers={**PAGE, "Accept-Encoding": "gzip"})
    assert page.status_code == 200
    assert re.search(r"<body>" + re.escape('<link rel="stylesheet" href="/_hosted/add-books.css">' + LINK), page.text)
    assert page.text.count("hosted-add-books") == 2
    assert "content-length" not in page.headers  # the page grew: streamed on, chunked


def test_the_links_stylesheet_is_public_css(signed_out: httpx.Client) -> None:
    css = signed_out.get("/_hosted/add-books.css")
    assert css.status_code == 200
    assert css.headers["content-type"] == "text/css; charset=utf-8"
    assert ".hosted-add-books" in css.text


@pytest.mark.parametrize(
    "headers",
    [
        {"RSC": "1", "Accept": "*/*"},  # Next's in-app navigation fetches the same path for its payload
        {"Next-Router-Prefetch": "1", "RSC": "1"},
        {"Accept": "application/json"},
    ],
    ids=["rsc", "prefetch", "json"],
)
def test_only_full_page_loads_get_the_link(signed_in: httpx.Client, headers: dict[str, str]) -> None:
    assert "hosted-add-books" not in signed_in.get("/library", headers=headers).text


def test_pages_outside_the_library_get_no_link(signed_in: httpx.Client, signed_out: httpx.Client) -> None:
    assert "hosted-add-books" not in signed_out.get("/login", headers=PAGE).text
    assert "hosted-add-books" not in signed_in.get("/echo", headers=PAGE).text


def test_a_reader_sent_to_sign_in_from_the_upload_page_comes_back_to_it(companion: Companion) -> None:
    with httpx.Client(base_url=companion.url, timeout=30) as browser:
        sent = browser.get("/_hosted/")
        assert sent.status_code == 302
        assert "hosted-return=1" in sent.headers["set-cookie"]

        signed = browser.post("/login", data={"email": EMAIL, "password": PASSWORD})
        assert signed.headers["location"] == "/library"  # where Alex's login page always goes
        back = browser.get("/library", headers=PAGE)
        assert back.status_code == 303
        assert back.headers["location"] == "/_hosted/"
        assert "hosted-return=; Path=/; Max-Age=0" in back.headers["set-cookie"]
        assert browser.get("/_hosted/").status_code == 200

        # Once is enough: the library is the library again.
        assert browser.get("/library", headers=PAGE).status_code == 200


def test_next_in_app_navigation_to_the_library_is_sent_back_too(companion: Companion) -> None:
    """Alex's login page moves with router.push('/library'): Next fetches /library?_rsc=... with RSC: 1 and
    loads whatever non-Next page a redirect ends on in full."""
    with httpx.Client(base_url=companion.url, timeout=30) as browser:
        browser.get("/_hosted/")
        browser.post("/login", data={"email": EMAIL, "password": PASSWORD})
        prefetch = browser.get("/library?_rsc=abc", headers={"RSC": "1", "Next-Router-Prefetch": "1"})
        assert prefetch.status_code == 200  # a prefetch is not the reader going there
        push = browser.get("/library?_rsc=abc", headers={"RSC": "1"})
        assert (push.status_code, push.headers["location"]) == (303, "/_hosted/")


def test_a_reader_who_signs_in_from_anywhere_else_lands_in_the_library(companion: Companion) -> None:
    with httpx.Client(base_url=companion.url, timeout=30) as browser:
        assert browser.get("/").headers["location"] == "/login"
        browser.post("/login", data={"email": EMAIL, "password": PASSWORD})
        assert browser.get("/library", headers=PAGE).status_code == 200


def test_the_return_cookie_alone_redirects_no_one_signed_out(signed_out: httpx.Client) -> None:
    answer = signed_out.get("/library", headers={**PAGE, "Cookie": "hosted-return=1"})
    assert (answer.status_code, answer.headers["location"]) == (307, "/login")
