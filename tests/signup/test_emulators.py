"""The fake Stripe's prices and Checkout, and the GitHub stand-in's workflow dispatches, as clients see them."""

from __future__ import annotations

import httpx
import pytest
import requests
import stripe

from emulators.faults import Fault
from emulators.stripe.forms import FormError, decode
from tests.signup.conftest import GITHUB_TOKEN, REPOSITORY, Site

DISPATCHES = f"/repos/{REPOSITORY}/actions/workflows/stripe-sync.yml/dispatches"


def test_forms_decode_stripes_bracket_notation():
    assert decode("a[b][0][c]=1&a[b][0][d]=2&k[]=x&k[]=y&m[u]=v+w") == {
        "a": {"b": [{"c": "1", "d": "2"}]}, "k": ["x", "y"], "m": {"u": "v w"},
    }  # fmt: skip
    with pytest.raises(FormError):
        decode("a[0]=1&a[2]=3")
    with pytest.raises(FormError):
        decode("a=1&a[b]=2")


def test_prices_are_listed_by_lookup_key_with_amount_interval_and_product(site: Site):
    site.world.add_price("reader_yearly", 4000, interval="year", active=False)
    prices = site.client().v1.prices.list(
        params={"lookup_keys": ["reader_monthly", "reader_yearly"], "active": True, "expand": ["data.product"]}
    )
    (price,) = prices.data
    assert price.recurring is not None
    assert (price.lookup_key, price.unit_amount, price.currency, price.recurring.interval) == (
        "reader_monthly", 400, "eur", "month",
    )  # fmt: skip
    assert price.product.name == "Reader"  # type: ignore[union-attr]
    raw = requests.get(
        f"{site.stripe_url}/v1/prices?lookup_keys[]=reader_yearly&active=false",
        headers={"Authorization": f"Bearer {site.world.api_key}", "Stripe-Version": site.world.api_version or ""},
    ).json()
    assert [p["unit_amount"] for p in raw["data"]] == [4000]


def test_completing_a_checkout_makes_a_customer_a_subscription_and_the_events(site: Site):
    session_id = site.open_checkout("new-reader")
    client = site.client()
    opened = client.v1.checkout.sessions.retrieve(session_id)
    assert (opened.status, opened.customer, opened.subscription) == ("open", None, None)
    assert [s.id for s in client.v1.checkout.sessions.list(params={"status": "open"}).data] == [session_id]
    session = site.world.complete_checkout(session_id)
    done = client.v1.checkout.sessions.retrieve(session_id)
    assert (done.status, done.payment_status, done.url) == ("complete", "paid", None)
    customer = client.v1.customers.retrieve(str(done.customer))
    assert customer.metadata.to_dict() == {}  # type: ignore[union-attr]  # Checkout copies the session's metadata nowhere
    sub = client.v1.subscriptions.list(params={"customer": str(done.customer)}).data[0]
    assert sub.id == session.subscription and sub.status == "active"
    assert sub.metadata.to_dict() == {} and sub["items"].data[0].price.lookup_key == "reader_monthly"
    assert [e["type"] for e in site.world.events] == [
        "customer.created", "customer.subscription.created", "checkout.session.completed",
    ]  # fmt: skip
    assert client.v1.checkout.sessions.list(params={"status": "open"}).data == []


def test_the_subscription_gets_the_sessions_subscription_data_metadata(site: Site):
    site.post("/signup", data={"username": "new-reader", "email": "r@example.org", "plan": "library"})
    (session,) = site.world.checkout_sessions.values()
    site.world.complete_checkout(session.id)
    sub = site.world.subscriptions[session.subscription or ""]
    assert sub.metadata == {"username": "new-reader"} and sub.lookup_keys == ["library_monthly"]
    assert site.world.customers[session.customer or ""].email == "r@example.org"
    assert site.world.customers[session.customer or ""].metadata == {}


