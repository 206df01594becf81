"""GET / and POST /signup: the plans with Stripe's prices, the form, and the Checkout Session it creates."""

from __future__ import annotations

import html
from urllib.parse import parse_qs, urlsplit

import pytest

from emulators.faults import Fault
from tests.signup.conftest import API_KEY, SESSIONS, Site

FORM = {"username": "new-reader", "email": "reader@example.org", "plan": "reader"}


def test_the_plans_page_shows_each_plan_with_its_price_from_stripe(site: Site):
    site.world.add_price("reader_monthly", 450, currency="eur")  # the key moves to a new price: the page follows
    page = site.get("/")
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert "Free</span> <span class=price>Free" in text
    assert "€4.50 / month" in text and "€9.00 / month" in text and "€4.00" not in text
    listed = [r for r in site.fake.faults.requests() if r.path == "/v1/prices"]
    assert len(listed) == 1
    assert sorted(v for k, vs in listed[0].query.items() if k.startswith("lookup_keys") for v in vs) == [
        "free_monthly",
        "library_monthly",
        "reader_monthly",
    ]
    assert "Content-Security-Policy" in page.headers and "<script src=/_signup/signup.js" in page.text
    assert "<label for=username>" in page.text and "<label for=email>" in page.text


def test_signup_creates_the_checkout_session_and_redirects_to_it(site: Site):
    response = site.post("/signup", data=FORM)
    assert response.status_code == 303
    (sent,) = site.session_posts()
    price = site.world.price_for_key("reader_monthly")
    assert price is not None
    assert sent == {
        "mode": "subscription",
        "line_items": [{"price": price.id, "quantity": "1"}],
        "customer_email": "reader@example.org",
        "metadata": {"username": "new-reader", "plan": "reader"},
        "subscription_data": {"metadata": {"username": "new-reader"}},
        "client_reference_id": "new-reader",
        "success_url": "https://www.books.example.com/welcome?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": "https://www.books.example.com/?username=new-reader&email=reader%40example.org&plan=reader",
    }
    (session,) = site.world.checkout_sessions.values()
    assert response.headers["Location"] == session.url
    assert session.url.startswith(site.stripe_url + "/checkout/cs_test_")


def test_the_free_plan_goes_through_checkout_without_a_card(site: Site):
    assert site.post("/signup", data={**FORM, "plan": "free"}).status_code == 303
    (sent,) = site.session_posts()
    assert sent["payment_method_collection"] == "if_required"
    assert sent["line_items"][0]["price"] == site.world.price_for_key("free_monthly").id  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"email": "not-an-email"}, "Enter an email address"),
        ({"plan": "enterprise"}, "Choose one of the plans"),
        ({"username": "alice"}, "Username: this name is taken."),
        ({"username": "www"}, "is reserved"),
    ],
    ids=["bad-email", "unknown-plan", "taken-name", "reserved-name"],
)
def test_a_problem_re_renders_the_form_with_the_values_kept_and_no_checkout(site: Site, change, message):
    form = {**FORM, **change}
    response = site.post("/signup", data=form)
    assert response.status_code == 400
    text = html.unescape(response.text)
    assert message in text
    assert f'value="{form["username"]}"' in text and f'value="{form["email"]}"' in text
    if form["plan"] in ("free", "reader", "library"):
        assert f'value="{form["plan"]}" checked' in text
    assert site.session_posts() == []


def test_a_name_this_process_just_sent_to_checkout_is_held_before_stripe_lists_it(site: Site, monkeypatch):
    site.app.holds._ttl = 3600.0  # the listing is cached: only the local hold can know
    assert site.available("new-reader")["available"] is True
    assert site.post("/signup", data=FORM).status_code == 303
    assert site.available("new-reader")["available"] is False
    again = site.post("/signup", data={**FORM, "email": "other@example.org"})
    assert again.status_code == 400 and len(site.session_posts()) == 1


def test_the_cancel_url_brings_back_the_filled_form(site: Site):
    site.post("/signup", data=FORM)
    cancel = site.session_posts()[0]["cancel_url"]
    parts = urlsplit(cancel)
    page = site.get("/?" + parts.query)
    assert page.status_code == 200
    assert parse_qs(parts.query) == {"username": ["new-reader"], "email": ["reader@example.org"], "plan": ["reader"]}
    assert 'value="new-reader"' in page.text and 'value="reader@example.org"' in page.text
    assert 'value="reader" checked' in page.text


def test_prefill_values_are_escaped(site: Site):
    page = site.get("/", params={"username": '"><script>alert(1)</script>', "email": "a@b.c"})
    assert "<script>alert(1)" not in page.text and "&lt;script&gt;" in page.text


def test_a_stripe_failure_is_a_try_again_page_without_the_key(site: Site):
    site.get("/")  # prices cached
    site.fake.faults.add(Fault(path=SESSIONS, method="POST", status=500, times=10))
    response = site.post("/signup", data=FORM)
    assert response.status_code == 502 and "try again" in response.text.lower()
    assert API_KEY not in response.text and API_KEY[-8:] not in response.text and "Traceback" not in response.text


def test_a_refused_key_is_a_try_again_page_too(site: Site):
    site.world.api_key = "sk_test_rotated"
    response = site.get("/")
    assert response.status_code == 502 and API_KEY[-8:] not in response.text


def test_obviously_bad_input_is_refused_before_stripe(site: Site):
    before = len(site.fake.faults.requests())
    assert site.post("/signup", data={**FORM, "username": "a" * 65}).status_code == 400
    assert site.post("/signup", data={**FORM, "username": "new\x00reader"}).status_code == 400
    assert len(site.fake.faults.requests()) == before


def test_a_body_over_16_kib_is_413(site: Site):
    response = site.post("/signup", data={**FORM, "padding": "x" * 17_000})
    assert response.status_code == 413 and site.session_posts() == []


def test_a_body_that_is_not_a_form_is_415(site: Site):
    response = site.post("/signup", json=FORM)
    assert response.status_code == 415 and site.session_posts() == []


def test_health_answers_json(site: Site):
    response = site.get("/_signup/health")
    assert response.status_code == 200 and response.json()["ok"] is True and response.json()["usernames"] == 2
