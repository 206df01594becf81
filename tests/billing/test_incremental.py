"""Incremental Stripe syncs against the fake Stripe: a run reads the events since the cursor and re-reads
only the customers they name, and gives those customers exactly what a full run gives (the same
reconcile rules: lifecycle, holds, grace windows, usernames and their races, free limits, placement),
keeps the cursor after the rosters, and lists everything instead, saying why, whenever it cannot be
sure. The full run stays the safety net: an event Stripe never listed is repaired by it."""

from __future__ import annotations

import shutil
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

import billing.incremental as incremental_module
import billing.sync as sync_module
from billing.cursor import FULL_EVERY, cursor_path, dump_cursor, parse_cursor
from billing.free_limits import FreeLimits
from billing.stripe_events import EventMark
from billing.stripe_source import make_client
from billing.sync import ShardFile, ShardSyncSettings, SyncError, SyncSettings, run_sync, run_sync_shards
from billing.tenant_ids import tenant_id_for_customer
from emulators.faults import Fault
from emulators.stripe.state import StripeWorld
from tenants.plans import DEFAULT_PLANS
from tenants.roster import RosterEntry, dump_roster, load_roster, write_roster
from tests.billing.support import API_KEY, FAST_RETRIES, FakeAccount, at, now, write_hand_managed

NOW = now("2026-11-26")


def settings(roster: Path, *, incremental: bool = True, **extra) -> SyncSettings:
    return SyncSettings(
        roster=roster, plans=DEFAULT_PLANS, cursor=cursor_path(roster), incremental=incremental, **extra
    )


def sync(account: FakeAccount, roster: Path, *, when: datetime = NOW, incremental: bool = True, **extra):
    return run_sync(settings(roster, incremental=incremental, **extra), account.client(), when)


def customer(
    world: StripeWorld, username: str, key: str = "reader_monthly", *, day: str = "2026-01-01", email: str | None = None
) -> tuple[str, str]:
    cus = world.add_customer(username=username, email=email or f"{username}@example.com", created=at(day))
    return cus, world.subscribe(cus, key)


@pytest.fixture
def roster(tmp_path: Path) -> Path:
    path = tmp_path / "prod.yaml"
    write_hand_managed(path)
    return path


@pytest.fixture
def started(account: FakeAccount, roster: Path) -> Path:
    """A domain already in step: ten customers, the rosters and the cursor written by a full run."""
    for n in range(10):
        customer(account.world, f"reader{n}")
    summary = sync(account, roster, incremental=False)
    assert summary.read.mode == "full" and summary.read.cursor_outcome == "written"
    return roster


def by_username(roster: Path) -> dict[str, RosterEntry]:
    return {t.username: t for t in load_roster(roster)}


def test_a_new_customer_costs_a_few_requests_whatever_the_roster(account, started):
    cus, _ = customer(account.world, "newbie", "library_monthly")
    before = account.requests
    summary = sync(account, started)
    read = summary.read
    assert (read.mode, read.fallback, read.events, read.customers) == ("incremental", "", 1, 1)
    assert account.requests - before == 2  # the events since the cursor, the one customer's subscriptions
    assert [(c.kind, c.tenant_id) for c in summary.report.changes] == [("added", tenant_id_for_customer(cus))]
    assert by_username(started)["newbie"].plan == "library"
    assert summary.report.subscriptions == 1 and not summary.report.notices  # no one else is "missing"
    assert read.cursor_outcome == "written"


def test_a_second_run_with_nothing_new_changes_and_writes_nothing(account, started):
    customer(account.world, "newbie")
    sync(account, started)
    roster_bytes, cursor_bytes = started.read_bytes(), cursor_path(started).read_bytes()
    before = account.requests
    again = sync(account, started)
    assert (again.read.mode, again.read.events, again.written) == ("incremental", 0, False)
    assert account.requests - before == 1 and not again.report.changes
    assert started.read_bytes() == roster_bytes and cursor_path(started).read_bytes() == cursor_bytes
    assert again.read.cursor_outcome == "unchanged"


