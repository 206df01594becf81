"""Every roster rule checks the whole value: no trailing newline, no control or invisible characters.

`re.match(r"^...$")` accepts "demo\\n" (`$` matches before a final newline), so such a value passed every
rule, slipped past the uniqueness check next to "demo" and broke `pulumi up` later. The family: line
ends, spaces around, tabs, NUL, NEL, line separators, no-break and zero-width spaces, for every field
with a format, through the file (parse_roster) and through the writer (validate via write_roster).
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable
from pathlib import Path

import pytest

from tenants.inputs import quote_value
from tenants.roster import Problem, RosterEntry, RosterError, parse_roster, write_roster

GOOD = {
    "id": "acme000001",
    "username": "alice",
    "email": "alice@example.org",
    "plan": "reader",
    "state": "active",
    "region": "ams",
    "stripe_customer": "cus_Q1alice",
    "created_at": "2026-01-01",
}

# How a clean value is spoilt; each is one member of the family.
SPOILERS: dict[str, Callable[[str], str]] = {
    "trailing LF": lambda v: v + "\n",
    "trailing CRLF": lambda v: v + "\r\n",
    "leading space": lambda v: " " + v,
    "trailing space": lambda v: v + " ",
    "tab": lambda v: v + "\t",
    "NUL": lambda v: v + "\x00",
    "NEL": lambda v: v + "\x85",
    "line separator": lambda v: v + "\u2028",
    "no-break space": lambda v: v + "\u00a0",
    "zero-width space inside": lambda v: v[:2] + "\u200b" + v[2:],
    "BOM inside": lambda v: v[:2] + "\ufeff" + v[2:],
}
FIELDS = ("id", "username", "email", "region", "stripe_customer", "created_at", "plan", "state")
_SHOWN_RAW = {"Cc", "Cf", "Zl", "Zp", "Zs"}


def entry_text(**fields: str) -> str:
    """One roster entry with every value double-quoted (JSON escapes are YAML escapes)."""
    values = {**GOOD, **fields}
    return "- " + "\n  ".join(f"{key}: {json.dumps(value)}" for key, value in values.items()) + "\n"


def assert_printable(message: str) -> None:
    bad = [ch for ch in message if ch != " " and unicodedata.category(ch) in _SHOWN_RAW]
    assert not bad, f"raw control/invisible characters in {message!r}"


def test_roster_whole_values_the_clean_entry_loads() -> None:
    (tenant,) = parse_roster(entry_text(), "roster.yaml")
    assert tenant.username == "alice" and tenant.region == "ams"


@pytest.mark.parametrize("spoiler", SPOILERS, ids=list(SPOILERS))
@pytest.mark.parametrize("field", FIELDS)
def test_roster_whole_values_a_spoilt_value_is_refused_naming_entry_field_and_value(field: str, spoiler: str) -> None:
    bad = SPOILERS[spoiler](GOOD[field])
    with pytest.raises(RosterError) as caught:
        parse_roster(entry_text(**{field: bad}), "roster.yaml")
    found = [str(p) for p in caught.value.problems]
    assert len(found) == 1, found
    who = "entry 1" + ("" if field == "id" else " (id 'acme000001')")
    assert found[0].startswith(f"{who}") and f": {field}: " in found[0], found
    assert quote_value(bad) in found[0]  # shown escaped, as repr
    assert_printable(found[0])


@pytest.mark.parametrize("spoiler", SPOILERS, ids=list(SPOILERS))
@pytest.mark.parametrize("field", ["id", "username", "email", "region", "stripe_customer", "plan", "state"])
def test_roster_whole_values_the_writer_refuses_what_the_loader_would(field: str, spoiler: str, tmp_path: Path) -> None:
    """validate() is what the sync, the webhook and storage run before every write."""
    good: dict[str, object] = {k: v for k, v in GOOD.items() if k != "created_at"}
    tenant = RosterEntry(**{**good, field: SPOILERS[spoiler](GOOD[field])})  # type: ignore[arg-type]
    path = tmp_path / "r.yaml"
    with pytest.raises(RosterError, match=f": {field}: "):
        write_roster(path, [tenant])
    assert not path.exists()


@pytest.mark.parametrize("spoiler", ["trailing LF", "trailing CRLF", "trailing space", "zero-width space inside"])
def test_roster_whole_values_a_spoilt_username_cannot_shadow_a_clean_one(spoiler: str) -> None:
    twin = SPOILERS[spoiler]("alice")
    text = entry_text() + entry_text(id="acme000002", username=twin, stripe_customer="cus_Q2bob")
    with pytest.raises(RosterError) as caught:
        parse_roster(text, "roster.yaml")
    assert [(p.entry, p.field) for p in caught.value.problems if isinstance(p, Problem)] == [(2, "username")]


@pytest.mark.parametrize("written", ["20260101", "2026-W01-1", "2026-001", "2026-1-1"])
def test_roster_whole_values_dates_are_written_as_yyyy_mm_dd_only(written: str) -> None:
    """date.fromisoformat also reads basic and week forms; the roster has one form."""
    with pytest.raises(RosterError, match="created_at: expected a date YYYY-MM-DD"):
        parse_roster(entry_text(created_at=written), "roster.yaml")


def test_roster_whole_values_a_long_value_is_quoted_bounded() -> None:
    long_value = "a" * 10_000
    with pytest.raises(RosterError) as caught:
        parse_roster(entry_text(username=long_value, email="x" * 10_000), "roster.yaml")
    message = str(caught.value)
    assert len(message) < 500, message
    assert "'aaaaaaaa" in message and "…" in message
