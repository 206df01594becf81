"""Free libraries are limited where tenants are made: per email (however it is spelt) and per day, over
every shard, against the fake Stripe over HTTP. Refused sign-ups are named, reported and never written."""

from __future__ import annotations

from pathlib import Path

import pytest

from billing.free_limits import FreeLimits, email_identity
from billing.sync import ShardFile, ShardSyncSettings, SyncSettings, run_sync, run_sync_shards
from billing.tenant_ids import tenant_id_for_customer
from config.stack_config import from_mapping
from scripts.stripe_sync import free_limits
from tenants.plans import DEFAULT_PLANS
from tenants.roster import load_roster
from tests.billing.support import at, now, write_hand_managed
from tests.program.harness import SETTINGS_VALUES, config_problems

DAY = "2026-11-26"


def free_signup(world, username: str, email: str, day: str = DAY, minute: int = 0, key: str = "free_monthly"):
    """A stranger's sign-up as the site makes it: a new customer with the name and email typed in."""
    cus = world.add_customer(username=username, email=email, created=at(day) + minute * 60)
    world.subscribe(cus, key)
    return cus


DEFAULTS = FreeLimits()


def sync(account, roster: Path, day: str = DAY, free: FreeLimits | None = DEFAULTS):
    settings = SyncSettings(roster=roster, plans=DEFAULT_PLANS, free=free)
    return run_sync(settings, account.client(), now(day))


def stripe_usernames(roster: Path) -> list[str]:
    return sorted(t.username for t in load_roster(roster) if t.stripe_customer)


@pytest.fixture
def roster(tmp_path):
    path = tmp_path / "roster.yaml"
    write_hand_managed(path)
    return path


def test_six_free_signups_with_one_email_make_one_library_and_name_the_five_refused(account, roster):
    """Before, all six became tenants: six apps, volumes, machines, buckets and tokens for one person."""
    for n in range(6):
        free_signup(account.world, f"reader{n}", "reader@example.org", minute=n)
    summary = sync(account, roster)
    assert stripe_usernames(roster) == ["reader0"]  # the oldest sign-up
    refused = [n for n in summary.report.notices if n.kind == "skipped"]
    assert [n.message for n in refused] == [
        f"not added: free library 'reader{n}' refused: its email already holds 1 live free library "
        "(alex-hosted:freeLibrariesPerEmail is 1)"
        for n in range(1, 6)
    ]
    assert summary.report.needs_attention
    assert "reader@example.org" not in " ".join(n.message for n in refused)  # named by username, not email
    before = roster.read_bytes()
    again = sync(account, roster, "2026-11-27")
    assert not again.written and roster.read_bytes() == before  # refused on every run, never written


SPELLINGS = [
    "Reader@Example.org",
    "READER@EXAMPLE.ORG",
    "reader+library2@example.org",
    "reader+@example.org",
    "Reader+Second.Try@Example.ORG",
]


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_an_email_is_one_identity_however_it_is_spelt(account, roster, spelling):
    free_signup(account.world, "first", "reader@example.org")
    free_signup(account.world, "second", spelling, minute=1)
    summary = sync(account, roster)
    assert stripe_usernames(roster) == ["first"]
    assert [n.kind for n in summary.report.notices if "second" in n.message] == ["skipped"]


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("a.reader@gmail.com", "areader@gmail.com"),
        ("areader@googlemail.com", "A.Reader+x@GMail.com"),
        ("Reader@Example.org", "reader+tag@example.org"),
    ],
)
def test_email_identity_folds_what_mail_systems_fold(one, other):
    assert email_identity(one) == email_identity(other)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("a.reader@example.org", "areader@example.org"),  # dots matter outside Gmail
        ("reader@example.org", "reader@example.com"),
        ("reader@sub.example.org", "reader@example.org"),
    ],
)
def test_email_identity_keeps_apart_what_differs(one, other):
    assert email_identity(one) != email_identity(other)


def test_paid_libraries_are_not_limited_and_do_not_count_against_the_free_one(account, roster):
    for n in range(3):
        free_signup(account.world, f"paid{n}", "reader@example.org", minute=n, key="reader_monthly")
    free_signup(account.world, "free-one", "reader@example.org", minute=5)
    summary = sync(account, roster)
    assert stripe_usernames(roster) == ["free-one", "paid0", "paid1", "paid2"]
    assert not summary.report.needs_attention


def test_one_customer_with_several_free_subscriptions_is_one_library(account, roster):
    cus = free_signup(account.world, "solo", "solo@example.org")
    for _ in range(3):
        account.world.subscribe(cus, "free_monthly")
    sync(account, roster)
    assert [t.id for t in load_roster(roster) if t.stripe_customer] == [tenant_id_for_customer(cus)]


def test_a_free_library_that_ended_frees_its_place_for_the_same_email(account, roster):
    first = free_signup(account.world, "first", "reader@example.org", day="2026-11-01")
    sync(account, roster, "2026-11-01")
    (sub,) = [s.id for s in account.world.subscriptions.values() if s.customer == first]
    account.world.cancel(sub, at=at("2026-11-10"))
    free_signup(account.world, "second", "reader@example.org", minute=1)
    summary = sync(account, roster)
    assert stripe_usernames(roster) == ["first", "second"]  # first is cancelled, awaiting its purge
    assert not summary.report.needs_attention


def test_a_second_free_library_waits_while_the_first_is_live_then_is_refused_each_run(account, roster):
    free_signup(account.world, "first", "reader@example.org", day="2026-11-01")
    sync(account, roster, "2026-11-01")
    free_signup(account.world, "second", "READER@example.org")
    summary = sync(account, roster)
    assert stripe_usernames(roster) == ["first"]
    assert any("free library 'second' refused" in n.message for n in summary.report.notices)