def test_what_an_incremental_run_writes_is_what_a_full_run_writes(account, tmp_path):
    """Every kind of change at once, each customer's events since the cursor; the same bytes as a full
    run of a copy of the same rosters."""
    world = account.world
    roster = tmp_path / "a" / "prod.yaml"
    roster.parent.mkdir()
    subs = {name: customer(world, name) for name in ("cancel", "unpaid", "upgrade", "rename", "email", "gone", "held")}
    back, back_sub = customer(world, "comeback")
    held = subs["held"][0]
    world.set_status(subs["held"][1], "unpaid")
    # An operator's hold: the entry as the sync left it, plus the hold (set before the cursor was written).
    write_hand_managed(roster, [RosterEntry(
        tenant_id_for_customer(held), "held", "held@example.com", "reader", "suspended",
        stripe_customer=held, created_at=date(2026, 1, 1), hold="operator",
    )])  # fmt: skip
    sync(account, roster, incremental=False)
    world.cancel(back_sub, at=at("2026-11-10"))
    sync(account, roster, incremental=False)
    assert by_username(roster)["comeback"].state == "cancelled"

    world.cancel(subs["cancel"][1], at=at("2026-11-20"))
    world.set_status(subs["unpaid"][1], "unpaid")
    world.change_price(subs["upgrade"][1], "library_yearly")
    world.set_customer_metadata(subs["rename"][0], username="renamed")
    world.set_customer_email(subs["email"][0], "New.Address@Example.COM")
    world.delete_customer(subs["gone"][0], at=at("2026-11-25"))
    world.set_status(subs["held"][1], "active")  # paid again, but on hold: stays suspended
    world.subscribe(back, "reader_monthly")  # subscribes again: reactivated
    older, _ = customer(world, "twin", day="2026-11-24")
    customer(world, "twin", day="2026-11-25")  # the same name, later: a lost race
    customer(world, "fresh", "library_monthly")

    full = tmp_path / "b" / "prod.yaml"
    full.parent.mkdir()
    shutil.copy(roster, full)
    expected = sync(account, full, incremental=False, dry_run=True)
    summary = sync(account, roster, dry_run=True)
    assert summary.read.mode == "incremental" and summary.read.customers == 11, summary.read
    assert summary.report.changes == expected.report.changes
    assert summary.report.lost_claims == expected.report.lost_claims
    assert sorted(c.kind for c in summary.report.changes) == [
        "added", "added", "cancelled", "cancelled", "email", "reactivated", "renamed", "suspended", "upgraded",
    ]  # fmt: skip
    (claim,) = summary.report.lost_claims
    assert (claim.username, claim.holder) == ("twin", tenant_id_for_customer(older))  # the older customer won
    for kind in ("skipped", "warning", "pending", "missing"):
        assert [n for n in summary.report.notices if n.kind == kind] == [
            n for n in expected.report.notices if n.kind == kind
        ]
    # Written, the two rosters are the same bytes.
    sync(account, full, incremental=False)
    sync(account, roster)
    assert roster.read_bytes() == full.read_bytes()
    assert by_username(roster)["held"].state == "suspended"


