"""billing.cursor: the file an incremental run starts from, every way it can be unusable (each one a reason
the run gives for listing everything), and its compare-and-swap write under the roster lock."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from billing.cursor import (
    EVENTS_KEPT,
    FULL_EVERY,
    MAX_BYTES,
    Cursor,
    CursorError,
    cursor_path,
    dump_cursor,
    fingerprint,
    parse_cursor,
    read_cursor,
    write_cursor,
)
from billing.stripe_events import MAX_SEEN, EventMark
from tenants.roster import lock_path
from tests.billing.support import now

NOW = now("2026-11-26")
ROSTER = "- id: a\n"


@pytest.fixture
def rosters(tmp_path) -> dict[Path, str]:
    return {tmp_path / "prod.yaml": ROSTER, tmp_path / "prod-2.yaml": "[]\n"}


MARK = EventMark(1_796_000_000, ("evt_1", "evt_2"))


def a_cursor(rosters: dict[Path, str], full_at=NOW, mark=MARK) -> Cursor:
    return Cursor(mark, full_at, fingerprint(rosters))


def test_the_cursor_lives_beside_the_first_roster():
    assert cursor_path(Path("tenants/prod.yaml")) == Path("tenants/prod.stripe-cursor.json")


def test_a_written_cursor_reads_back_and_is_plain_json(tmp_path, rosters):
    path = tmp_path / "prod.stripe-cursor.json"
    cursor = a_cursor(rosters)
    assert write_cursor(path, cursor, None) == "written"
    found = read_cursor(path, NOW + timedelta(minutes=30), rosters)
    assert (found.cursor, found.problem, found.before) == (cursor, "", path.read_bytes())
    data = json.loads(path.read_text())
    assert data["events"] == {"created": 1_796_000_000, "seen": ["evt_1", "evt_2"]}
    assert data["full_at"] == "2026-11-26T18:00:00+00:00" and set(data["rosters"]) == {"prod.yaml", "prod-2.yaml"}
    assert write_cursor(path, cursor, path.read_bytes()) == "unchanged"
    assert lock_path(path).exists()  # the roster's own locking


def test_a_cursor_changed_on_disk_meanwhile_is_left_as_it_is(tmp_path, rosters):
    path = tmp_path / "prod.stripe-cursor.json"
    write_cursor(path, a_cursor(rosters), None)
    theirs = path.read_bytes()
    mine = a_cursor(rosters, mark=EventMark(1_796_000_100, ("evt_3",)))
    assert write_cursor(path, mine, None) == "taken"  # read as absent, now present
    assert write_cursor(path, mine, b"something else") == "taken"
    assert path.read_bytes() == theirs


def test_a_cursor_that_cannot_be_written_is_an_oserror(tmp_path, rosters):
    path = tmp_path / "prod.stripe-cursor.json"
    path.mkdir()
    with pytest.raises(OSError):
        write_cursor(path, a_cursor(rosters), None)


def test_no_cursor_says_so(tmp_path, rosters):
    found = read_cursor(tmp_path / "prod.stripe-cursor.json", NOW, rosters)
    assert found.cursor is None and found.before is None
    assert found.problem == f"no cursor at {tmp_path / 'prod.stripe-cursor.json'} (the first run, or it was lost)"


def test_a_directory_in_its_place_is_unreadable(tmp_path, rosters):
    path = tmp_path / "prod.stripe-cursor.json"
    path.mkdir()
    found = read_cursor(path, NOW, rosters)
    assert found.cursor is None and found.problem == f"cursor {path} is unreadable (Is a directory)"


def valid() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(dump_cursor(Cursor(EventMark(1, ("evt_1",)), NOW, {"prod.yaml": "0" * 64})))
    return data


def spoiled(**changes) -> bytes:
    data = valid()
    for key, value in changes.items():
        if value is ...:
            del data[key]
        else:
            data[key] = value
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "not JSON"),
        (b"{", "not JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"[1]", "not a JSON object"),
        (b"[" * 100_000, "not JSON"),
        (b" " * (MAX_BYTES + 1), "larger than 256 KiB"),
        (spoiled(version=2), "version 2, expected 1"),
        (spoiled(version=True), "version True, expected 1"),
        (spoiled(extra=1), "expected the fields events, full_at, rosters, version"),
        (spoiled(rosters=...), "expected the fields"),
        (spoiled(events=[]), "events: expected created and seen"),
        (spoiled(events={"created": "1", "seen": []}), "events.created: '1' is not a unix time"),
        (spoiled(events={"created": -1, "seen": []}), "events.created: -1 is not a unix time"),
        (spoiled(events={"created": True, "seen": []}), "events.created: True is not a unix time"),
        (spoiled(events={"created": 1, "seen": ["evt_1\n"]}), "events.seen: expected at most"),
        (spoiled(events={"created": 1, "seen": ["ch_1"]}), "events.seen: expected at most"),
        (spoiled(events={"created": 1, "seen": ["evt_1"] * (MAX_SEEN + 1)}), "events.seen: expected at most"),
        (spoiled(full_at="yesterday"), "full_at: 'yesterday' is not an ISO timestamp"),
        (spoiled(full_at="2026-11-26T18:00:00"), "full_at: '2026-11-26T18:00:00' has no time zone"),
        (spoiled(full_at=1_796_000_000), "full_at: 1796000000 is not an ISO timestamp"),
        (spoiled(rosters={"prod.yaml": "abc"}), "rosters: expected roster file names and their sha256"),
        (spoiled(rosters={"../prod.yaml": "0" * 64}), "rosters: expected"),
        (spoiled(rosters=["prod.yaml"]), "rosters: expected"),
    ],
    ids=lambda value: repr(value)[:30] if isinstance(value, bytes) else None,
)
def test_an_unreadable_cursor_names_its_problem(tmp_path, data, problem):
    with pytest.raises(CursorError) as caught:
        parse_cursor(data)
    assert problem in str(caught.value)
    path = tmp_path / "prod.stripe-cursor.json"
    path.write_bytes(data)
    found = read_cursor(path, NOW, {tmp_path / "prod.yaml": ROSTER})
    assert found.cursor is None and found.before == data
    assert found.problem.startswith(f"cursor {path} is unreadable (") and problem in found.problem


def usable_after(tmp_path, rosters, cursor: Cursor, at=NOW, now_rosters=None) -> str:
    path = tmp_path / "prod.stripe-cursor.json"
    path.write_text(dump_cursor(cursor))
    found = read_cursor(path, at, now_rosters if now_rosters is not None else rosters)
    assert (found.cursor is None) == bool(found.problem)
    return found.problem


def test_rosters_changed_since_it_was_written(tmp_path, rosters):
    cursor = a_cursor(rosters)
    assert usable_after(tmp_path, rosters, cursor) == ""
    edited = {**rosters, tmp_path / "prod.yaml": ROSTER + "# a hand edit\n"}
    assert "the rosters changed since cursor" in usable_after(tmp_path, rosters, cursor, now_rosters=edited)
    one_more = {**rosters, tmp_path / "prod-3.yaml": "[]\n"}  # a shard added
    assert "the rosters changed since cursor" in usable_after(tmp_path, rosters, cursor, now_rosters=one_more)


def test_a_cursor_from_the_future_means_the_clocks_disagree(tmp_path, rosters):
    cursor = a_cursor(rosters, full_at=NOW + timedelta(minutes=6))
    assert "later than now" in usable_after(tmp_path, rosters, cursor)
    assert usable_after(tmp_path, rosters, a_cursor(rosters, full_at=NOW + timedelta(minutes=4))) == ""  # skew


def test_the_last_full_listing_over_two_hours_ago_makes_the_run_the_safety_net(tmp_path, rosters):
    cursor = a_cursor(rosters)
    assert usable_after(tmp_path, rosters, cursor, at=NOW + FULL_EVERY) == ""
    problem = usable_after(tmp_path, rosters, cursor, at=NOW + FULL_EVERY + timedelta(seconds=1))
    assert problem == "the last full listing was at 2026-11-26T18:00:00+00:00, over 2 h ago: the safety net is due"


def test_a_cursor_older_than_stripe_keeps_events(tmp_path, rosters):
    problem = usable_after(tmp_path, rosters, a_cursor(rosters), at=NOW + EVENTS_KEPT)
    assert problem.endswith("is 30 days old and Stripe keeps events 30 days")
