"""Reading Stripe: the one client constructor, the full subscription listing and the listing of a few
customers' subscriptions (an incremental run's re-read, billing.incremental).

The client pins the API version (the wire format must not move with `pip install -U`), retries
network failures, 409 and 5xx itself (StripeClient's default is no retries at all,
docs/reference/stripe.md §1.2), and can point at another API address (tests, stripe-mock). A 429 is not retried by
the SDK unless Stripe says so (§1.4), so every listing backs off and resumes after the last item it has.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
import stripe
from stripe.params import SubscriptionListParams

from billing.snapshot import USERNAME_KEY, Snapshot, StripeCustomer, StripeSubscription

PINNED_API_VERSION = "2026-10-28.endive"
DEFAULT_API_BASE = "https://api.stripe.com"
PAGE_SIZE = 100  # Stripe's maximum
# Customers re-read at once: a sandbox allows 25 requests a second, live mode 100 (a 429 backs off anyway).
READ_WORKERS = 4


class StripeUnavailable(Exception):
    """Stripe could not be read (bad key, unreachable after retries, refused); the run must not write."""


class StripeRefused(StripeUnavailable):
    """The key may not read this (HTTP 403): another key, or another way to read, is needed."""


@dataclass(frozen=True)
class RetryPolicy:
    network_retries: int = 3  # SDK retries of connection errors, 409 and 5xx (backoff 0.5 s doubling, <= 5 s)
    rate_limit_retries: int = 4  # our own retries of a 429
    rate_limit_delay: float = 1.0  # first 429 back-off; doubles each time


DEFAULT_RETRIES = RetryPolicy()


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
    with reading_stripe():
        for sub in _all_subscriptions(client, retries, page_size, sleep):
            _add(client, snapshot, sub)
    return snapshot


def fetch_customers(
    client: stripe.StripeClient,
    customers: Iterable[str],
    *,
    retries: RetryPolicy = RetryPolicy(),
    page_size: int = PAGE_SIZE,
    sleep: Callable[[float], None] = time.sleep,
    workers: int = READ_WORKERS,
) -> Snapshot:
    """Every subscription of every status of these customers alone, customers expanded: one listing
    (`customer=`) each, `workers` at a time (unlike a listing's pages, they do not wait for each other),
    gathered in id order. A customer with no subscription is not in the snapshot, as in a full listing.
    Raises StripeUnavailable on failure."""

    def one(customer: str) -> Snapshot:
        part = Snapshot()
        for sub in _all_subscriptions(client, retries, page_size, sleep, customer=customer):
            _add(client, part, sub)
        return part

    snapshot = Snapshot()
    wanted = sorted(set(customers))
    with reading_stripe(), ThreadPoolExecutor(max(1, min(workers, len(wanted))), "stripe-read") as pool:
        for part in pool.map(one, wanted):
            snapshot.subscriptions += part.subscriptions
            snapshot.customers.update(part.customers)
    return snapshot


def _add(client: stripe.StripeClient, snapshot: Snapshot, sub: stripe.Subscription) -> None:
    customer = _customer_of(client, sub.customer, snapshot.customers)
    snapshot.customers.setdefault(customer.id, customer)
    snapshot.subscriptions.append(_plain_subscription(sub, customer.id))


@contextmanager
def reading_stripe(what: str = "subscriptions and customers") -> Iterator[None]:
    """Turns the SDK's errors into StripeUnavailable, naming the failure (and, for a 403, what the key
    must be allowed to read)."""
    try:
        yield
    except stripe.AuthenticationError:
        raise StripeUnavailable("Stripe refused the API key (HTTP 401); check STRIPE_API_KEY") from None
    except stripe.PermissionError:
        raise StripeRefused(f"the API key may not read {what} (HTTP 403); use a key with read access") from None
    except stripe.StripeError as exc:
        raise StripeUnavailable(_describe(exc)) from None


@contextmanager
def expected_answers() -> Iterator[None]:
    """An answer of the wrong shape (a proxy's page, a fake) as StripeUnavailable too.

    The SDK turns a non-JSON body into an APIError, but JSON of another shape (a list where an object
    belongs, `{"error": "text"}`, a number for a message) surfaces as AttributeError or TypeError from
    inside the SDK; its text is not kept, as it may quote the answer.
    """
    try:
        yield
    except (AttributeError, TypeError, KeyError, IndexError, ValueError, RecursionError) as exc:
        raise StripeUnavailable(
            f"Stripe answered with something that is not the expected data ({type(exc).__name__})"
        ) from None


Item = TypeVar("Item", bound=stripe.StripeObject)


def paged(
    list_after: Callable[[str | None], stripe.ListObject[Item]], retries: RetryPolicy, sleep: Callable[[float], None]
) -> Iterator[Item]:
    """Every item of a listing, `list_after(id)` asking for the page after `id` (None: the first).

    Yields as pages arrive, so only one page of SDK objects is alive at a time; a 429 backs off and
    the listing resumes after the last item it has (back-to-back 429s only count against the retries).
    """
    last_id: str | None = None
    limited = 0
    while True:
        try:
            page = list_after(last_id)
            for item in page.auto_paging_iter():
                last_id, limited = str(item["id"]), 0
                yield item
            return
        except stripe.RateLimitError:
            if limited >= retries.rate_limit_retries:
                raise
            sleep(retries.rate_limit_delay * 2**limited)
            limited += 1


def _all_subscriptions(
    client: stripe.StripeClient,
    retries: RetryPolicy,
    page_size: int,
    sleep: Callable[[float], None],
    *,
    customer: str | None = None,
) -> Iterator[stripe.Subscription]:
    params: SubscriptionListParams = {"status": "all", "limit": page_size, "expand": ["data.customer"]}
    if customer is not None:
        params["customer"] = customer

    def list_after(last_id: str | None) -> stripe.ListObject[stripe.Subscription]:
        if last_id is not None:
            params["starting_after"] = last_id
        return client.v1.subscriptions.list(params=params)

    return paged(list_after, retries, sleep)


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
