"""Signing out on a custom domain keeps the reader on that domain.

Alex's sign-out answer points at NEXTAUTH_URL's origin (the tenant's primary hostname), whatever host the
reader used; the companion moves it to the host the request came to (image/companion/lib/pages.js).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.companion.harness import Companion
from tests.support.alex_web import AlexWeb

PRIMARY = "http://reader.books.example.com"
CUSTOM = "library.example.org"


@pytest.fixture
def primary_alex(library: Path) -> Iterator[AlexWeb]:
    with AlexWeb(library=library, nextauth_url=PRIMARY) as alex:
        yield alex


@pytest.fixture
def on_primary(start: Callable[..., Companion], primary_alex: AlexWeb) -> Companion:
    return start(alex_url=primary_alex.url, **primary_alex.companion_env())


def sign_out(companion: Companion, alex: AlexWeb, host: str, *, json_answer: bool) -> httpx.Response:
    headers = {"Host": host, "Cookie": alex.cookie_header(), "Content-Type": "application/x-www-form-urlencoded"}
    if json_answer:  # next-auth/react's signOut(), what Alex's settings page calls
        headers["X-Auth-Return-Redirect"] = "1"
    return httpx.post(f"{companion.url}/api/auth/signout", content="callbackUrl=%2Flogin", headers=headers)


def test_sign_out_on_a_custom_domain_lands_on_that_domain(on_primary: Companion, primary_alex: AlexWeb) -> None:
    answer = sign_out(on_primary, primary_alex, CUSTOM, json_answer=True)
    assert answer.status_code == 200
    assert answer.json() == {"url": f"http://{CUSTOM}/login"}
    assert int(answer.headers["content-length"]) == len(answer.content)


def test_a_form_sign_out_on_a_custom_domain_is_redirected_to_that_domain(
    on_primary: Companion, primary_alex: AlexWeb
) -> None:
    answer = sign_out(on_primary, primary_alex, CUSTOM, json_answer=False)
    assert answer.status_code == 302
    assert answer.headers["location"] == f"http://{CUSTOM}/login"


def test_the_reader_proxy_tells_the_scheme_and_host(on_primary: Companion, primary_alex: AlexWeb) -> None:
    headers = {
        "Cookie": primary_alex.cookie_header(),
        "X-Forwarded-Host": CUSTOM,
        "X-Forwarded-Proto": "https",
        "X-Auth-Return-Redirect": "1",
    }
    answer = httpx.post(f"{on_primary.url}/api/auth/signout", headers=headers)
    assert answer.json() == {"url": f"https://{CUSTOM}/login"}


@pytest.mark.parametrize("json_answer", [True, False])
def test_sign_out_on_the_primary_hostname_is_left_as_alex_says(
    on_primary: Companion, primary_alex: AlexWeb, json_answer: bool
) -> None:
    answer = sign_out(on_primary, primary_alex, "reader.books.example.com", json_answer=json_answer)
    where = answer.json()["url"] if json_answer else answer.headers["location"]
    assert where == f"{PRIMARY}/login"


def test_other_locations_are_not_moved(on_primary: Companion) -> None:
    """Only NEXTAUTH_URL's origin is the reader's own: a link elsewhere stays where it points."""
    answer = httpx.get(f"{on_primary.url}/redirect", headers={"Host": CUSTOM})
    assert answer.headers["location"] == "https://reader.example.com/elsewhere?x=1"