def test_the_daily_ceiling_keeps_the_rest_waiting_for_a_later_day_without_leaking_across_runs(account, roster):
    limits = FreeLimits(per_email=1, per_day=3)
    for n in range(5):
        free_signup(account.world, f"burst{n}", f"burst{n}@example.org", minute=n)
    first = sync(account, roster, free=limits)
    assert stripe_usernames(roster) == ["burst0", "burst1", "burst2"]
    waiting = [n for n in first.report.notices if n.kind == "pending"]
    assert [n.message for n in waiting] == [
        f"not added yet: free library 'burst{n}' waits: 3 free libraries were made today "
        "(alex-hosted:freeSignupsPerDay); a later day's run adds it"
        for n in (3, 4)
    ]
    assert not first.report.needs_attention  # waiting is information, not a fault
    again = sync(account, roster, free=limits)  # a second run the same day adds nothing
    assert stripe_usernames(roster) == ["burst0", "burst1", "burst2"] and not again.written
    sync(account, roster, "2026-11-27", free=limits)
    assert stripe_usernames(roster) == [f"burst{n}" for n in range(5)]
    made = {t.username: t.created_at for t in load_roster(roster) if t.stripe_customer}
    assert str(made["burst3"]) == "2026-11-27"  # counted against the day its library was made


def test_the_daily_ceiling_never_holds_back_a_paying_customer(account, roster):
    limits = FreeLimits(per_email=1, per_day=1)
    for n in range(3):
        free_signup(account.world, f"free{n}", f"free{n}@example.org", minute=n)
    free_signup(account.world, "payer", "payer@example.org", minute=9, key="library_monthly")
    sync(account, roster, free=limits)
    assert stripe_usernames(roster) == ["free0", "payer"]


def test_a_burst_of_free_signups_never_fills_the_shards_paying_customers_need(account, tmp_path):
    north, south = tmp_path / "north.yaml", tmp_path / "south.yaml"
    north.write_text("[]\n", encoding="utf-8")
    south.write_text("[]\n", encoding="utf-8")
    for n in range(40):
        free_signup(account.world, f"bot{n:02d}", f"bot{n:02d}@example.org", minute=n)
    free_signup(account.world, "payer", "payer@example.org", minute=50, key="reader_monthly")
    settings = ShardSyncSettings(
        shards=(ShardFile("north", north, 4), ShardFile("south", south, 4)),
        plans=DEFAULT_PLANS,
        free=FreeLimits(per_email=1, per_day=5),
    )
    summary = run_sync_shards(settings, account.client(), now(DAY))
    placed = [t.username for path in (north, south) for t in load_roster(path)]
    assert "payer" in placed and len(placed) == 6  # 5 free for the day, and the paying customer
    assert sum(1 for n in summary.run.report.notices if n.kind == "pending") == 35


def test_no_limits_keeps_the_old_behaviour(account, roster):
    for n in range(3):
        free_signup(account.world, f"reader{n}", "reader@example.org", minute=n)
    sync(account, roster, free=None)
    assert stripe_usernames(roster) == ["reader0", "reader1", "reader2"]


def test_the_stack_keys_set_the_limits_the_sync_uses():
    values = {**SETTINGS_VALUES, "alex-hosted:freeLibrariesPerEmail": 2, "alex-hosted:freeSignupsPerDay": "40"}
    assert free_limits(from_mapping("prod", values)) == FreeLimits(per_email=2, per_day=40)
    assert free_limits(from_mapping("prod", SETTINGS_VALUES)) == FreeLimits(per_email=1, per_day=25)
    assert free_limits(None) == FreeLimits()  # a roster synced alone


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("freeLibrariesPerEmail", -1, "alex-hosted:freeLibrariesPerEmail: expected a whole number of free libraries one email may hold from 0 to 10000, got -1"),
        ("freeLibrariesPerEmail", "one", "alex-hosted:freeLibrariesPerEmail: expected a whole number of free libraries one email may hold from 0 to 10000, got 'one'"),
        ("freeLibrariesPerEmail", True, "alex-hosted:freeLibrariesPerEmail: expected a whole number of free libraries one email may hold from 0 to 10000, got True"),
        ("freeSignupsPerDay", 1.5, "alex-hosted:freeSignupsPerDay: expected a whole number of free libraries made in one day from 0 to 10000, got 1.5"),
        ("freeSignupsPerDay", 10001, "alex-hosted:freeSignupsPerDay: expected a whole number of free libraries made in one day from 0 to 10000, got 10001"),
        ("freeSignupsPerDay", "\u0661\u0662", "alex-hosted:freeSignupsPerDay: expected a whole number of free libraries made in one day from 0 to 10000, got '\u0661\u0662'"),
    ],
)  # fmt: skip
def test_a_bad_limit_is_named_with_what_it_expects(key, value, message):
    assert config_problems({f"alex-hosted:{key}": value}) == [message]


def test_zero_free_libraries_a_day_makes_none(account, roster):
    free_signup(account.world, "hopeful", "hopeful@example.org")
    summary = sync(account, roster, free=FreeLimits(per_email=1, per_day=0))
    assert stripe_usernames(roster) == [] and summary.report.count("pending") == 1


def test_sign_ups_from_days_the_sync_missed_still_count_against_the_day_they_are_made(account, roster):
    """A burst from yesterday, synced today in two runs: the ceiling counts libraries made today, not
    customers created today, or every run would add another day's worth."""
    limits = FreeLimits(per_email=1, per_day=2)
    for n in range(6):
        free_signup(account.world, f"late{n}", f"late{n}@example.org", day="2026-11-25", minute=n)
    sync(account, roster, free=limits)
    sync(account, roster, free=limits)
    assert stripe_usernames(roster) == ["late0", "late1"]
