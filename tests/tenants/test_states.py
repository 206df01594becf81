"""The lifecycle words: one spelling everywhere, and plain strings in every file the program writes."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from components.machine_config import RUN_STATES
from tenants.roster import RosterEntry, dump_roster, load_roster, parse_roster, write_roster
from tenants.states import HOLDS, KEEPS_MACHINE, STATES, Hold, TenantState

PLAIN = RosterEntry(
    "acme000001", "alice", "alice@example.org", "reader", "suspended", hold="over_quota", created_at=date(2026, 1, 1)
)
TYPED = RosterEntry(
    "acme000001",
    "alice",
    "alice@example.org",
    "reader",
    TenantState.SUSPENDED,
    hold=Hold.OVER_QUOTA,
    created_at=date(2026, 1, 1),
)


def test_states_are_the_roster_file_words_in_the_documented_order() -> None:
    # The order shows in every "unknown state" message.
    assert STATES == ("active", "suspended", "cancelled", "purging")
    assert HOLDS == ("over_quota", "operator")


def test_states_the_machine_is_kept_in_are_exactly_those_with_a_run_state() -> None:
    assert set(RUN_STATES) == KEEPS_MACHINE == set(TenantState) - {TenantState.PURGING}


def test_states_typed_entry_holds_plain_strings() -> None:
    assert type(TYPED.state) is str and type(TYPED.hold) is str
    assert type(PLAIN.with_changes(state=TenantState.CANCELLED).state) is str
    assert TYPED == PLAIN


def test_states_typed_entry_dumps_byte_identical_to_plain_one() -> None:
    # yaml's safe dumper refuses str subclasses ("cannot represent an object"): the entry must not hold one.
    assert dump_roster([TYPED]) == dump_roster([PLAIN])
    assert "state: suspended\n  hold: over_quota\n" in dump_roster([TYPED])
    assert json.dumps(TYPED.to_mapping(), default=str) == json.dumps(PLAIN.to_mapping(), default=str)


def test_states_typed_entry_writes_the_same_file(tmp_path: Path) -> None:
    plain, typed = tmp_path / "plain.yaml", tmp_path / "typed.yaml"
    write_roster(plain, [PLAIN])
    write_roster(typed, [TYPED])
    assert typed.read_bytes() == plain.read_bytes()
    assert load_roster(typed) == [PLAIN]


def test_states_loaded_roster_compares_equal_to_the_enum_members() -> None:
    (entry,) = parse_roster(dump_roster([PLAIN]), "roster.yaml")
    assert entry.state == TenantState.SUSPENDED and entry.hold == Hold.OVER_QUOTA
