"""Reading Stripe's events list (`GET /v1/events`): which customers changed since a mark.

An event is used for one thing only: the id of the customer it names (the event's object is a
customer, or a subscription whose `customer` it is). What changed is then re-read from the API with the
pinned client (billing.stripe_source.fetch_customers), never taken from the payload, which is rendered
in the API version of its day and may be older than what the API now says (docs/reference/stripe.md
§2.3, §3.3).

The mark is the newest event read: its `created` and the ids of the events read in the OVERLAP_S
before it. The next read lists `created >= created - OVERLAP_S`, newest first, and skips the ids it
already read, so an event that became listable a little late, or that shares the newest one's second,
is still read once, and one already read is not read again. Stripe keeps events for 30 days.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import stripe
from stripe.params import EventListParams

from billing.stripe_source import DEFAULT_RETRIES, PAGE_SIZE, RetryPolicy, paged, reading_stripe
from tenants.inputs import matches, quote_value
from tenants.roster import STRIPE_CUSTOMER_RE

# The events after which a customer's tenant may have to change (an exact list: `types[]` takes no
# wildcard, and at most 20). Invoices and charges change nothing the roster holds: a payment that
# fails or succeeds also changes the subscription's status, which is `.updated`.
EVENT_TYPES = (
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "customer.subscription.paused",
    "customer.subscription.resumed",
    "customer.subscription.pending_update_applied",
    "customer.subscription.pending_update_expired",
    "customer.updated",
    "customer.deleted",
)
OVERLAP_S = 300  # how far before the newest event read the next read starts again
MAX_SEEN = 1000  # ids kept in the mark; one dropped is read again, which is harmless


@dataclass(frozen=True)
class EventMark:
    """The newest event read (`created`, None when none has been) and the ids read near it."""

    created: int | None = None
    seen: tuple[str, ...] = ()


@dataclass(frozen=True)
class Changes:
    """What the events since a mark name: the customers to re-read, how many new events and pages
    that took, and the mark to keep once they are applied."""

    customers: frozenset[str]
    events: int
    pages: int
    mark: EventMark


class UnusableEvent(Exception):
    """An event that names no customer this code can re-read; the run cannot be incremental."""


class OverBudget(Exception):
    """More pages of events than a full listing would cost; the run should list everything instead."""

    def __init__(self, pages: int, budget: int) -> None:
        super().__init__(f"more than {budget} pages of events ({pages} read so far)")
        self.pages = pages
        self.budget = budget


def newest_mark(
    client: stripe.StripeClient,
    *,
    retries: RetryPolicy = DEFAULT_RETRIES,
    sleep: Callable[[float], None] = time.sleep,
) -> EventMark:
    """The mark a full listing starts from, read before the listing, so every event after it is one the
    next incremental run reads: the newest event, and the ids of those in the OVERLAP_S before it (at
    most MAX_SEEN; any beyond are read again next time). Raises StripeUnavailable."""
    read: list[tuple[int, str]] = []
    with reading_stripe("events"):
        for event in _events(client, None, retries, sleep):
            created = int(event.created)
            if read and (created < read[0][0] - OVERLAP_S or len(read) >= MAX_SEEN):
                break
            read.append((created, str(event.id)))
    return _mark(read, EventMark())


def changes_since(
    mark: EventMark,
    client: stripe.StripeClient,
    *,
    budget: int,
    retries: RetryPolicy = DEFAULT_RETRIES,
    sleep: Callable[[float], None] = time.sleep,
) -> Changes:
    """The customers named by the events after `mark`, at most `budget` pages of them (OverBudget
    beyond: a run that far behind lists everything instead). Raises StripeUnavailable, UnusableEvent."""
    since = None if mark.created is None else mark.created - OVERLAP_S
    seen = set(mark.seen)
    customers: set[str] = set()
    read: list[tuple[int, str]] = []
    new = 0
    with reading_stripe("events"):
        for event in _events(client, since, retries, sleep):
            read.append((int(event.created), str(event.id)))
            if len(read) > budget * PAGE_SIZE:
                raise OverBudget(-(-len(read) // PAGE_SIZE), budget)
            if event.id in seen:
                continue
            new += 1
            customers.add(_customer_of(event))
    return Changes(frozenset(customers), new, max(1, -(-len(read) // PAGE_SIZE)), _mark(read, mark))


def _events(
    client: stripe.StripeClient, since: int | None, retries: RetryPolicy, sleep: Callable[[float], None]
) -> Iterator[stripe.Event]:
    """The events of EVENT_TYPES, newest first, those created at or after `since` (None: all kept)."""
    params: EventListParams = {"types": list(EVENT_TYPES), "limit": PAGE_SIZE}
    if since is not None:
        params["created"] = {"gte": since}

    def list_after(last_id: str | None) -> stripe.ListObject[stripe.Event]:
        if last_id is not None:
            params["starting_after"] = last_id
        return client.v1.events.list(params=params)

    return paged(list_after, retries, sleep)


def _mark(read: list[tuple[int, str]], before: EventMark) -> EventMark:
    """The newest `created` read, with the ids read at most OVERLAP_S before it; `before` if none was."""
    if not read:
        return before
    newest = max(created for created, _ in read)
    near = [event_id for created, event_id in sorted(read, reverse=True) if created >= newest - OVERLAP_S]
    return EventMark(newest, tuple(near[:MAX_SEEN]))


def _customer_of(event: stripe.Event) -> str:
    obj: Any = event.data.object
    kind = getattr(obj, "object", None)
    found: Any = None
    if kind == "customer":
        found = getattr(obj, "id", None)
    elif kind == "subscription":
        found = getattr(obj, "customer", None)
        if isinstance(found, stripe.StripeObject):  # expanded
            found = getattr(found, "id", None)
    if not isinstance(found, str) or not matches(STRIPE_CUSTOMER_RE, found):
        raise UnusableEvent(
            f"event {quote_value(str(event.id))} ({quote_value(str(event.type))}) names no customer id (cus_...)"
        )
    return found
