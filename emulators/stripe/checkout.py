"""The fake's prices and Checkout Session routes, and its stand-in for Stripe's hosted Checkout page.

API routes (form-encoded as stripe-python sends them; `emulators.stripe.forms`):

* `GET /v1/prices?lookup_keys[]=..&active=true&expand[]=data.product&limit=N`: the registered prices
  whose lookup key is listed (at most 10 keys, as Stripe allows), newest first.
* `POST /v1/checkout/sessions`: `mode=subscription` only; `line_items[0][price]` (a registered, active
  price) and `[quantity]`; `customer_email`, `metadata[..]`, `subscription_data[metadata][..]`,
  `success_url` (required), `cancel_url`, `payment_method_collection` (`always`|`if_required`),
  `client_reference_id`, `expires_at`. Any other parameter is 400 `Received unknown parameter`, as Stripe
  answers. Returns the session: `id` `cs_test_...`, `status: open`, `url` = this fake's hosted page.
* `GET /v1/checkout/sessions?status=open|complete|expired&created[gte]=T&limit=N&starting_after=ID`
  (newest first) and `GET /v1/checkout/sessions/{id}`.
* `POST /v1/checkout/sessions/{id}/expire`.

Hosted page (no API key, as a browser reaches it): `GET /checkout/{id}` shows the price, the email and
a "Pay" button; `POST /checkout/{id}/pay` completes the session (`StripeWorld.complete_checkout`) and
answers 303 to `success_url` with `{CHECKOUT_SESSION_ID}` replaced; "Cancel" links to `cancel_url`.

Where it differs from Stripe: no card form, no payment (Pay always succeeds; a zero-amount session with
`payment_method_collection=if_required` says so on the page); sessions never expire by themselves
(`expire_checkout` or the expire route); `line_items` is never rendered on the session; list filters
other than `status`, `created[gte]` and paging are not modelled; `customer_details` holds only the email.
"""

from __future__ import annotations

import html
import re
from typing import Any

from emulators.stripe.state import CHECKOUT_STATUSES, CheckoutSession, Price, StripeWorld

MAX_LOOKUP_KEYS = 10
SESSION_PARAMS = frozenset(
    {
        "mode", "line_items", "customer_email", "metadata", "subscription_data", "success_url", "cancel_url",
        "payment_method_collection", "client_reference_id", "expires_at", "expand", "allow_promotion_codes",
        "billing_address_collection", "locale",
    }
)  # fmt: skip
_SESSION_PATH = re.compile(r"/v1/checkout/sessions/(cs_[A-Za-z0-9_]{1,200})")
_EXPIRE_PATH = re.compile(r"/v1/checkout/sessions/(cs_[A-Za-z0-9_]{1,200})/expire")
_PAGE_PATH = re.compile(r"/checkout/(cs_[A-Za-z0-9_]{1,200})(/pay)?")


class CheckoutError(Exception):
    """An API error: status, message and Stripe's extra fields (`param`, `code`)."""

    def __init__(self, status: int, message: str, **extra: str) -> None:
        super().__init__(message)
        self.status = status
        self.extra = extra


