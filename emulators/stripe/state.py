"""The fake Stripe account: customers, prices and subscriptions, with the mutations tests drive.

Objects are rendered in the current API shape (docs/reference/stripe.md §2.2-2.3): `ended_at` and
`canceled_at` on the subscription, the period on each item, `price.lookup_key` inline, customer
metadata, and a `{"id", "object", "deleted": true}` stub once a customer is deleted. Timestamps are
unix seconds. The world is guarded by one lock; the HTTP layer renders under it.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from typing import Any

STATUSES = (
    "incomplete", "incomplete_expired", "trialing", "active", "past_due", "canceled", "unpaid", "paused",
)  # fmt: skip
# Month-ish, enough for a plausible item period.
_PERIOD = 30 * 86400
_DEFAULT_AMOUNTS = {"monthly": 500, "yearly": 5000}


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

    def __init__(self, *, api_key: str = "sk_test_emulator", api_version: str | None = None) -> None:
        self.api_key = api_key
        self.api_version = api_version
        self.lock = threading.RLock()
        self.customers: dict[str, Customer] = {}
        self.subscriptions: dict[str, Subscription] = {}
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
            return sub_id

    def set_status(self, sub_id: str, status: str) -> None:
        with self.lock:
            self._check_status(status)
            self.subscriptions[sub_id].status = status

    def change_price(self, sub_id: str, lookup_key: str | None) -> None:
        with self.lock:
            self.subscriptions[sub_id].lookup_keys = [lookup_key]

    def cancel(self, sub_id: str, *, at: int, requested_at: int | None = None) -> None:
        """Ends the subscription at `at` (`canceled_at` is when it was asked for; defaults to `at`)."""
        with self.lock:
            sub = self.subscriptions[sub_id]
            sub.status = "canceled"
            sub.ended_at = at
            sub.canceled_at = requested_at if requested_at is not None else at

    def set_customer_metadata(self, customer: str, **metadata: str | None) -> None:
        """Sets keys; a None value removes the key (as Stripe does with an empty string)."""
        with self.lock:
            meta = self.customers[customer].metadata
            for key, value in metadata.items():
                if value is None:
                    meta.pop(key, None)
                else:
                    meta[key] = value

    def set_customer_email(self, customer: str, email: str | None) -> None:
        with self.lock:
            self.customers[customer].email = email

    def delete_customer(self, customer: str, *, at: int) -> None:
        """Deleting a customer cancels its subscriptions immediately (docs/reference/stripe.md §2.2)."""
        with self.lock:
            self.customers[customer].deleted = True
            for sub in self.subscriptions.values():
                if sub.customer == customer and sub.status not in ("canceled", "incomplete_expired"):
                    self.cancel(sub.id, at=at)

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
        interval = "year" if lookup_key and lookup_key.endswith("_yearly") else "month"
        amount = _DEFAULT_AMOUNTS["yearly" if interval == "year" else "monthly"]
        price_id = f"price_{lookup_key}" if lookup_key else f"price_nokey{index}"
        return {
            "id": f"si_{sub.id[4:]}{index}",
            "object": "subscription_item",
            "subscription": sub.id,
            "created": sub.created,
            "quantity": 1,
            "metadata": {},
            "current_period_start": sub.created,
            "current_period_end": sub.created + _PERIOD,
            "price": {
                "id": price_id,
                "object": "price",
                "active": True,
                "currency": "usd",
                "livemode": False,
                "lookup_key": lookup_key,
                "metadata": {},
                "product": f"prod_{(lookup_key or 'unknown').split('_')[0]}",
                "recurring": {"interval": interval, "interval_count": 1, "usage_type": "licensed"},
                "type": "recurring",
                "unit_amount": amount,
            },
        }

    def ordered_subscriptions(self) -> tuple[list[Subscription], dict[str, int]]:
        """Stripe lists newest first (the id breaks ties, so paging is stable), with each id's position."""
        if self._order is None:
            ordered = sorted(self.subscriptions.values(), key=lambda s: (-s.created, s.id))
            self._order = ordered, {s.id: i for i, s in enumerate(ordered)}
        return self._order


def _mirror(customer_metadata: dict[str, str]) -> dict[str, str]:
    return {"username": customer_metadata["username"]} if "username" in customer_metadata else {}
