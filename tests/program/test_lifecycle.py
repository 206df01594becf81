"""Roster state -> options and machine settings, and what a username or plan change touches."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from billing.tenant_ids import tenant_id_for_customer
from tenants.roster import RosterEntry
from tests.program.harness import Recording, decode_map, run_program

TID = "acme000001"
DATA_HOLDERS = (f"{TID}-bucket", f"{TID}-volume", f"{TID}-app")


def entry(**changes: Any) -> RosterEntry:
    base = RosterEntry(TID, "alice", "alice@example.org", "reader", "active", created_at=date(2026, 1, 1))
    return base.with_changes(**changes)


STATES = {
    "active": entry(),
    "suspended": entry(state="suspended"),
    "cancelled": entry(state="cancelled", cancelled_at=date(2026, 5, 1), purge_after=date(2026, 5, 31)),
    "purging": entry(
        state="purging", cancelled_at=date(2026, 5, 1), purge_after=date(2026, 5, 31), purge_marked_at=date(2026, 6, 1)
    ),
}


@pytest.fixture(scope="module")
def by_state() -> dict[str, Recording]:
    return {state: run_program([tenant]) for state, tenant in STATES.items()}


@pytest.mark.parametrize("state", ["active", "suspended", "cancelled"])
def test_lifecycle_data_holders_are_protected_until_purging(by_state: dict[str, Recording], state: str) -> None:
    for name in DATA_HOLDERS:
        assert by_state[state].one(name).protect, f"{name} unprotected while {state}"


def test_lifecycle_purging_unprotects_and_destroys_only_the_machine(by_state: dict[str, Recording]) -> None:
    purging = by_state["purging"]
    for name in DATA_HOLDERS:
        assert not purging.one(name).protect, name
    assert f"{TID}-machine" not in purging.registrations
    assert set(by_state["active"].registrations) - set(purging.registrations) == {f"{TID}-machine"}


EDGE_MACHINES = ("edge-machine-ams", "edge-machine-fra")


def edge_map(recording: Recording) -> dict[str, Any]:
    """The map every edge machine carries (the same one in each), decoded."""
    maps = [decode_map(recording.one(name).plain("config")) for name in EDGE_MACHINES]
    assert all(m == maps[0] for m in maps)
    return maps[0]


@pytest.mark.parametrize(
    ("state", "target"),
    [
        ("active", {"app": f"alex-{TID}"}),
        ("suspended", {"app": f"alex-{TID}", "state": "suspended"}),
        ("cancelled", {"app": f"alex-{TID}", "state": "cancelled", "exportUntil": "2026-05-31"}),
    ],
)
def test_lifecycle_the_edge_map_follows_the_roster_state(
    by_state: dict[str, Recording], state: str, target: dict[str, str]
) -> None:
    assert edge_map(by_state[state])["hosts"] == {"alice.books.example.com": target}


def test_lifecycle_a_purging_tenant_leaves_the_edge_map(by_state: dict[str, Recording]) -> None:
    assert edge_map(by_state["purging"])["hosts"] == {}


def test_lifecycle_only_purging_arms_the_bucket_emptier(by_state: dict[str, Recording]) -> None:
    for state, recording in by_state.items():
        confirmed = recording.one(f"{TID}-bucket-emptier").plain("environment")["ALEX_PURGE_CONFIRMED"]
        assert confirmed == (TID if state == "purging" else ""), state


@pytest.mark.parametrize(
    ("state", "run_state"), [("active", "active"), ("suspended", "stopped"), ("cancelled", "stopped")]
)
def test_lifecycle_machine_run_state_follows_the_roster(
    by_state: dict[str, Recording], state: str, run_state: str
) -> None:
    machine = by_state[state].one(f"{TID}-machine")
    assert machine.plain("run_state") == run_state
    service = machine.plain("config")["services"][0]
    # Autostop settings are the configured ones; the provider turns autostart off for "stopped".
    assert (service["autostop"], service["autostart"], service["min_machines_running"]) == ("stop", True, 0)


def test_lifecycle_emptier_commands_never_change_so_state_changes_update_in_place(
    by_state: dict[str, Recording],
) -> None:
    commands = {
        state: tuple(rec.one(f"{TID}-bucket-emptier").plain(k) for k in ("create", "update", "delete"))
        for state, rec in by_state.items()
    }
    assert len(set(commands.values())) == 1
    assert "triggers" not in by_state["active"].one(f"{TID}-bucket-emptier").inputs  # triggers replace


def changed_inputs(before: Recording, after: Recording) -> dict[str, set[str]]:
    """Resource name -> the top-level input keys whose values differ between two runs."""
    changes: dict[str, set[str]] = {}
    for name, old in before.registrations.items():
        new = after.registrations[name]
        keys = {k for k in old.inputs.keys() | new.inputs.keys() if old.inputs.get(k) != new.inputs.get(k)}
        if keys or old.protect != new.protect:
            changes[name] = keys | ({"(protect)"} if old.protect != new.protect else set())
    return changes


def test_lifecycle_unchanged_roster_registers_identical_inputs() -> None:
    assert changed_inputs(run_program([entry()]), run_program([entry()])) == {}


def test_lifecycle_username_change_touches_only_the_edge_map_cors_origins_and_nextauth_url() -> None:
    before, after = run_program([entry()]), run_program([entry(username="alice-reads")])
    assert changed_inputs(before, after) == {
        f"{TID}-bucket-cors": {"rules"},  # an in-place update: only account or bucket name replace it
        f"{TID}-machine": {"config"},
        **{name: {"config"} for name in EDGE_MACHINES},
    }
    assert edge_map(after)["hosts"] == {"alice-reads.books.example.com": {"app": f"alex-{TID}"}}
    assert set(after.registrations) == set(before.registrations)
    (old_rule,) = before.one(f"{TID}-bucket-cors").plain("rules")
    (new_rule,) = after.one(f"{TID}-bucket-cors").plain("rules")
    assert new_rule["allowed"]["origins"] == ["https://alice-reads.books.example.com"]
    assert {**new_rule, "allowed": {**new_rule["allowed"], "origins": old_rule["allowed"]["origins"]}} == old_rule
    old_env = before.one(f"{TID}-machine").plain("config")["env"]
    new_env = after.one(f"{TID}-machine").plain("config")["env"]
    assert {k for k in old_env if old_env[k] != new_env[k]} == {"NEXTAUTH_URL"}
    assert new_env["NEXTAUTH_URL"] == "https://alice-reads.books.example.com"
    old_config = before.one(f"{TID}-machine").plain("config")
    new_config = after.one(f"{TID}-machine").plain("config")
    assert {k for k in old_config if old_config[k] != new_config[k]} == {"env"}


def test_lifecycle_plan_change_touches_only_volume_size_and_quota() -> None:
    before, after = run_program([entry(plan="free")]), run_program([entry(plan="reader")])
    assert changed_inputs(before, after) == {f"{TID}-volume": {"size_gb"}, f"{TID}-machine": {"config"}}
    assert (before.one(f"{TID}-volume").plain("size_gb"), after.one(f"{TID}-volume").plain("size_gb")) == (1, 6)
    old_config = before.one(f"{TID}-machine").plain("config")
    new_config = after.one(f"{TID}-machine").plain("config")
    # Every plan's machine has 512 MB at least (tenants/plans.py, MIN_MEMORY_MB): only the quota changes.
    assert {k for k in old_config if old_config[k] != new_config[k]} == {"env"}
    assert (old_config["guest"]["memory_mb"], new_config["guest"]["memory_mb"]) == (512, 512)
    old_env, new_env = old_config["env"], new_config["env"]
    assert {k for k in old_env if old_env[k] != new_env[k]} == {"STORAGE_QUOTA_BYTES"}
    assert (old_env["STORAGE_QUOTA_BYTES"], new_env["STORAGE_QUOTA_BYTES"]) == (str(256 * 1024**2), str(5 * 1024**3))


def test_lifecycle_downgrade_asks_for_the_smaller_size_and_the_volume_provider_keeps_the_larger() -> None:
    """The program states the plan's size; providers.fly.volume keeps a bigger volume (extend-only)."""
    downgraded = run_program([entry(plan="free")])
    assert downgraded.one(f"{TID}-volume").plain("size_gb") == 1
    assert downgraded.one(f"{TID}-volume").protect


def test_lifecycle_adding_a_tenant_leaves_the_others_inputs_untouched() -> None:
    other = RosterEntry(
        tenant_id_for_customer("cus_B"), "bob", "bob@example.org", "free", "active", stripe_customer="cus_B"
    )
    before, after = run_program([entry()]), run_program([entry(), other])
    # At the edge, only the map: one more host, nothing else in the routers' config.
    assert changed_inputs(before, after) == {name: {"config"} for name in EDGE_MACHINES}
    for name in EDGE_MACHINES:
        old, new = before.one(name).plain("config"), after.one(name).plain("config")
        assert {k for k in old if old[k] != new[k]} == {"files", "metadata"}
    assert set(edge_map(after)["hosts"]) - set(edge_map(before)["hosts"]) == {"bob.books.example.com"}
    assert set(after.registrations) - set(before.registrations) == {
        name for name in after.registrations if name.startswith(other.id)
    }
