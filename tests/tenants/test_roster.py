"""Roster loading, validation (every rule, exact messages, all at once) and deterministic writing."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest

from billing.tenant_ids import tenant_id_for_customer
from tenants.plans import DEFAULT_PLANS, PlanError, parse_plans
from tenants.roster import (
    RosterChanged,
    RosterEntry,
    RosterError,
    dump_roster,
    load_roster,
    parse_roster,
    read_roster,
    roster_path,
    write_roster,
)

GOOD = """\
- id: acme000001
  username: alice
  email: alice@example.org
  plan: reader
  state: active
"""


def problems(text: str) -> list[str]:
    with pytest.raises(RosterError) as caught:
        parse_roster(text, "roster.yaml")
    return [str(p) for p in caught.value.problems]


def one_entry(**fields: object) -> str:
    base: dict[str, object] = {
        "id": "acme000001",
        "username": "alice",
        "email": "alice@example.org",
        "plan": "reader",
        "state": "active",
    }
    base.update(fields)
    lines = [f"  {k}: {v}" for k, v in base.items() if v is not None]
    return "-" + "\n".join(lines)[1:] + "\n"


def test_roster_loads_a_valid_entry() -> None:
    (tenant,) = parse_roster(GOOD, "roster.yaml")
    assert tenant == RosterEntry("acme000001", "alice", "alice@example.org", "reader", "active")


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_roster_samples_load_and_write_back_byte_identical(stack: str, tmp_path: Path) -> None:
    original = roster_path(stack).read_text()
    tenants = load_roster(roster_path(stack))
    copy = tmp_path / f"{stack}.yaml"
    copy.write_text(original)
    assert write_roster(copy, tenants) is False  # nothing to change: file untouched
    assert dump_roster(tenants) == original


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"id": "ab1"}, "id: 'ab1' must be 6-20 characters of a-z and 0-9"),
        ({"id": "Acme000001"}, "id: 'Acme000001' must be 6-20 characters of a-z and 0-9"),
        ({"id": "acme_00001"}, "id: 'acme_00001' must be 6-20 characters of a-z and 0-9"),
        ({"id": "123456"}, "id: expected text, got 123456 (quote it)"),
        ({"username": "ab"}, "username: 'ab' must be 3-32 characters"),
        ({"username": "a" * 33}, f"username: '{'a' * 33}' must be 3-32 characters"),
        ({"username": "-alice"}, "username: '-alice' must be lowercase a-z, 0-9 and '-', not starting or ending with '-'"),
        ({"username": "alice-"}, "username: 'alice-' must be lowercase a-z, 0-9 and '-', not starting or ending with '-'"),
        ({"username": "Alice"}, "username: 'Alice' must be lowercase a-z, 0-9 and '-', not starting or ending with '-'"),
        ({"username": "al.ice"}, "username: 'al.ice' must be lowercase a-z, 0-9 and '-', not starting or ending with '-'"),
        ({"username": "xn--80ak6aa92e"}, "username: 'xn--80ak6aa92e' looks like an encoded (punycode) label; '--' at positions 3-4 is not allowed"),
        ({"username": "www"}, "username: 'www' is reserved"),
        ({"username": "admin"}, "username: 'admin' is reserved"),
        ({"email": "alice"}, "email: 'alice' is not an email address: an email address must have an @-sign"),
        ({"email": "alice@localhost"}, "email: 'alice@localhost' is not an email address: the part after the @-sign is not valid. It should have a period"),
        ({"email": "a b@example.org"}, "email: 'a b@example.org' is not an email address: the email address contains invalid characters before the @-sign: SPACE"),
        ({"plan": "gold"}, "plan: unknown plan 'gold' (plans: free, reader, library)"),
        ({"state": "paused"}, "state: unknown state 'paused' (states: active, suspended, cancelled, purging)"),
        ({"region": "Amsterdam"}, "region: 'Amsterdam' is not a Fly region code (three letters, e.g. ams)"),
        ({"stripe_customer": "acme"}, "stripe_customer: 'acme' is not a Stripe customer id (cus_...)"),
        ({"hold": "overdue", "state": "suspended"}, "hold: unknown hold 'overdue' (holds: over_quota, operator)"),
        ({"hold": "operator"}, "hold: a tenant on hold must be suspended, cancelled or purging, not active"),
        ({"state": "cancelled", "purge_after": "2026-02-01"}, "cancelled_at: required when state is cancelled"),
        ({"state": "cancelled", "cancelled_at": "2026-01-01"}, "purge_after: required when state is cancelled"),
        ({"state": "purging"}, "purge_marked_at: required when state is purging"),
        ({"cancelled_at": "2026-01-01"}, "cancelled_at: only allowed when cancelled or purging, not active"),
        ({"purge_after": "2026-01-01", "state": "suspended"}, "purge_after: only allowed when cancelled or purging, not suspended"),
        (
            {"state": "cancelled", "cancelled_at": "2026-01-01", "purge_after": "2026-01-31", "purge_marked_at": "2026-02-01"},
            "purge_marked_at: only allowed when purging",
        ),
        (
            {"state": "cancelled", "cancelled_at": "2026-02-01", "purge_after": "2026-01-31"},
            "purge_after: is before cancelled_at",
        ),
        ({"created_at": "yesterday"}, "created_at: expected a date YYYY-MM-DD, got 'yesterday'"),
        ({"created_at": "2026-01-01T10:00:00Z"}, "created_at: expected a date YYYY-MM-DD, got the timestamp 2026-01-01T10:00:00+00:00"),
        ({"nickname": "al"}, "nickname: unknown field (known: id, username, email, plan, state, region, domains, stripe_customer, hold, created_at, cancelled_at, purge_after, purge_marked_at, over_quota_since)"),
        ({"email": None}, "email: required"),
    ],
)  # fmt: skip
def test_roster_rule_reports_the_entry_field_and_reason(fields: dict[str, object], message: str) -> None:
    found = problems(one_entry(**fields))
    tenant_id = str(fields.get("id", "acme000001"))
    who = "entry 1" if tenant_id.isdigit() else f"entry 1 (id {tenant_id!r})"  # YAML reads 123456 as a number
    assert found == [f"{who}: {message}"]


def test_roster_reports_duplicates_and_every_problem_at_once() -> None:
    text = GOOD + GOOD.replace("alice@", "bob@") + one_entry(id="bobby00001", username="alice", plan="gold")
    assert problems(text) == [
        "entry 2 (id 'acme000001'): id: duplicate of entry 1",
        "entry 2 (id 'acme000001'): username: 'alice' is already used by tenant 'acme000001'",
        "entry 3 (id 'bobby00001'): username: 'alice' is already used by tenant 'acme000001'",
        "entry 3 (id 'bobby00001'): plan: unknown plan 'gold' (plans: free, reader, library)",
    ]


def test_roster_error_message_names_the_file_and_counts_the_problems() -> None:
    with pytest.raises(RosterError, match=r"^roster\.yaml: 2 problems:\n  - entry 1 \(id 'acme000001'\): plan"):
        parse_roster(one_entry(plan="gold", state="paused"), "roster.yaml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id: x\n", "expected a list of tenant entries at the top level"),
        ("- [1, 2]\n", "entry 1: (entry): expected a mapping of field: value"),
        ("- id: a\n  id: b\n", "not valid YAML"),
        ("- id: [\n", "not valid YAML"),
    ],
)
def test_roster_rejects_malformed_files(text: str, message: str) -> None:
    (found,) = problems(text)
    assert found.startswith(message)


def test_roster_empty_roster_is_written_as_an_empty_list_and_an_empty_file_is_refused() -> None:
    assert parse_roster(dump_roster([]), "x") == []
    for text in ("", "# only a comment\n", "\n\n"):
        assert problems(text) == ["holds no entries and no '[]': an empty roster is written as []"]


def test_roster_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RosterError, match="missing.yaml: 1 problem:\n  - file not found"):
        load_roster(tmp_path / "missing.yaml")


def test_roster_write_sorts_by_id_and_orders_fields(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    b = RosterEntry("bbbbbb", "bob", "bob@example.org", "free", "active", created_at=date(2026, 1, 2))
    a = RosterEntry("aaaaaa", "ann", "ann@example.org", "reader", "suspended", region="ams", hold="operator")
    assert write_roster(path, [b, a]) is True
    text = path.read_text()
    assert text.index("id: aaaaaa") < text.index("id: bbbbbb")
    assert "  hold: operator\n" in text and "created_at: 2026-01-02\n" in text
    assert load_roster(path) == [a, b]
    assert write_roster(path, [a, b]) is False


def test_roster_write_spells_out_a_value_two_entries_share(tmp_path: Path) -> None:
    """A run stamps every tenant it adds with one `today`: one date object, which PyYAML would write once
    as an anchor and then as aliases, which the loader refuses."""
    path = tmp_path / "r.yaml"
    today = date(2026, 11, 26)
    a = RosterEntry("aaaaaa", "ann", "ann@example.org", "free", "active", created_at=today)
    b = RosterEntry("bbbbbb", "bob", "bob@example.org", "free", "active", created_at=today)
    write_roster(path, [a, b])
    text = path.read_text()
    assert "&" not in text and "*" not in text and text.count("created_at: 2026-11-26\n") == 2
    assert load_roster(path) == [a, b]


def test_roster_write_refuses_an_invalid_roster_and_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(GOOD)
    bad = RosterEntry("acme000001", "www", "alice@example.org", "reader", "active")
    with pytest.raises(RosterError, match="'www' is reserved"):
        write_roster(path, [bad])
    assert path.read_text() == GOOD


def test_roster_write_is_atomic_when_the_disk_write_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(GOOD)

    def broken_fsync(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        write_roster(path, [RosterEntry("acme000002", "carol", "carol@example.org", "free", "active")])
    assert path.read_text() == GOOD
    # No temporary file left behind; the lock file stays by design (see roster_lock).
    assert sorted(p.name for p in tmp_path.iterdir()) == [".r.yaml.lock", "r.yaml"]


def test_roster_validation_uses_the_stack_plan_table() -> None:
    plans = parse_plans({"solo": {"quota_gb": 1, "volume_gb": 2, "memory_mb": 512}})
    assert parse_roster(one_entry(plan="solo"), "x", plans)[0].plan == "solo"
    with pytest.raises(RosterError, match="unknown plan 'reader' \\(plans: solo\\)"):
        parse_roster(GOOD, "x", plans)


def test_tenant_id_for_customer_is_deterministic_and_valid() -> None:
    first = tenant_id_for_customer("cus_Q1aliceExample")
    assert first == tenant_id_for_customer("cus_Q1aliceExample")
    assert first != tenant_id_for_customer("cus_Q1aliceExamplf")
    parse_roster(one_entry(id=first), "x")  # a valid roster id


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([], "alex-hosted:plans: expected a non-empty mapping of plan name to settings"),
        ({"Gold": {}}, "alex-hosted:plans.Gold: plan names are lowercase words"),
        ({"gold": {"quota_gb": 1, "volume_gb": 2}}, "alex-hosted:plans.gold.memory_mb: required for a plan that has no default"),
        ({"free": {"memory_mb": 300}}, "alex-hosted:plans.free.memory_mb: expected a multiple of 256 from 512 up to 16384 (Alex and the companion need more than 256), got 300"),
        ({"free": {"memory_mb": 256}}, "alex-hosted:plans.free.memory_mb: expected a multiple of 256 from 512 up to 16384 (Alex and the companion need more than 256), got 256"),
        ({"free": {"memory_mb": 16640}}, "alex-hosted:plans.free.memory_mb: expected a multiple of 256 from 512 up to 16384 (Alex and the companion need more than 256), got 16640"),
        ({"free": {"volume_gb": -1}}, "alex-hosted:plans.free.volume_gb: expected a positive number, got -1"),
        ({"free": {"volume_gb": 1.5}}, "alex-hosted:plans.free.volume_gb: expected whole gigabytes, got 1.5"),
        ({"free": {"size": 1}}, "alex-hosted:plans.free: unknown field(s) size"),
        ({"free": {"cpu_kind": "gpu"}}, "alex-hosted:plans.free.cpu_kind: expected 'shared' or 'performance', got 'gpu'"),
    ],
)  # fmt: skip
def test_plans_override_is_checked_field_by_field(raw: object, message: str) -> None:
    with pytest.raises(PlanError) as caught:
        parse_plans(raw)
    assert str(caught.value) == message


def test_plans_override_keeps_defaults_for_fields_it_omits() -> None:
    plans = parse_plans({"free": {"volume_gb": 2}})
    assert plans["free"].volume_gb == 2 and plans["free"].memory_mb == DEFAULT_PLANS["free"].memory_mb
    assert set(plans) == {"free"}


def test_roster_write_refuses_when_the_file_changed_since_it_was_read(tmp_path: Path) -> None:
    """A sync that read the roster before someone else wrote it must not undo their change."""
    path = tmp_path / "r.yaml"
    path.write_text(GOOD)
    tenants, text = read_roster(path)
    concurrent = GOOD.replace("plan: reader", "plan: library")
    path.write_text(concurrent)
    with pytest.raises(RosterChanged, match="changed on disk since it was read; nothing written"):
        write_roster(path, [tenants[0].with_changes(state="suspended")], expected=text)
    assert path.read_text() == concurrent
    assert write_roster(path, [tenants[0].with_changes(state="suspended")], expected=concurrent) is True
