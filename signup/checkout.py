"""Stripe for the signup site: the prices of the offered plans, and the Checkout Session request.

The key is a restricted one (Checkout Sessions write, Prices read), so this module calls nothing else:
`prices.list(lookup_keys=...)` and `checkout.sessions.create|list|retrieve`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import stripe

from signup.settings import OfferedPlan

PRICES_TTL_S = 300.0
_SYMBOLS = {"eur": "€", "usd": "$", "gbp": "£"}
# docs.stripe.com/currencies#zero-decimal: amounts are whole units
_ZERO_DECIMAL = frozenset(
    {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"}
)


class PriceMissing(Exception):
    """An offered plan's lookup key has no active price in Stripe."""


@dataclass(frozen=True)
class PlanPrice:
    plan: str
    lookup_key: str
    price_id: str
    unit_amount: int
    currency: str
    interval: str

    @property
    def free(self) -> bool:
        return self.unit_amount == 0

    @property
    def label(self) -> str:
        return format_price(self.unit_amount, self.currency, self.interval)


def format_price(amount: int, currency: str, interval: str) -> str:
    """`€4.00 / month`; `Free` for nothing; an unknown currency after the number (`12.00 CHF / year`)."""
    if amount == 0:
        return "Free"
    code = currency.lower()
    number = f"{amount:,}" if code in _ZERO_DECIMAL else f"{amount / 100:,.2f}"
    symbol = _SYMBOLS.get(code)
    money = f"{symbol}{number}" if symbol else f"{number} {code.upper()}"
    return f"{money} / {interval}"


class PriceBook:
    """Lookup key -> price, from one `prices.list` of every offered key, cached for `ttl_s`."""

    def __init__(
        self,
        client: stripe.StripeClient,
        plans: Sequence[OfferedPlan],
        *,
        ttl_s: float = PRICES_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._plans = tuple(plans)
        self._ttl = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._prices: dict[str, PlanPrice] = {}
        self._at: float | None = None

    def prices(self) -> list[PlanPrice]:
        """The offered plans that have a price, in the order offered; raises stripe.StripeError."""
        with self._lock:
            if self._at is None or self._clock() - self._at >= self._ttl:
                self._prices = self._fetch()
                self._at = self._clock()
            return [self._prices[p.name] for p in self._plans if p.name in self._prices]

    def price(self, plan: str) -> PlanPrice:
        for found in self.prices():
            if found.plan == plan:
                return found
        raise PriceMissing(plan)

    def _fetch(self) -> dict[str, PlanPrice]:
        keys = [p.lookup_key for p in self._plans]
        by_key: dict[str, Any] = {}
        for start in range(0, len(keys), 10):  # Stripe takes at most 10 lookup keys per listing
            page = self._client.v1.prices.list(
                params={"lookup_keys": keys[start : start + 10], "active": True, "limit": 100}
            )
            for price in page.data:
                by_key[str(price.lookup_key)] = price
        found: dict[str, PlanPrice] = {}
        for plan in self._plans:
            listed = by_key.get(plan.lookup_key)
            if listed is None or listed.unit_amount is None or listed.recurring is None:
                continue  # not sold until it has a recurring per-unit price
            amount, interval = int(listed.unit_amount), listed.recurring.interval
            found[plan.name] = PlanPrice(plan.name, plan.lookup_key, listed.id, amount, listed.currency, interval)
        return found


def session_params(*, site_url: str, username: str, email: str, price: PlanPrice) -> dict[str, Any]:
    """The Checkout Session create request: one subscription on the plan's price, the username in
    the session's metadata and mirrored into the subscription's (the one the sync reads, since Checkout
    copies the session's metadata nowhere), and back to the filled form on cancel."""
    params: dict[str, Any] = {
        "mode": "subscription",
        "line_items": [{"price": price.price_id, "quantity": 1}],
        "customer_email": email,
        "metadata": {"username": username, "plan": price.plan},
        "subscription_data": {"metadata": {"username": username}},
        "client_reference_id": username,
        "success_url": f"{site_url}/welcome?session_id={{CHECKOUT_SESSION_ID}}",
        "cancel_url": f"{site_url}/?{urlencode({'username': username, 'email': email, 'plan': price.plan})}",
    }
    if price.free:
        params["payment_method_collection"] = "if_required"  # the free plan goes through Checkout, no card
    return params
