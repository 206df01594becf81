"""A tenant end to end: the inputs the program declares, driven through the engine's provider process
against the Fly emulator, as `pulumi up` would in dependency order.

This joins the two halves the other tests prove apart: the Tenant component (under mocks) and the Fly
providers (over HTTP). The Fly API accepts the machine config the program builds, a second `up` of the
same roster writes nothing, and roster changes reach the machine as designed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from tenants.roster import RosterEntry
from tests.conftest import FLY_TEST_TOKEN
from tests.fly.conftest import FAST_ENV
from tests.program.fly_engine import FlyEngine
from tests.program.harness import run_program, settings
from tests.support.engine import ProviderHost

TID = "acme000001"
APP = f"alex-{TID}"


def entry(**changes: Any) -> RosterEntry:
    base = RosterEntry(TID, "alice", "alice@example.org", "free", "active", created_at=date(2026, 1, 1))
    return base.with_changes(**changes)


# Each test is its own stack on its own emulator: it runs the `up`s it builds on itself.
@pytest.fixture
def fly_emu():
    from emulators.fly import FlyEmulator
    from emulators.fly.speeds import PROVIDER_TESTS

    with FlyEmulator(token=FLY_TEST_TOKEN, org="alex-hosted", rate_limit=True, **PROVIDER_TESTS.kwargs()) as emu:
        yield emu


@pytest.fixture
def engine(fly_emu) -> Iterator[FlyEngine]:
    env = {"FLY_API_URL": fly_emu.url, "FLY_API_TOKEN": FLY_TEST_TOKEN, **FAST_ENV, "ALEX_FLY_RATE_PER_S": "1"}
    with ProviderHost(env=env) as host:
        yield FlyEngine(host, only=TID)  # the tenant's resources; the edge has tests of its own


def machine(fly_emu) -> Any:
    (found,) = [m for m in fly_emu.state.machines.values() if m.app == APP and m.state != "destroyed"]
    return found


def test_tenant_comes_up_on_the_fly_api_and_a_second_up_writes_nothing(engine: FlyEngine, fly_emu) -> None:
    assert settings().fly_org == "alex-hosted"
    steps = engine.up(run_program([entry()]))
    assert [s for _, s in steps] == ["create"] * 4
    running = machine(fly_emu)
    assert running.state == "started"
    assert running.config["env"]["NEXTAUTH_URL"] == "https://alice.books.example.com"
    assert running.config["guest"]["memory_mb"] == 512  # the free plan: Alex and the companion outgrow 256
    assert not set(running.config["env"]) & {"NEXTAUTH_SECRET", "R2_SECRET_ACCESS_KEY", "OWNER_INITIAL_PASSWORD"}

    fly_emu.reset_log()
    assert engine.up(run_program([entry()])) == []
    assert fly_emu.writes() == 0, [r for r in fly_emu.requests if r.method != "GET"]


def test_tenant_suspension_stops_the_machine_and_nothing_else(engine: FlyEngine, fly_emu) -> None:
    engine.up(run_program([entry()]))
    assert engine.up(run_program([entry(state="suspended")])) == [(f"{TID}-machine", "update")]
    stopped = machine(fly_emu)
    assert stopped.state == "stopped"
    assert stopped.config["services"][0]["autostart"] is False
    assert engine.up(run_program([entry()])) == [(f"{TID}-machine", "update")]
    assert machine(fly_emu).state == "started"


def test_tenant_upgrade_grows_the_volume_in_place_and_resizes_the_machine(engine: FlyEngine, fly_emu) -> None:
    engine.up(run_program([entry()]))
    volume_id = engine.state[f"{TID}-volume"][1]["volume_id"]
    steps = engine.up(run_program([entry(plan="reader")]))
    assert steps == [(f"{TID}-volume", "update"), (f"{TID}-machine", "update")]
    assert fly_emu.state.volumes[volume_id].size_gb == 6
    assert machine(fly_emu).config["guest"]["memory_mb"] == 512


def test_tenant_downgrade_keeps_the_bigger_volume(engine: FlyEngine, fly_emu) -> None:
    engine.up(run_program([entry(plan="reader")]))
    volume_id = engine.state[f"{TID}-volume"][1]["volume_id"]
    engine.up(run_program([entry(plan="free")]))
    assert engine.state[f"{TID}-volume"][0] == volume_id  # same volume, never replaced
    assert fly_emu.state.volumes[volume_id].size_gb == 6
    assert machine(fly_emu).config["guest"]["memory_mb"] == 512


def test_tenant_rename_updates_nextauth_url_and_nothing_else_of_the_tenant(engine: FlyEngine, fly_emu) -> None:
    engine.up(run_program([entry()]))
    steps = engine.up(run_program([entry(username="alice-reads")]))
    assert steps == [(f"{TID}-machine", "update")]
    assert machine(fly_emu).config["env"]["NEXTAUTH_URL"] == "https://alice-reads.books.example.com"
    assert APP not in fly_emu.state.certificates or not fly_emu.state.certificates[APP]
    assert not fly_emu.state.ips.get(APP)


def test_tenant_purging_destroys_only_the_machine(engine: FlyEngine, fly_emu) -> None:
    engine.up(run_program([entry(username="alice-reads")]))
    purging = entry(
        username="alice-reads",
        state="purging",
        cancelled_at=date(2026, 5, 1),
        purge_after=date(2026, 5, 31),
        purge_marked_at=date(2026, 6, 1),
    )
    assert engine.up(run_program([purging])) == [(f"{TID}-machine", "delete")]
    assert [m.state for m in fly_emu.state.machines.values() if m.app == APP] == ["destroyed"]
    volume_id = engine.state[f"{TID}-volume"][1]["volume_id"]
    assert fly_emu.state.volumes[volume_id].state != "destroyed"
