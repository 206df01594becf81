"""billing.stripe_events against the fake Stripe: the customers named by the events since a mark, each
event read once (the overlap read again, the ids already read skipped), a budget, the mark a full run
starts from, and an event naming no customer refused."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from billing.stripe_events import (
    EVENT_TYPES,
    MAX_SEEN,
    OVERLAP_S,
    EventMark,
    OverBudget,
    UnusableEvent,
    changes_since,
    newest_mark,
)
from billing.stripe_source import PINNED_API_VERSION
from emulators.clock import FakeClock
from emulators.faults import Fault
from emulators.stripe.server import serve
from emulators.stripe.state import StripeWorld
from tests.billing.support import API_KEY, FAST_RETRIES, FakeAccount, at

NEVER = lambda _: None  # noqa: E731 - the back-off's sleep, not waited on


@pytest.fixture
def clocked() -> Iterator[tuple[FakeAccount, FakeClock]]:
    clock = FakeClock(epoch=at("2026-11-01"))
    world = StripeWorld(api_key=API_KEY, api_version=PINNED_API_VERSION, clock=clock)
    with serve(world) as (url, fake):
        yield FakeAccount(world, fake, url), clock


def since(account: FakeAccount, mark: EventMark, budget: int = 10):
    return changes_since(mark, account.client(), budget=budget, retries=FAST_RETRIES, sleep=NEVER)


def event_requests(account: FakeAccount):
    return [r for r in account.fake.faults.requests() if r.path == "/v1/events"]


def test_the_customers_named_by_subscription_and_customer_events(account):
    world = account.world
    alice, bob, carol = (world.add_customer(username=n) for n in ("alice", "bob", "carol"))
    sub = world.subscribe(alice, "reader_monthly")
    world.set_customer_email(bob, "bob@example.org")
    world.delete_customer(carol, at=at("2026-11-02"))
    world.set_status(sub, "past_due")
    changes = since(account, EventMark())
    assert changes.customers == {alice, bob, carol}
    assert changes.events == 4 and changes.pages == 1  # customer.created is not one of the types
    (request,) = event_requests(account)
    assert request.query["types[0]"] == [EVENT_TYPES[0]] and request.query["limit"] == ["100"]
    assert "created[gte]" not in request.query  # no mark yet: every event Stripe keeps


def test_the_next_read_starts_an_overlap_before_the_mark_and_skips_what_it_read(clocked):
    account, clock = clocked
    world = account.world
    alice = world.add_customer(username="alice")
    world.subscribe(alice, "reader_monthly")
    first = since(account, EventMark())
    assert first.mark.created == int(clock.time()) and len(first.mark.seen) == 1
    clock.advance(60)
    bob = world.add_customer(username="bob")
    world.subscribe(bob, "reader_monthly")
    second = since(account, first.mark)
    assert second.customers == {bob} and second.events == 1  # alice's event was read again, and skipped
    assert event_requests(account)[-1].query["created[gte]"] == [str(first.mark.created - OVERLAP_S)]
    assert second.mark.created == first.mark.created + 60 and set(second.mark.seen) == {
        *first.mark.seen,
        world.events[-1]["id"],
    }
    clock.advance(OVERLAP_S + 1)
    carol = world.add_customer(username="carol")
    world.subscribe(carol, "reader_monthly")
    third = since(account, second.mark)
    assert third.customers == {carol} and third.mark.seen == (world.events[-1]["id"],)  # older ones left the window


def test_an_event_that_shares_the_marks_second_but_came_later_is_read(clocked):
    account, _ = clocked
    world = account.world
    world.subscribe(world.add_customer(username="alice"), "reader_monthly")
    mark = since(account, EventMark()).mark
    late = world.add_customer(username="late")
    world.subscribe(late, "reader_monthly")  # same second as the mark's newest event
    assert since(account, mark).customers == {late}


def test_nothing_new_keeps_the_mark(account):
    world = account.world
    world.subscribe(world.add_customer(username="alice"), "reader_monthly")
    mark = since(account, EventMark()).mark
    again = since(account, mark)
    assert (again.customers, again.events, again.mark) == (frozenset(), 0, mark)


def test_more_pages_than_the_budget_stop_the_read(account):
    world = account.world
    for n in range(250):
        world.subscribe(world.add_customer(username=f"u{n}"), "reader_monthly")
    with pytest.raises(OverBudget) as over:
        since(account, EventMark(), budget=2)
    assert over.value.budget == 2 and len(event_requests(account)) == 3
    assert len(since(account, EventMark(), budget=3).customers) == 250


def test_a_429_backs_off_and_resumes_after_the_last_event_read(account):
    world = account.world
    for n in range(150):
        world.subscribe(world.add_customer(username=f"u{n}"), "reader_monthly")
    account.fake.faults.add(Fault(path="/v1/events", status=429, skip=1))
    changes = since(account, EventMark())
    assert len(changes.customers) == 150 and changes.events == 150
    statuses = [r.status for r in event_requests(account)]
    assert statuses == [200, 429, 200]
    assert event_requests(account)[2].query["starting_after"] == [changes.mark.seen[99]]


@pytest.mark.parametrize(
    "obj",
    [
        {"object": "subscription", "id": "sub_x", "customer": None},
        {"object": "subscription", "id": "sub_x", "customer": "not-a-customer"},
        {"object": "customer", "id": "cus_bad id"},
        {"object": "invoice", "id": "in_x"},
    ],
    ids=["no-customer", "odd-customer", "odd-id", "other-object"],
)
def test_an_event_naming_no_customer_is_refused(account, obj):
    account.world.record_event("customer.subscription.updated", obj)
    with pytest.raises(UnusableEvent, match=r"event 'evt_E\d+' \('customer.subscription.updated'\) names no customer"):
        since(account, EventMark())


def test_the_mark_of_a_full_run_is_the_newest_event_and_those_in_the_overlap(clocked):
    account, clock = clocked
    world = account.world
    world.subscribe(world.add_customer(username="old"), "reader_monthly")
    clock.advance(OVERLAP_S + 1)
    for n in range(150):
        world.subscribe(world.add_customer(username=f"u{n}"), "reader_monthly")
    mark = newest_mark(account.client(), retries=FAST_RETRIES, sleep=NEVER)
    assert mark.created == int(clock.time())
    newest = [e["id"] for e in reversed(world.events) if e["type"] in EVENT_TYPES]
    assert mark.seen == tuple(newest[:150])  # two pages; the old event is outside the overlap
    assert since(account, mark).customers == frozenset()


def test_the_mark_keeps_at_most_max_seen_ids(account):
    world = account.world
    for n in range(MAX_SEEN + 5):
        world.subscribe(world.add_customer(username=f"u{n}"), "reader_monthly")
    mark = newest_mark(account.client(), retries=FAST_RETRIES, sleep=NEVER)
    assert len(mark.seen) == MAX_SEEN
    assert len(since(account, mark, budget=20).customers) == 5  # the ones it could not keep are read again


def test_no_events_at_all_is_an_empty_mark(account):
    assert newest_mark(account.client(), retries=FAST_RETRIES, sleep=NEVER) == EventMark()
