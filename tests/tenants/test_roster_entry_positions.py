"""Problems name the entry by its place in the file and its id as written, and duplicates are always found.

An entry that fails a rule still claims its id and username: a later copy is a duplicate whether the
first copy, the second or both have other problems, and no problem is pinned on the wrong entry.
"""

from __future__ import annotations

import pytest

from tenants.roster import RosterError, parse_roster

CLEAN = {"id": "acme000001", "username": "alice", "email": "a@example.org", "plan": "reader", "state": "active"}
BROKEN: dict[str, object] = {"email": "not-an-email", "plan": "gold"}  # other problems an entry may have
UNPARSED: dict[str, object] = {
    "state": None,
    "created_at": "yesterday",
}  # problems that stop the entry from being built


def entry(*faults: dict[str, object], **changes: object) -> str:
    fields: dict[str, object] = {**CLEAN, **changes}
    for fault in faults:
        fields.update(fault)
    return "- " + "\n  ".join(f"{k}: {v}" for k, v in fields.items() if v is not None) + "\n"


def found(text: str) -> list[str]:
    with pytest.raises(RosterError) as caught:
        parse_roster(text, "roster.yaml")
    return [str(p) for p in caught.value.problems]


FAULTS: dict[str, dict[str, object]] = {"clean": {}, "broken": BROKEN, "unparsed": UNPARSED}


@pytest.mark.parametrize("second", FAULTS)
@pytest.mark.parametrize("first", FAULTS)
def test_roster_positions_duplicate_id_is_reported_whatever_else_is_wrong(first: str, second: str) -> None:
    text = entry(FAULTS[first]) + entry(FAULTS[second], username="bob", email="b@example.org")
    problems = found(text)
    assert "entry 2 (id 'acme000001'): id: duplicate of entry 1" in problems
    # Every problem of each copy is pinned on that copy, never on the other.
    for field in ("email", "plan", "state", "created_at"):
        for place, fault in ((1, first), (2, second)):
            on_entry = [p for p in problems if p.startswith(f"entry {place} ") and f": {field}: " in p]
            assert bool(on_entry) == _reported(fault, field), (place, field, problems)


def _reported(fault: str, field: str) -> bool:
    # An entry that cannot be built reports its parse problems only (its other rules need a whole entry).
    return field in (UNPARSED if fault == "unparsed" else FAULTS[fault])


@pytest.mark.parametrize("second", FAULTS)
@pytest.mark.parametrize("first", FAULTS)
def test_roster_positions_duplicate_username_is_reported_whatever_else_is_wrong(first: str, second: str) -> None:
    text = entry(FAULTS[first]) + entry(FAULTS[second], id="bobby00001", email="b@example.org")
    assert "entry 2 (id 'bobby00001'): username: 'alice' is already used by tenant 'acme000001'" in found(text)


def test_roster_positions_a_failed_earlier_copy_does_not_steal_the_later_entry_number() -> None:
    """Entry 1 fails to parse, entries 2 and 3 share its id; 3's problem is entry 3's."""
    text = (
        entry(state=None)
        + entry(username="bob", email="b@example.org")
        + entry(username="carol", email="c@example.org", plan="gold")
    )
    assert found(text) == [
        "entry 1 (id 'acme000001'): state: required",
        "entry 2 (id 'acme000001'): id: duplicate of entry 1",
        "entry 3 (id 'acme000001'): id: duplicate of entry 1",
        "entry 3 (id 'acme000001'): plan: unknown plan 'gold' (plans: free, reader, library)",
    ]


def test_roster_positions_an_entry_that_is_not_a_mapping_keeps_later_numbers_right() -> None:
    text = "- just text\n" + entry(plan="gold")
    assert found(text) == [
        "entry 1: (entry): expected a mapping of field: value, got the str 'just text'",
        "entry 2 (id 'acme000001'): plan: unknown plan 'gold' (plans: free, reader, library)",
    ]
