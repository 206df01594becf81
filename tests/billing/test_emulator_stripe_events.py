"""The fake Stripe's events and latency: every change recorded as Stripe sends it, `GET /v1/events` with
Stripe's list semantics (newest first, created ranges, both cursors, types, 30 days kept), read with
stripe-python, and a round trip that takes the configured time on the fake's clock."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any, cast

import pytest
import requests
import stripe
from stripe.params import EventListParams

from billing.stripe_source import PINNED_API_VERSION, make_client
from emulators.clock import FakeClock
from emulators.stripe.events import RETENTION_S
from emulators.stripe.server import serve
from emulators.stripe.state import StripeWorld
from tests.billing.support import API_KEY, FAST_RETRIES, FakeAccount, at


@pytest.fixture
def clocked() -> Iterator[tuple[FakeAccount, FakeClock]]:
    """A fake account whose clock (event times, retention, latency) moves only when the test says."""
    clock = FakeClock(epoch=at("2026-11-01"))
    world = StripeWorld(api_key=API_KEY, api_version=PINNED_API_VERSION, clock=clock)
    with serve(world, clock=clock) as (url, fake):
        yield FakeAccount(world, fake, url), clock


def types(events: Sequence[Any]) -> list[str]:
    return [e["type"] for e in events]


def listed(account: FakeAccount, **params: Any) -> stripe.ListObject[stripe.Event]:
    return account.client().v1.events.list(params=cast(EventListParams, params))


def test_every_change_is_an_event_with_the_object_as_it_was(account):
    world = account.world
    cus = world.add_customer(username="alice", email="a@example.com")
    sub = world.subscribe(cus, "reader_monthly")
    world.set_status(sub, "paused")
    world.set_status(sub, "active")
    world.change_price(sub, "library_monthly")
    world.set_customer_email(cus, "alice@example.org")
    world.set_customer_metadata(cus, username="alicia")
    world.set_customer_metadata(cus, username="alicia")  # no change: no event
    world.delete_customer(cus, at=at("2026-11-20"))
    assert types(world.events) == [
        "customer.created", "customer.subscription.created",
        "customer.subscription.updated", "customer.subscription.paused",
        "customer.subscription.updated", "customer.subscription.resumed",
        "customer.subscription.updated", "customer.updated", "customer.updated",
        "customer.subscription.deleted", "customer.deleted",
    ]  # fmt: skip
    paused = world.events[2]
    assert paused["data"]["object"]["status"] == "paused" and paused["data"]["previous_attributes"] == {
        "status": "active"
    }
    repriced = world.events[6]["data"]
    assert repriced["object"]["items"]["data"][0]["price"]["lookup_key"] == "library_monthly"
    assert repriced["previous_attributes"]["items"]["data"][0]["price"]["lookup_key"] == "reader_monthly"
    assert world.events[7]["data"]["previous_attributes"] == {"email": "a@example.com"}
    ended = world.events[9]["data"]["object"]
    assert (ended["status"], ended["ended_at"], ended["customer"]) == ("canceled", at("2026-11-20"), cus)
    gone = world.events[10]["data"]["object"]
    assert gone["deleted"] is True and gone["metadata"] == {"username": "alicia"}  # as it was, not the stub
    assert all(e["api_version"] == PINNED_API_VERSION and e["object"] == "event" for e in world.events)


def test_events_list_newest_first_and_read_with_stripe_python(account):
    world = account.world
    for name in ("a", "b", "c"):
        world.subscribe(world.add_customer(username=name), "reader_monthly")
    page = listed(account, limit=100)
    assert [e.id for e in page.data] == [e["id"] for e in reversed(world.events)]
    assert page.has_more is False
    first = page.data[0]
    assert isinstance(first, stripe.Event) and first.type == "customer.subscription.created"
    assert first.data.object.customer == world.events[-1]["data"]["object"]["customer"]
    assert account.client().v1.events.retrieve(first.id).id == first.id


def test_paging_with_starting_after_and_ending_before(account):
    world = account.world
    for n in range(5):
        world.add_customer(username=f"u{n}")
    ids = [e["id"] for e in reversed(world.events)]  # newest first
    first = listed(account, limit=2)
    assert ([e.id for e in first.data], first.has_more) == (ids[:2], True)
    after = listed(account, limit=2, starting_after=ids[1])
    assert ([e.id for e in after.data], after.has_more) == (ids[2:4], True)
    last = listed(account, limit=2, starting_after=ids[3])
    assert ([e.id for e in last.data], last.has_more) == (ids[4:], False)
    before = listed(account, limit=2, ending_before=ids[4])  # the two right before it, still newest first
    assert ([e.id for e in before.data], before.has_more) == (ids[2:4], True)
    newest = listed(account, limit=2, ending_before=ids[2])
    assert ([e.id for e in newest.data], newest.has_more) == (ids[:2], False)
    assert [e.id for e in listed(account, limit=2).auto_paging_iter()] == ids


def test_created_ranges_and_types(clocked):
    account, clock = clocked
    world = account.world
    cus = world.add_customer(username="alice")  # at T
    start = int(clock.time())
    clock.advance(60)
    sub = world.subscribe(cus, "reader_monthly")  # T+60
    clock.advance(60)
    world.set_customer_email(cus, "new@example.com")  # T+120
    world.cancel(sub, at=start + 120)  # T+120

    def found(**params) -> list[str]:
        return [e.type for e in listed(account, limit=100, **params).data]

    assert found(created={"gt": start}) == [
        "customer.subscription.deleted", "customer.updated", "customer.subscription.created",
    ]  # fmt: skip
    assert found(created={"gte": start, "lt": start + 120}) == ["customer.subscription.created", "customer.created"]
    assert found(created={"lte": start}) == ["customer.created"]
    assert found(created=start + 60) == ["customer.subscription.created"]
    assert found(types=["customer.updated", "customer.deleted"]) == ["customer.updated"]
    assert found(type="customer.subscription.*") == ["customer.subscription.deleted", "customer.subscription.created"]
    assert found(type="customer.created") == ["customer.created"]


def test_events_older_than_30_days_are_gone(clocked):
    account, clock = clocked
    account.world.add_customer(username="old")
    old_event = account.world.events[-1]["id"]
    clock.advance(RETENTION_S - 1)
    account.world.add_customer(username="new")
    assert len(listed(account).data) == 2
    clock.advance(2)
    assert len(listed(account).data) == 1
    with pytest.raises(stripe.InvalidRequestError) as gone:
        account.client().v1.events.retrieve(old_event)
    assert (gone.value.http_status, gone.value.code) == (404, "resource_missing")
    with pytest.raises(stripe.InvalidRequestError, match="No such event"):
        listed(account, starting_after=old_event)


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"limit": 0}, 400, "between 1 and 100"),
        ({"limit": 101}, 400, "between 1 and 100"),
        ({"starting_after": "evt_a", "ending_before": "evt_b"}, 400, "only specify one of"),
        ({"starting_after": "evt_unknown"}, 404, "No such event: 'evt_unknown'"),
        ({"ending_before": "evt_unknown"}, 404, "No such event"),
        ({"type": "customer.updated", "types": ["customer.deleted"]}, 400, "either type or types"),
        ({"types": [f"t{n}" for n in range(21)]}, 400, "at most 20"),
        ({"created": {"after": 1}}, 400, "created[after]"),
        ({"created": {"gt": "soon"}}, 400, "Invalid integer"),
        ({"created": "yesterday"}, 400, "Invalid integer"),
        ({"delivery_success": False}, 400, "Received unknown parameter: delivery_success"),
        ({"customer": "cus_x"}, 400, "Received unknown parameter: customer"),
    ],
    ids=lambda value: str(value)[:40],
)
def test_a_bad_events_request_gets_stripes_error(account, params, status, message):
    with pytest.raises(stripe.InvalidRequestError) as refused:
        listed(account, **params)
    assert refused.value.http_status == status and message in str(refused.value.user_message)


def test_dropped_events_are_never_listed(account):
    world = account.world
    cus = world.add_customer(username="alice")
    world.subscribe(cus, "reader_monthly")
    assert world.drop_events(lambda e: e["type"] == "customer.subscription.created") == 1
    assert types(listed(account).data) == ["customer.created"]


def test_each_api_answer_takes_the_configured_round_trip_on_the_fakes_clock():
    clock = FakeClock()
    world = StripeWorld(api_key=API_KEY, api_version=PINNED_API_VERSION)
    with serve(world, clock=clock, latency=0.3) as (url, fake):
        client = make_client(API_KEY, api_base=url, retries=FAST_RETRIES, timeout=5.0)
        done = threading.Event()
        answered: list[int] = []

        def ask() -> None:
            answered.append(len(client.v1.events.list().data))
            done.set()

        threading.Thread(target=ask, daemon=True).start()
        clock.until_blocked(1)  # the request waits on the fake's clock...
        assert not done.is_set()
        clock.advance(0.29)
        assert clock.blocked() == 1 and not done.is_set()
        clock.advance(0.01)  # ...until the round trip has passed
        assert done.wait(5) and answered == [0]
        stats = requests.get(f"{url}/_emulator/stats", timeout=5)  # the emulator's own route: no delay
        assert stats.json()["requests"] == 1 and fake.latency == 0.3


def test_a_negative_latency_is_refused():
    with pytest.raises(ValueError, match="latency must be 0 or more"), serve(StripeWorld(), latency=-1):
        pass
