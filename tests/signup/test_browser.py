"""The whole signup in Debian's Chromium: a taken name refused live, a free one, Checkout, Pay, welcome."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.signup.conftest import Site
from tests.support.browser import chromium, page, screenshot  # noqa: F401 - fixtures

if TYPE_CHECKING:
    from playwright.sync_api import Page


@pytest.fixture
def site_options():
    return {"self_public": True}


def test_a_stranger_signs_up_in_a_browser(site: Site, page: Page):  # noqa: F811
    from playwright.sync_api import expect

    page.goto(site.url + "/")
    expect(page.locator("body[data-ready=true]")).to_have_count(1)
    expect(page.get_by_text("€4.00 / month")).to_be_visible()
    screenshot(page, "plans")
    username = page.get_by_label("Username")
    username.fill("alice")
    status = page.locator("#username-status")
    expect(status).to_have_text("this name is taken")
    screenshot(page, "taken name refused")
    username.fill("new-reader")
    expect(status).to_have_text("new-reader.books.example.com is available")
    page.get_by_label("Email").fill("reader@example.org")
    page.get_by_label("Reader").check()
    screenshot(page, "form filled")
    page.get_by_role("button", name="Continue to payment").click()
    page.wait_for_url(site.stripe_url + "/checkout/cs_test_*")
    expect(page.locator("#email")).to_have_text("reader@example.org")
    screenshot(page, "fake checkout")
    page.get_by_role("button", name="Pay").click()
    page.wait_for_url(site.url + "/welcome?session_id=cs_test_*")
    expect(page.locator("#library-url")).to_have_text("https://new-reader.books.example.com")
    expect(page.locator("#library-url a")).to_have_count(0)
    screenshot(page, "welcome before the tenant answers")
    site.tenant.ready = True
    expect(page.locator("#library-url a")).to_have_attribute(
        "href", "https://new-reader.books.example.com", timeout=10_000
    )
    screenshot(page, "welcome with the link")
    (session,) = site.world.checkout_sessions.values()
    assert session.status == "complete"
    assert site.world.subscriptions[session.subscription or ""].metadata == {"username": "new-reader"}