def test_the_hosted_page_pays_and_goes_to_the_success_url(site: Site):
    site.post("/signup", data={"username": "new-reader", "email": "r@example.org", "plan": "reader"})
    (session,) = site.world.checkout_sessions.values()
    page = requests.get(session.url, timeout=5)
    assert page.status_code == 200 and "Pay" in page.text and "r@example.org" in page.text
    paid = requests.post(session.url + "/pay", allow_redirects=False, timeout=5)
    assert paid.status_code == 303
    assert paid.headers["Location"] == f"https://www.books.example.com/welcome?session_id={session.id}"
    assert requests.post(session.url + "/pay", allow_redirects=False, timeout=5).status_code == 409


def test_expiring_a_checkout_frees_it_from_the_open_listing(site: Site):
    session_id = site.open_checkout("someone")
    expired = requests.post(
        f"{site.stripe_url}/v1/checkout/sessions/{session_id}/expire",
        headers={"Authorization": f"Bearer {site.world.api_key}", "Stripe-Version": site.world.api_version or ""},
    ).json()
    assert expired["status"] == "expired" and expired["url"] is None
    assert site.client().v1.checkout.sessions.list(params={"status": "open"}).data == []
    assert site.world.events[-1]["type"] == "checkout.session.expired"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"mode": "payment"}, "mode=subscription only"),
        ({"line_items": [{"price": "price_nope", "quantity": 1}]}, "No such price"),
        ({"success_url": ""}, "success_url"),
        ({"username": "x"}, "Received unknown parameter: username"),
        ({"payment_method_collection": "never"}, "payment_method_collection"),
    ],
    ids=["mode", "price", "success-url", "unknown-param", "collection"],
)
def test_a_checkout_request_stripe_would_refuse_is_400(site: Site, change, message):
    price = site.world.price_for_key("reader_monthly")
    assert price is not None
    params = {"mode": "subscription", "line_items": [{"price": price.id, "quantity": 1}],
              "success_url": "https://x.example/ok", **change}  # fmt: skip
    with pytest.raises(stripe.InvalidRequestError, match=message):
        site.client().v1.checkout.sessions.create(params=params)  # type: ignore[arg-type]


def test_a_workflow_dispatch_is_204_recorded_and_checked():
    from emulators.github import GitHubWorld, serve

    with serve(GitHubWorld(repository=REPOSITORY, token=GITHUB_TOKEN)) as (url, fake):
        http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {GITHUB_TOKEN}"})
        ok = http.post(DISPATCHES, json={"ref": "main", "inputs": {"reason": "webhook: 2 events"}})
        assert ok.status_code == 204 and ok.content == b""
        (dispatch,) = fake.world.dispatches
        assert (dispatch.workflow, dispatch.ref, dispatch.inputs) == (
            "stripe-sync.yml",
            "main",
            {"reason": "webhook: 2 events"},
        )
        assert http.post(DISPATCHES, json={"inputs": {}}).status_code == 422
        assert (
            httpx.post(url + DISPATCHES, json={"ref": "main"}, headers={"Authorization": "Bearer nope"}).status_code
            == 401
        )
        fake.world.declare_workflow("stripe-sync.yml", ("stack",))
        refused = http.post(DISPATCHES, json={"ref": "main", "inputs": {"reason": "x"}})
        assert refused.status_code == 422 and "Unexpected inputs provided: ['reason']" in refused.text
        assert http.post(DISPATCHES.replace("stripe-sync", "other"), json={"ref": "main"}).status_code == 404
        fake.faults.add(Fault(path="/dispatches$", method="POST", status=502))
        assert http.post(DISPATCHES, json={"ref": "main", "inputs": {"stack": "prod"}}).status_code == 502
        assert http.post(DISPATCHES, json={"ref": "main", "inputs": {"stack": "prod"}}).status_code == 204
        assert len(fake.world.dispatches) == 2
        http.close()
