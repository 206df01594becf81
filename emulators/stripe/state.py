"""The fake Stripe account: customers, prices, subscriptions and Checkout Sessions, with the mutations tests drive.

Objects are rendered in the current API shape (docs/reference/stripe.md §2.2-2.3): `ended_at` and
`canceled_at` on the subscription, the period on each item, `price.lookup_key` inline, customer
metadata, and a `{"id", "object", "deleted": true}` stub once a customer is deleted. Timestamps are
unix seconds. The world is guarded by one lock; the HTTP layer renders under it.

Prices are registered with `add_price` (lookup key, amount, currency, interval); a subscription item
whose lookup key has a registered price renders that price, any other key a made-up one (500 or 5000
cents). Checkout Sessions (`create_checkout`, `complete_checkout`, `expire_checkout`) model what hosted
Checkout does in subscription mode; see `emulators/stripe/checkout.py` for the routes and the
differences from Stripe.

Every change is recorded in `events` as Stripe would send it and list it (`GET /v1/events`,
emulators/stripe/events.py), stamped with the world's clock: `customer.created|updated|deleted`,
`customer.subscription.created|updated|deleted` (and `.paused`/`.resumed` when a status enters or
leaves `paused`), `checkout.session.completed|expired`. Each event holds the object as it was then
(`data.object`) and, for an update, the fields it changed as they were (`data.previous_attributes`).
`drop_events` takes events away again, as if Stripe had never listed them (a test of the safety net).
"""

from __future__ import annotations

import itertools
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from emulators.clock import Clock, RealClock

STATUSES = (
    "incomplete", "incomplete_expired", "trialing", "active", "past_due", "canceled", "unpaid", "paused",
)  # fmt: skip
# Month-ish, enough for a plausible item period.
_PERIOD = 30 * 86400
_DEFAULT_AMOUNTS = {"monthly": 500, "yearly": 5000}
CHECKOUT_LIFETIME_S = 24 * 3600  # Stripe's default expires_at
CHECKOUT_STATUSES = ("open", "complete", "expired")


@dataclass
class Price:
    id: str
    lookup_key: str | None
    unit_amount: int
    currency: str
    interval: str  # month | year
    product: str
    product_name: str
    active: bool = True
    created: int = 1_760_000_000


@dataclass
class CheckoutSession:
    """A hosted Checkout Session; `params` is the create request as the fake decoded it."""

    id: str
    created: int
    expires_at: int
    price: str
    quantity: int
    params: dict[str, Any]
    url: str = ""
    status: str = "open"
    customer: str | None = None
    subscription: str | None = None

    def text(self, name: str) -> str | None:
        value = self.params.get(name)
        return value if isinstance(value, str) else None

    @property
    def metadata(self) -> dict[str, str]:
        return dict(self.params.get("metadata") or {})

    @property
    def subscription_metadata(self) -> dict[str, str]:
        data = self.params.get("subscription_data") or {}
        return dict(data.get("metadata") or {}) if isinstance(data, dict) else {}


@dataclass
class Customer:
    id: str
    created: int
    email: str | None
    metadata: dict[str, str] = field(default_factory=dict)
    deleted: bool = False


@dataclass
class Subscription:
    id: str
    customer: str
    created: int
    status: str
    lookup_keys: list[str | None]
    metadata: dict[str, str] = field(default_factory=dict)
    canceled_at: int | None = None
    ended_at: int | None = None