def test_a_name_an_untouched_entry_frees_in_this_run_goes_to_the_new_customer_as_in_a_full_run(account, tmp_path):
    """The entry holding `bob` is purging and goes today; no event names it. A full run frees the name
    and gives it to the new customer; so must the incremental run, which reads the holder too, or the
    new customer would be refunded for a race it won."""
    world = account.world
    roster = tmp_path / "prod.yaml"
    old, old_sub = customer(world, "bob", day="2025-01-01")
    world.cancel(old_sub, at=at("2026-09-01"))
    write_hand_managed(roster, [RosterEntry(
        tenant_id_for_customer(old), "bob", "bob@example.com", "reader", "purging", stripe_customer=old,
        created_at=date(2025, 1, 1), cancelled_at=date(2026, 9, 1), purge_after=date(2026, 10, 1),
        purge_marked_at=date(2026, 11, 25),
    )])  # fmt: skip
    late_evening = datetime.fromisoformat("2026-11-25T23:30:00+00:00")
    sync(account, roster, when=late_evening, incremental=False)  # purging since today: stays until tomorrow
    assert "bob" in by_username(roster)
    new, _ = customer(world, "bob", day="2026-11-25")
    requests_before = account.requests
    summary = sync(account, roster, when=late_evening + timedelta(minutes=40))
    assert summary.read.mode == "incremental" and summary.read.customers == 2  # the new one and the holder
    assert account.requests - requests_before == 3
    assert [(c.kind, c.customer) for c in summary.report.changes] == [("added", new), ("removed", old)]
    assert by_username(roster)["bob"].stripe_customer == new and not summary.report.lost_claims


def free_signup(world: StripeWorld, username: str, email: str) -> str:
    cus, _ = customer(world, username, "free_monthly", day="2026-11-26", email=email)
    return cus


def test_a_free_library_over_its_emails_limit_is_refused_though_no_event_names_the_one_it_holds(account, roster):
    free_signup(account.world, "first", "Reader@gmail.com")
    yesterday = datetime.fromisoformat("2026-11-25T23:00:00+00:00")  # made yesterday: not today's count
    sync(account, roster, when=yesterday, incremental=False)
    free_signup(account.world, "second", "r.e.a.d.e.r+two@googlemail.com")
    summary = sync(account, roster, when=yesterday + timedelta(hours=1))
    assert summary.read.mode == "incremental" and summary.read.customers == 2
    (refused,) = [n for n in summary.report.notices if n.kind == "skipped"]
    assert "free library 'second' refused: its email already holds 1 live free library" in refused.message
    assert "second" not in by_username(roster)


def test_free_libraries_made_today_count_against_the_day_though_no_event_names_them(account, roster):
    limits = FreeLimits(per_email=1, per_day=2)
    free_signup(account.world, "one", "one@example.org")
    free_signup(account.world, "two", "two@example.org")
    sync(account, roster, incremental=False, free=limits)
    free_signup(account.world, "three", "three@example.org")
    summary = sync(account, roster, free=limits)
    assert summary.read.mode == "incremental" and summary.read.customers == 3
    (waiting,) = [n for n in summary.report.notices if n.kind == "pending"]
    assert "free library 'three' waits: 2 free libraries were made today" in waiting.message
    assert "three" not in by_username(roster)


def test_new_tenants_are_placed_in_the_first_shard_with_room(account, tmp_path):
    north, south = tmp_path / "north.yaml", tmp_path / "south.yaml"
    north.write_text(dump_roster([]))
    south.write_text(dump_roster([]))
    for n in range(2):
        customer(account.world, f"reader{n}")
    shards = ShardSyncSettings(
        shards=(ShardFile("north", north, 2), ShardFile("south", south, 5)),
        plans=DEFAULT_PLANS,
        domain="books.example.com",
        cursor=cursor_path(north),
    )
    run_sync_shards(shards, account.client(), NOW)
    new, _ = customer(account.world, "reader2")
    summary = run_sync_shards(ShardSyncSettings(**{**shards.__dict__, "incremental": True}), account.client(), NOW)
    assert summary.run.read.mode == "incremental"
    assert [(s.stack, s.added, s.written) for s in summary.shards] == [("north", 0, False), ("south", 1, True)]
    assert [t.stripe_customer for t in load_roster(south)] == [new]
    assert set(parse_cursor(cursor_path(north).read_bytes()).rosters) == {"north.yaml", "south.yaml"}