def one_string(params: dict[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise CheckoutError(400, f"Invalid string: {name}", param=name)
    return value


def list_limit(params: dict[str, Any]) -> int:
    text = one_string(params, "limit") or "10"
    if not text.isdigit() or not 1 <= int(text) <= 100:
        raise CheckoutError(400, "Invalid integer: limit must be between 1 and 100", param="limit")
    return int(text)


def _strings(value: Any, name: str) -> dict[str, str]:
    if value is None:
        return {}
    if value == "":  # Stripe: an empty string clears a hash
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise CheckoutError(400, f"Invalid hash: {name}", param=name)
    for key, text in value.items():
        if len(key) > 40 or len(text) > 500:
            raise CheckoutError(400, f"Invalid {name}: keys up to 40 characters, values up to 500", param=name)
    return dict(value)


def list_prices(world: StripeWorld, params: dict[str, Any]) -> dict[str, Any]:
    keys = params.get("lookup_keys", [])
    if isinstance(keys, str):
        keys = [keys]
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise CheckoutError(400, "Invalid array: lookup_keys", param="lookup_keys")
    if len(keys) > MAX_LOOKUP_KEYS:
        raise CheckoutError(400, f"lookup_keys: at most {MAX_LOOKUP_KEYS} keys", param="lookup_keys")
    active = one_string(params, "active")
    if active not in (None, "true", "false"):
        raise CheckoutError(400, "Invalid boolean: active", param="active")
    expand = params.get("expand", [])
    if not isinstance(expand, list) or any(path != "data.product" for path in expand):
        raise CheckoutError(400, f"This property cannot be expanded ({expand}).", param="expand")
    limit = list_limit(params)
    with world.lock:
        found: list[Price] = [
            p
            for p in sorted(world.prices.values(), key=lambda p: p.id, reverse=True)
            if (not keys or p.lookup_key in keys) and (active is None or p.active == (active == "true"))
        ]
        data = [world.render_price(p, expand_product=bool(expand)) for p in found[:limit]]
    return {"object": "list", "url": "/v1/prices", "has_more": len(found) > limit, "data": data}


def create_session(world: StripeWorld, params: dict[str, Any], base_url: str) -> dict[str, Any]:
    unknown = sorted(set(params) - SESSION_PARAMS)
    if unknown:
        raise CheckoutError(400, f"Received unknown parameter: {unknown[0]}", param=unknown[0])
    if one_string(params, "mode") != "subscription":
        raise CheckoutError(400, "The fake models mode=subscription only", param="mode")
    items = params.get("line_items")
    if not isinstance(items, list) or len(items) != 1 or not isinstance(items[0], dict):
        raise CheckoutError(400, "line_items: exactly one item (the fake's limit)", param="line_items")
    item = items[0]
    if set(item) - {"price", "quantity"}:
        raise CheckoutError(400, "line_items[0]: price and quantity only", param="line_items[0]")
    quantity = item.get("quantity", "1")
    if not isinstance(quantity, str) or not quantity.isdigit() or int(quantity) < 1:
        raise CheckoutError(400, "Invalid integer: line_items[0][quantity]", param="line_items[0][quantity]")
    if not one_string(params, "success_url"):
        raise CheckoutError(400, "Missing required param: success_url.", param="success_url")
    collection = one_string(params, "payment_method_collection")
    if collection not in (None, "always", "if_required"):
        raise CheckoutError(400, f"Invalid payment_method_collection: {collection}", param="payment_method_collection")
    for name in ("customer_email", "cancel_url", "client_reference_id"):
        one_string(params, name)
    reference = one_string(params, "client_reference_id")
    if reference is not None and len(reference) > 200:
        raise CheckoutError(400, "client_reference_id: at most 200 characters", param="client_reference_id")
    metadata = _strings(params.get("metadata"), "metadata")
    sub_data = params.get("subscription_data") or {}
    if not isinstance(sub_data, dict) or set(sub_data) - {"metadata"}:
        raise CheckoutError(400, "subscription_data: the fake models metadata only", param="subscription_data")
    sub_meta = _strings(sub_data.get("metadata"), "subscription_data[metadata]")
    with world.lock:
        price = world.prices.get(item.get("price") or "")
        if price is None:
            raise CheckoutError(400, f"No such price: '{item.get('price')}'", code="resource_missing", param="price")
        if not price.active:
            raise CheckoutError(400, f"The price specified is inactive: '{price.id}'", param="line_items[0][price]")
        clean = {**params, "line_items": [{"price": price.id, "quantity": quantity}], "metadata": metadata}
        clean["subscription_data"] = {"metadata": sub_meta}
        session = world.create_checkout(clean, lambda session_id: f"{base_url}/checkout/{session_id}")
        return world.render_checkout_session(session)


def list_sessions(world: StripeWorld, params: dict[str, Any]) -> dict[str, Any]:
    status = one_string(params, "status")
    if status is not None and status not in CHECKOUT_STATUSES:
        raise CheckoutError(400, f"Invalid status: {status}", param="status")
    created = params.get("created")
    since = 0
    if created is not None:
        gte = created.get("gte") if isinstance(created, dict) else None
        if not isinstance(gte, str) or not gte.isdigit() or set(created) != {"gte"}:
            raise CheckoutError(400, "The fake models created[gte] only", param="created")
        since = int(gte)
    limit = list_limit(params)
    after = one_string(params, "starting_after")
    with world.lock:
        ordered = sorted(world.checkout_sessions.values(), key=lambda s: (-s.created, s.id))
        if after is not None:
            ids = [s.id for s in ordered]
            if after not in ids:
                raise CheckoutError(404, f"No such checkout.session: '{after}'", code="resource_missing")
            ordered = ordered[ids.index(after) + 1 :]
        found = [s for s in ordered if (status is None or s.status == status) and s.created >= since]
        data = [world.render_checkout_session(s) for s in found[:limit]]
    return {"object": "list", "url": "/v1/checkout/sessions", "has_more": len(found) > limit, "data": data}


def session_route(world: StripeWorld, method: str, path: str) -> dict[str, Any] | None:
    """GET a session or POST its expiry; None when the path is neither."""
    if method == "POST" and (match := _EXPIRE_PATH.fullmatch(path)):
        with world.lock:
            session = _known(world, match.group(1))
            if session.status != "open":
                message = f"Only Checkout Sessions with a status of open can be expired ({session.status})"
                raise CheckoutError(400, message)
            return world.render_checkout_session(world.expire_checkout(session.id))
    if method == "GET" and (match := _SESSION_PATH.fullmatch(path)):
        with world.lock:
            return world.render_checkout_session(_known(world, match.group(1)))
    return None


def _known(world: StripeWorld, session_id: str) -> CheckoutSession:
    session = world.checkout_sessions.get(session_id)
    if session is None:
        raise CheckoutError(404, f"No such checkout.session: '{session_id}'", code="resource_missing", param="session")
    return session


def hosted_page(world: StripeWorld, method: str, path: str) -> tuple[int, dict[str, str], bytes] | None:
    """The stand-in for checkout.stripe.com: (status, headers, HTML) or None when the path is not one."""
    match = _PAGE_PATH.fullmatch(path)
    if match is None:
        return None
    with world.lock:
        session = world.checkout_sessions.get(match.group(1))
        if session is None:
            return 404, {}, _page("Not found", "<p>This checkout page does not exist.</p>")
        if match.group(2) and method == "POST":
            if session.status != "open":
                return 409, {}, _page("Closed", f"<p>This checkout is {session.status}.</p>")
            world.complete_checkout(session.id)
            target = (session.text("success_url") or "").replace("{CHECKOUT_SESSION_ID}", session.id)
            return 303, {"Location": target}, b""
        if match.group(2) or method != "GET":
            return 405, {"Allow": "GET"}, _page("Not allowed", "<p>Use the Pay button.</p>")
        price = world.prices[session.price]
        return 200, {}, _checkout_html(session, price)


def _checkout_html(session: CheckoutSession, price: Price) -> bytes:
    esc = html.escape
    amount = f"{price.unit_amount / 100:.2f} {price.currency.upper()} / {price.interval}"
    free = price.unit_amount == 0 and session.text("payment_method_collection") == "if_required"
    note = "<p>No card needed.</p>" if free else "<p>(The fake takes no card: Pay always succeeds.)</p>"
    cancel = session.text("cancel_url")
    body = (
        f"<p>{esc(price.product_name)}: <strong>{esc(amount)}</strong></p>"
        f"<p>Email: <span id=email>{esc(session.text('customer_email') or '')}</span></p>{note}"
        f'<form method=post action="/checkout/{esc(session.id)}/pay"><button type=submit>Pay</button></form>'
        + (f'<p><a href="{esc(cancel)}">Cancel</a></p>' if cancel else "")
    )
    if session.status != "open":
        body = f"<p>This checkout is {esc(session.status)}.</p>"
    return _page("Fake Stripe Checkout", body)


def _page(title: str, body: str) -> bytes:
    return (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{html.escape(title)}</title></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    ).encode()
