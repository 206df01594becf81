"""GET /api/available: the roster's rule, the names every roster holds, then checkouts in flight."""

from __future__ import annotations

import os
import time

import pytest

from tests.signup.conftest import Site, write_names


@pytest.mark.parametrize(
    ("username", "reason"),
    [
        ("ab", "must be 3-32 characters"),
        ("a" * 33, "must be 3-32 characters"),
        ("Alice", "must be lowercase a-z"),
        ("-alice", "not starting or ending with '-'"),
        ("al_ice", "must be lowercase a-z"),
        ("xn--bcher-kva", "punycode"),
        ("www", "is reserved"),
        ("admin", "is reserved"),
    ],
    ids=[
        "too-short",
        "too-long",
        "uppercase",
        "leading-hyphen",
        "underscore",
        "punycode",
        "reserved-www",
        "reserved-admin",
    ],
)
def test_a_name_the_roster_would_refuse_is_unavailable_with_the_rule(site: Site, username: str, reason: str):
    answer = site.available(username)
    assert answer["username"] == username and answer["available"] is False
    assert reason in answer["reason"]
    assert site.fake.posts("/v1/checkout/sessions") == []


def test_a_free_name_is_available(site: Site):
    assert site.available("brand-new") == {"username": "brand-new", "available": True, "reason": None}


def test_a_name_any_roster_holds_is_taken_and_the_answer_names_no_one(site: Site):
    answer = site.available("alice")
    assert answer == {"username": "alice", "available": False, "reason": "this name is taken"}


def test_the_names_file_is_read_again_when_it_changes(site: Site):
    assert site.available("newcomer")["available"] is True
    write_names(site.names_file, ["alice", "newcomer"])
    stamp = time.time() + 5  # a different mtime even on a coarse clock
    os.utime(site.names_file, (stamp, stamp))
    assert site.available("newcomer")["reason"] == "this name is taken"


def test_a_broken_names_file_keeps_the_last_good_list(site: Site):
    site.names_file.write_text("{not json", encoding="utf-8")
    stamp = time.time() + 5
    os.utime(site.names_file, (stamp, stamp))
    assert site.available("alice")["available"] is False
    assert site.available("someone")["available"] is True


def test_a_name_held_by_an_open_checkout_is_unavailable_until_it_expires(site: Site):
    session = site.open_checkout("pending-one")
    answer = site.available("pending-one")
    assert answer["available"] is False and "signing up" in answer["reason"]
    site.world.expire_checkout(session)
    assert site.available("pending-one")["available"] is True


def test_a_name_whose_checkout_was_paid_stays_held_until_the_roster_has_it(site: Site):
    session = site.open_checkout("paid-one")
    site.world.complete_checkout(session)
    assert site.available("paid-one")["available"] is False


def test_over_64_characters_or_control_characters_is_400_without_asking_stripe(site: Site):
    before = len(site.fake.faults.requests())
    assert site.get("/api/available", params={"username": "a" * 65}).status_code == 400
    assert site.get("/api/available", params={"username": "alice\n"}).status_code == 400
    assert site.get("/api/available", params={"username": "ali\u200bce"}).status_code == 400
    assert len(site.fake.faults.requests()) == before