def test_an_event_stripe_never_listed_is_repaired_by_the_full_run(account, started):
    """The safety net: the change's event is dropped, so the incremental run cannot see it; the hourly
    full run does, and so does an incremental run once the last full one is FULL_EVERY old."""
    world = account.world
    cus = next(c for c in world.customers.values() if c.metadata.get("username") == "reader3").id
    sub = next(s.id for s in world.subscriptions.values() if s.customer == cus)
    world.set_status(sub, "unpaid")
    assert world.drop_events(lambda e: e["type"] == "customer.subscription.updated") == 1
    missed = sync(account, started)
    assert missed.read.mode == "incremental" and not missed.report.changes
    assert by_username(started)["reader3"].state == "active"  # wrong, and nothing says so

    later = NOW + FULL_EVERY + timedelta(minutes=1)
    net = sync(account, started, when=later)
    assert net.read.mode == "full" and "the safety net is due" in net.read.fallback
    assert [(c.kind, c.customer) for c in net.report.changes] == [("suspended", cus)]
    assert by_username(started)["reader3"].state == "suspended"
    assert sync(account, started, when=later).read.mode == "incremental"  # the full run reset the clock


def test_the_hourly_full_run_repairs_a_dropped_event(account, started):
    cus, sub = customer(account.world, "latecomer")
    account.world.drop_events(lambda e: e["data"]["object"].get("customer") == cus)
    assert sync(account, started).report.changes == []
    hourly = sync(account, started, incremental=False)
    assert [(c.kind, c.customer) for c in hourly.report.changes] == [("added", cus)]


def test_a_hand_edit_since_the_cursor_makes_the_next_run_full(account, started):
    started.write_text(started.read_text() + "# a hand edit\n")
    customer(account.world, "newbie")
    summary = sync(account, started)
    assert summary.read.mode == "full" and summary.read.fallback.startswith("the rosters changed since cursor")
    assert "newbie" in by_username(started) and summary.read.cursor_outcome == "written"
    assert sync(account, started).read.mode == "incremental"


@pytest.mark.parametrize(
    ("spoil", "reason"),
    [
        (lambda path: path.unlink(), "no cursor at"),
        (lambda path: path.write_text("{not json"), "is unreadable (not JSON)"),
        (lambda path: path.write_bytes(b"\xff"), "is unreadable (not UTF-8)"),
        (
            lambda path: path.write_text(
                dump_cursor(
                    parse_cursor(path.read_bytes()).__class__(
                        EventMark(1, ()), NOW - timedelta(days=31), parse_cursor(path.read_bytes()).rosters
                    )
                )
            ),
            "days old and Stripe keeps events 30 days",
        ),
    ],
    ids=["lost", "not-json", "not-utf8", "too-old"],
)
def test_a_cursor_that_cannot_be_used_makes_a_full_run_that_says_why(account, started, spoil, reason):
    spoil(cursor_path(started))
    cus, _ = customer(account.world, "newbie")
    summary = sync(account, started)
    assert summary.read.mode == "full" and reason in summary.read.fallback
    assert [c.customer for c in summary.report.changes] == [cus]
    assert summary.read.cursor_outcome == "written" and sync(account, started).read.mode == "incremental"


def test_more_changes_than_a_full_listing_costs_make_a_full_run(account, started, monkeypatch):
    monkeypatch.setattr(incremental_module, "MIN_BUDGET", 2)
    for n in range(5):
        customer(account.world, f"burst{n}")
    summary = sync(account, started)
    assert summary.read.mode == "full"
    assert "re-reading them takes more round trips than a full listing (2 at most)" in summary.read.fallback
    assert sum(1 for c in summary.report.changes if c.kind == "added") == 5


def test_an_event_naming_no_customer_makes_a_full_run(account, started):
    account.world.record_event("customer.subscription.updated", {"object": "subscription", "id": "sub_x"})
    summary = sync(account, started)
    assert summary.read.mode == "full" and "names no customer id" in summary.read.fallback


