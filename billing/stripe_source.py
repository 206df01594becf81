"""Reading Stripe: the one client constructor and the full subscription listing.

The client pins the API version (the wire format must not move with `pip install -U`), retries
network failures, 409 and 5xx itself (StripeClient's default is no retries at all,
docs/reference/stripe.md §1.2), and can point at another API address (tests, stripe-mock). A 429 is not retried by
the SDK unless Stripe says so (§1.4), so the listing backs off and resumes after the last item it has.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
import stripe
from stripe.params import SubscriptionListParams

from billing.snapshot import USERNAME_KEY, Snapshot, StripeCustomer, StripeSubscription

PINNED_API_VERSION = "2026-10-28.endive"
DEFAULT_API_BASE = "https://api.stripe.com"
PAGE_SIZE = 100  # Stripe's maximum


class StripeUnavailable(Exception):
    """Stripe could not be read (bad key, unreachable after retries, refused); the run must not write."""


@dataclass(frozen=True)
class RetryPolicy:
    network_retries: int = 3  # SDK retries of connection errors, 409 and 5xx (backoff 0.5 s doubling, <= 5 s)
    rate_limit_retries: int = 4  # our own retries of a 429
    rate_limit_delay: float = 1.0  # first 429 back-off; doubles each time


def make_client(
    api_key: str,
    *,
    api_base: str | None = None,
    retries: RetryPolicy = RetryPolicy(),
    timeout: float = 30.0,
) -> stripe.StripeClient:
    """A StripeClient with a pinned version, explicit retries and an optional API base address."""
    base = (api_base or DEFAULT_API_BASE).rstrip("/")
    session = requests.Session()
    # A local fake (tests, stripe-mock) must never be reached through a proxy from the environment.
    session.trust_env = urlsplit(base).hostname not in ("127.0.0.1", "localhost", "::1")
    return stripe.StripeClient(
        api_key,
        stripe_version=PINNED_API_VERSION,
        base_addresses={"api": base},
        max_network_retries=retries.network_retries,
        http_client=stripe.RequestsClient(timeout=timeout, session=session),
    )


def fetch_snapshot(
    client: stripe.StripeClient,
    *,
    retries: RetryPolicy = RetryPolicy(),
    page_size: int = PAGE_SIZE,
    sleep: Callable[[float], None] = time.sleep,
) -> Snapshot:
    """Every subscription of every status, customers expanded; raises StripeUnavailable on failure."""
    snapshot = Snapshot()
    try:
        for sub in _all_subscriptions(client, retries, page_size, sleep):
            customer = _customer_of(client, sub.customer, snapshot.customers)
            snapshot.customers.setdefault(customer.id, customer)
            snapshot.subscriptions.append(_plain_subscription(sub, customer.id))
    except stripe.AuthenticationError:
        raise StripeUnavailable("Stripe refused the API key (HTTP 401); check STRIPE_API_KEY") from None
    except stripe.PermissionError:
        raise StripeUnavailable(
            "the API key may not read subscriptions and customers (HTTP 403); use a key with read access"
        ) from None
    except stripe.StripeError as exc:
        raise StripeUnavailable(_describe(exc)) from None
    return snapshot


def _all_subscriptions(
    client: stripe.StripeClient, retries: RetryPolicy, page_size: int, sleep: Callable[[float], None]
) -> Iterator[stripe.Subscription]:
    """Yields as pages arrive, so only one page of SDK objects is alive at a time."""
    params: SubscriptionListParams = {"status": "all", "limit": page_size, "expand": ["data.customer"]}
    last_id: str | None = None
    limited = 0
    while True:
        try:
            if last_id is not None:
                params["starting_after"] = last_id
            page = client.v1.subscriptions.list(params=params)
            for sub in page.auto_paging_iter():
                last_id, limited = sub.id, 0  # progress: count only back-to-back 429s
                yield sub
            return
        except stripe.RateLimitError:
            if limited >= retries.rate_limit_retries:
                raise
            sleep(retries.rate_limit_delay * 2**limited)
            limited += 1


def _customer_of(
    client: stripe.StripeClient, field: str | stripe.Customer, seen: dict[str, StripeCustomer]
) -> StripeCustomer:
    """The expanded customer; when Stripe sent only an id, one retrieve per customer per run."""
    if isinstance(field, str):
        if field in seen:
            return seen[field]
        field = client.v1.customers.retrieve(field)
    if getattr(field, "deleted", None):
        return StripeCustomer(field.id, deleted=True)
    return StripeCustomer(
        field.id,
        email=getattr(field, "email", None),
        username=_metadata_value(getattr(field, "metadata", None)),
        created=getattr(field, "created", None),
    )


def _plain_subscription(sub: stripe.Subscription, customer_id: str) -> StripeSubscription:
    items = sub["items"]
    keys = tuple(getattr(item.price, "lookup_key", None) for item in items.data)
    # A metered or tiered price has no unit_amount: not free.
    free = bool(items.data) and all(getattr(item.price, "unit_amount", None) == 0 for item in items.data)
    return StripeSubscription(
        id=sub.id,
        customer=customer_id,
        status=str(sub.status),
        lookup_keys=keys,
        created=int(getattr(sub, "created", 0) or 0),
        ended_at=getattr(sub, "ended_at", None),
        canceled_at=getattr(sub, "canceled_at", None),
        username=_metadata_value(getattr(sub, "metadata", None)),
        free=free,
    )


def _metadata_value(metadata: Any) -> str | None:
    if metadata is None or USERNAME_KEY not in metadata:
        return None
    value = metadata[USERNAME_KEY]
    return value if isinstance(value, str) else None


def _describe(exc: stripe.StripeError) -> str:
    """One line naming the failure; Stripe's own message is kept (it never carries the full key)."""
    kind = type(exc).__name__
    status = f"HTTP {exc.http_status}" if exc.http_status else "no response"
    request = f", request {exc.request_id}" if exc.request_id else ""
    lines = (exc.user_message or str(exc) or "").strip().splitlines()
    message = lines[0] if lines else "(no message)"
    return f"reading Stripe failed after retries: {kind} ({status}{request}): {message}"