class StripeWorld:
    """State of one fake account. `api_key` and `api_version` are what requests must present."""

    def __init__(
        self, *, api_key: str = "sk_test_emulator", api_version: str | None = None, clock: Clock | None = None
    ) -> None:
        self.api_key = api_key
        self.api_version = api_version
        self.clock: Clock = clock or RealClock()
        self.lock = threading.RLock()
        self.customers: dict[str, Customer] = {}
        self.subscriptions: dict[str, Subscription] = {}
        self.prices: dict[str, Price] = {}
        self.checkout_sessions: dict[str, CheckoutSession] = {}
        self.events: list[dict[str, Any]] = []  # what Stripe would deliver to webhooks, oldest first
        self._ids = itertools.count(1)
        self._order: tuple[list[Subscription], dict[str, int]] | None = None  # only subscribe() changes it

    def _next(self, prefix: str) -> str:
        return f"{prefix}_E{next(self._ids):07d}"

    # --- mutations (what the Dashboard, Checkout or the billing engine would do) ---

    def add_customer(
        self,
        *,
        username: str | None = None,
        email: str | None = "owner@example.com",
        created: int = 1_760_000_000,
        metadata: dict[str, str] | None = None,
        id: str | None = None,
    ) -> str:
        with self.lock:
            cus_id = id or self._next("cus")
            meta = dict(metadata or {})
            if username is not None:
                meta["username"] = username
            self.customers[cus_id] = Customer(cus_id, created, email, meta)
            self.record_event("customer.created", self.render_customer(cus_id))
            return cus_id

    def subscribe(
        self,
        customer: str,
        lookup_key: str | None,
        *,
        status: str = "active",
        created: int | None = None,
        metadata: dict[str, str] | None = None,
        extra_lookup_keys: tuple[str | None, ...] = (),
        id: str | None = None,
    ) -> str:
        """A subscription whose metadata mirrors the customer's `username` unless `metadata` is given."""
        with self.lock:
            owner = self.customers[customer]
            self._check_status(status)
            sub_id = id or self._next("sub")
            meta = dict(metadata) if metadata is not None else _mirror(owner.metadata)
            self.subscriptions[sub_id] = Subscription(
                sub_id, customer, created or owner.created, status, [lookup_key, *extra_lookup_keys], meta
            )
            self._order = None
            self._subscription_event("customer.subscription.created", sub_id)
            return sub_id

    def set_status(self, sub_id: str, status: str) -> None:
        with self.lock:
            self._check_status(status)
            sub = self.subscriptions[sub_id]
            before = sub.status
            sub.status = status
            if status != before:
                self._subscription_event("customer.subscription.updated", sub_id, {"status": before})
                if "paused" in (before, status):
                    kind = "paused" if status == "paused" else "resumed"
                    self._subscription_event(f"customer.subscription.{kind}", sub_id)

    def change_price(self, sub_id: str, lookup_key: str | None) -> None:
        with self.lock:
            sub = self.subscriptions[sub_id]
            before = self.render_subscription(sub, expand_customer=False)["items"]
            sub.lookup_keys = [lookup_key]
            self._subscription_event("customer.subscription.updated", sub_id, {"items": before})

    def cancel(self, sub_id: str, *, at: int, requested_at: int | None = None) -> None:
        """Ends the subscription at `at` (`canceled_at` is when it was asked for; defaults to `at`)."""
        with self.lock:
            sub = self.subscriptions[sub_id]
            before = {"status": sub.status, "ended_at": sub.ended_at, "canceled_at": sub.canceled_at}
            sub.status = "canceled"
            sub.ended_at = at
            sub.canceled_at = requested_at if requested_at is not None else at
            # Stripe sends `.deleted` when a subscription ends (the object itself stays listable).
            self._subscription_event("customer.subscription.deleted", sub_id, before)

    def set_customer_metadata(self, customer: str, **metadata: str | None) -> None:
        """Sets keys; a None value removes the key (as Stripe does with an empty string)."""
        with self.lock:
            meta = self.customers[customer].metadata
            before = dict(meta)
            for key, value in metadata.items():
                if value is None:
                    meta.pop(key, None)
                else:
                    meta[key] = value
            if meta != before:
                self.record_event("customer.updated", self.render_customer(customer), {"metadata": before})

    def set_customer_email(self, customer: str, email: str | None) -> None:
        with self.lock:
            before = self.customers[customer].email
            self.customers[customer].email = email
            if email != before:
                self.record_event("customer.updated", self.render_customer(customer), {"email": before})

    def delete_customer(self, customer: str, *, at: int) -> None:
        """Deleting a customer cancels its subscriptions immediately (docs/reference/stripe.md §2.2)."""
        with self.lock:
            last = self.render_customer(customer)
            self.customers[customer].deleted = True
            for sub in self.subscriptions.values():
                if sub.customer == customer and sub.status not in ("canceled", "incomplete_expired"):
                    self.cancel(sub.id, at=at)
            # The event carries the customer as it was, not the stub a retrieve now answers.
            self.record_event("customer.deleted", {**last, "deleted": True})

    def _subscription_event(self, event_type: str, sub_id: str, previous: dict[str, Any] | None = None) -> None:
        self.record_event(
            event_type, self.render_subscription(self.subscriptions[sub_id], expand_customer=False), previous
        )

    @staticmethod
    def _check_status(status: str) -> None:
        if status not in STATUSES:
            raise ValueError(f"unknown subscription status {status!r} (statuses: {', '.join(STATUSES)})")

    # --- rendering (the JSON Stripe would send) ---

    def render_customer(self, cus_id: str) -> dict[str, Any]:
        cus = self.customers[cus_id]
        if cus.deleted:
            return {"id": cus.id, "object": "customer", "deleted": True}
        return {
            "id": cus.id,
            "object": "customer",
            "created": cus.created,
            "email": cus.email,
            "name": None,
            "livemode": False,
            "metadata": dict(cus.metadata),
            "currency": "usd",
            "delinquent": False,
        }

    def render_subscription(self, sub: Subscription, *, expand_customer: bool) -> dict[str, Any]:
        items = [self._render_item(sub, index, key) for index, key in enumerate(sub.lookup_keys)]
        return {
            "id": sub.id,
            "object": "subscription",
            "customer": self.render_customer(sub.customer) if expand_customer else sub.customer,
            "status": sub.status,
            "created": sub.created,
            "start_date": sub.created,
            "billing_cycle_anchor": sub.created,
            "cancel_at": None,
            "cancel_at_period_end": False,
            "canceled_at": sub.canceled_at,
            "ended_at": sub.ended_at,
            "cancellation_details": {
                "comment": None,
                "feedback": None,
                "reason": "cancellation_requested" if sub.status == "canceled" else None,
            },
            "collection_method": "charge_automatically",
            "currency": "usd",
            "livemode": False,
            "metadata": dict(sub.metadata),
            "items": {
                "object": "list",
                "data": items,
                "has_more": False,
                "total_count": len(items),
                "url": f"/v1/subscription_items?subscription={sub.id}",
            },
        }

    def _render_item(self, sub: Subscription, index: int, lookup_key: str | None) -> dict[str, Any]:
        registered = self.price_for_key(lookup_key)
        if registered is not None:
            price = self.render_price(registered)
        else:
            interval = "year" if lookup_key and lookup_key.endswith("_yearly") else "month"
            amount = _DEFAULT_AMOUNTS["yearly" if interval == "year" else "monthly"]
            if lookup_key and lookup_key.startswith("free_"):
                amount = 0  # the free plan's price, as the signup site's Stripe account holds it
            price_id = f"price_{lookup_key}" if lookup_key else f"price_nokey{index}"
            product = f"prod_{(lookup_key or 'unknown').split('_')[0]}"
            price = self.render_price(Price(price_id, lookup_key, amount, "usd", interval, product, product))
        return {
            "id": f"si_{sub.id[4:]}{index}",
            "object": "subscription_item",
            "subscription": sub.id,
            "created": sub.created,
            "quantity": 1,
            "metadata": {},
            "current_period_start": sub.created,
            "current_period_end": sub.created + _PERIOD,
            "price": price,
        }

    def render_price(self, price: Price, *, expand_product: bool = False) -> dict[str, Any]:
        product: Any = price.product
        if expand_product:
            product = {"id": price.product, "object": "product", "name": price.product_name, "active": True}
        return {
            "id": price.id,
            "object": "price",
            "active": price.active,
            "billing_scheme": "per_unit",
            "created": price.created,
            "currency": price.currency,
            "livemode": False,
            "lookup_key": price.lookup_key,
            "metadata": {},
            "nickname": None,
            "product": product,
            "recurring": {"interval": price.interval, "interval_count": 1, "usage_type": "licensed"},
            "type": "recurring",
            "unit_amount": price.unit_amount,
            "unit_amount_decimal": str(price.unit_amount),
        }

    def render_checkout_session(self, session: CheckoutSession) -> dict[str, Any]:
        amount = self.prices[session.price].unit_amount * session.quantity
        paid = session.status == "complete"
        return {
            "id": session.id,
            "object": "checkout.session",
            "mode": session.text("mode"),
            "status": session.status,
            "payment_status": ("no_payment_required" if amount == 0 else "paid") if paid else "unpaid",
            "url": session.url if session.status == "open" else None,
            "created": session.created,
            "expires_at": session.expires_at,
            "livemode": False,
            "currency": self.prices[session.price].currency,
            "amount_subtotal": amount,
            "amount_total": amount,
            "client_reference_id": session.text("client_reference_id"),
            "customer": session.customer,
            "customer_email": session.text("customer_email"),
            "customer_details": {"email": session.text("customer_email")} if paid else None,
            "metadata": session.metadata,
            "payment_method_collection": session.text("payment_method_collection") or "always",
            "subscription": session.subscription,
            "success_url": session.text("success_url"),
            "cancel_url": session.text("cancel_url"),
        }

    # --- prices and Checkout (what the Dashboard and hosted Checkout do) ---

    def add_price(
        self,
        lookup_key: str | None,
        unit_amount: int,
        *,
        currency: str = "eur",
        interval: str = "month",
        product_name: str | None = None,
        active: bool = True,
        id: str | None = None,
    ) -> str:
        """A recurring price; a lookup key moves to the newest price that claims it (transfer_lookup_key)."""
        with self.lock:
            if interval not in ("month", "year"):
                raise ValueError(f"interval must be month or year, got {interval!r}")
            price_id = id or self._next("price")
            for other in self.prices.values():
                if lookup_key is not None and other.lookup_key == lookup_key:
                    other.lookup_key = None
            name = product_name or (lookup_key or "product").split("_")[0].title()
            product = f"prod_{name.lower()}"
            self.prices[price_id] = Price(price_id, lookup_key, unit_amount, currency, interval, product, name, active)
            return price_id

    def price_for_key(self, lookup_key: str | None) -> Price | None:
        if lookup_key is None:
            return None
        return next((p for p in self.prices.values() if p.lookup_key == lookup_key), None)

    def create_checkout(self, params: dict[str, Any], url_for: Any) -> CheckoutSession:
        """A session from already-checked create parameters; `url_for(id)` is its hosted page's address."""
        with self.lock:
            item = params["line_items"][0]
            now = int(self.clock.time())
            session_id = f"cs_test_{secrets.token_hex(12)}"
            expires_at = int(params.get("expires_at") or now + CHECKOUT_LIFETIME_S)
            quantity = int(item.get("quantity", 1))
            session = CheckoutSession(
                session_id, now, expires_at, item["price"], quantity, params, url=url_for(session_id)
            )
            self.checkout_sessions[session_id] = session
            return session

    def complete_checkout(self, session_id: str) -> CheckoutSession:
        """What paying on hosted Checkout does in subscription mode.

        A new customer with the session's email (and no metadata: Checkout copies the session's
        `metadata` nowhere), an active subscription on the session's price whose metadata is
        `subscription_data.metadata`, the session `complete`; then the events Stripe sends, in its order.
        """
        with self.lock:
            session = self.checkout_sessions[session_id]
            if session.status != "open":
                raise ValueError(f"checkout session {session_id} is {session.status}, not open")
            now = int(self.clock.time())
            cus = self.add_customer(email=session.text("customer_email"), created=now)
            key = self.prices[session.price].lookup_key
            sub = self.subscribe(cus, key, created=now, metadata=session.subscription_metadata)
            session.status, session.customer, session.subscription = "complete", cus, sub
            self.record_event("checkout.session.completed", self.render_checkout_session(session))
            return session

    def expire_checkout(self, session_id: str) -> CheckoutSession:
        """What `POST /v1/checkout/sessions/{id}/expire` (or the session's expires_at passing) does."""
        with self.lock:
            session = self.checkout_sessions[session_id]
            if session.status != "open":
                raise ValueError(f"checkout session {session_id} is {session.status}, not open")
            session.status = "expired"
            self.record_event("checkout.session.expired", self.render_checkout_session(session))
            return session

    def record_event(
        self, event_type: str, obj: dict[str, Any], previous: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        with self.lock:
            data: dict[str, Any] = {"object": obj}
            if previous is not None:
                data["previous_attributes"] = previous
            event = {
                "id": self._next("evt"),
                "object": "event",
                "api_version": self.api_version,
                "created": int(self.clock.time()),
                "livemode": False,
                "pending_webhooks": 1,
                "request": {"id": None, "idempotency_key": None},
                "type": event_type,
                "data": data,
            }
            self.events.append(event)
            return event

    def drop_events(self, which: Callable[[dict[str, Any]], bool]) -> int:
        """Takes away the events `which` picks, as if Stripe had never recorded them; how many went."""
        with self.lock:
            kept = [event for event in self.events if not which(event)]
            dropped = len(self.events) - len(kept)
            self.events[:] = kept
            return dropped

    def ordered_subscriptions(self) -> tuple[list[Subscription], dict[str, int]]:
        """Stripe lists newest first (the id breaks ties, so paging is stable), with each id's position."""
        if self._order is None:
            ordered = sorted(self.subscriptions.values(), key=lambda s: (-s.created, s.id))
            self._order = ordered, {s.id: i for i, s in enumerate(ordered)}
        return self._order


def _mirror(customer_metadata: dict[str, str]) -> dict[str, str]:
    return {"username": customer_metadata["username"]} if "username" in customer_metadata else {}