def test_a_key_that_may_not_read_events_makes_full_runs_and_a_warning(account, started):
    account.fake.faults.add(Fault(path="/v1/events", status=403, times=2))
    customer(account.world, "newbie")
    summary = sync(account, started)
    assert summary.read.mode == "full" and "may not read events (HTTP 403)" in summary.read.fallback
    (warning,) = summary.report.notices
    assert warning.kind == "warning" and "no cursor kept" in warning.message and "Events read" in warning.message
    assert summary.read.cursor_outcome == "not written (Stripe's events could not be read)"
    assert "newbie" in by_username(started)


def test_a_full_run_whose_events_cannot_be_read_still_reconciles_everything(account, roster):
    account.fake.faults.add(Fault(path="/v1/events", status=500, times=10))  # beyond the SDK's retries
    customer(account.world, "alice")
    summary = sync(account, roster, incremental=False)
    assert "alice" in by_username(roster) and not cursor_path(roster).exists()
    (warning,) = summary.report.notices
    assert warning.kind == "warning" and warning.message.startswith("no cursor kept")
    assert "HTTP 500" in warning.message and "Events read" not in warning.message
    assert summary.read.cursor_outcome == "not written (Stripe's events could not be read)"


def test_a_dry_run_reads_incrementally_and_writes_neither_file(account, started):
    customer(account.world, "newbie")
    before = (started.read_bytes(), cursor_path(started).read_bytes())
    summary = sync(account, started, dry_run=True)
    assert summary.read.mode == "incremental" and summary.read.cursor_outcome == "not written (dry run)"
    assert [c.kind for c in summary.report.changes] == ["added"]
    assert (started.read_bytes(), cursor_path(started).read_bytes()) == before


def test_a_cursor_that_cannot_be_written_is_a_warning_and_the_next_run_is_full(account, started, monkeypatch):
    def broken_disk(*_args, **_kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(incremental_module, "write_cursor", broken_disk)
    customer(account.world, "newbie")
    summary = sync(account, started)
    assert summary.written and summary.read.cursor_outcome == "not written (No space left on device)"
    (warning,) = summary.report.notices
    assert warning.kind == "warning" and "the next incremental run lists everything" in warning.message
    monkeypatch.undo()
    after = sync(account, started)  # the roster moved on without its cursor: not trusted
    assert after.read.mode == "full" and after.read.fallback.startswith("the rosters changed since cursor")


def test_a_cursor_another_run_wrote_meanwhile_is_left_as_it_is(account, started, monkeypatch):
    real = write_roster

    def another_run_writes_the_cursor(*args, **kwargs):
        cursor_path(started).write_text(cursor_path(started).read_text().replace('"version"', '"version" '))
        return real(*args, **kwargs)

    monkeypatch.setattr(sync_module, "write_roster", another_run_writes_the_cursor)
    customer(account.world, "newbie")
    summary = sync(account, started)
    assert summary.written and summary.read.cursor_outcome == "taken"


def test_without_a_cursor_file_a_run_asked_to_be_incremental_lists_everything(account, roster):
    customer(account.world, "alice")
    plain = SyncSettings(roster=roster, plans=DEFAULT_PLANS, incremental=True)
    summary = run_sync(plain, account.client(), NOW)
    assert summary.read.mode == "full" and summary.read.fallback == "no cursor is kept for this run"
    assert not cursor_path(roster).exists()


def test_a_roster_that_cannot_be_used_is_reported_before_stripe_failing(tmp_path, closed_port):
    """The rosters are parsed while Stripe is read; a broken one is still what the run reports."""
    roster = tmp_path / "prod.yaml"
    roster.write_text("- id: [unclosed\n")
    down = make_client(API_KEY, api_base=f"http://127.0.0.1:{closed_port}", retries=FAST_RETRIES, timeout=2.0)
    with pytest.raises(SyncError) as caught:
        run_sync(settings(roster, incremental=False), down, NOW, sleep=lambda _: None)
    assert str(caught.value).startswith(f"{roster}: 1 problem") and "not valid YAML" in str(caught.value)
