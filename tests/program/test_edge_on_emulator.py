"""The edge end to end: what the program declares for it, applied through the engine's provider process
against the Fly emulator (tests.program.fly_engine), as `pulumi up` would.

Proves the map delivery: an unchanged roster writes nothing, a new tenant updates each router in turn
(lease, update, started, checks passing, then the next), a router that comes up unhealthy stops the
rollout with the other router still serving the old map, and custom domains come and go as certificates
on the edge app.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from config.edge_map import MAP_PATH
from emulators.fly import FlyEmulator
from emulators.fly.speeds import PROVIDER_TESTS
from tenants.roster import RosterEntry
from tests.conftest import FLY_TEST_TOKEN
from tests.fly.conftest import FAST_ENV
from tests.program.fly_engine import FlyEngine
from tests.program.harness import run_program, settings
from tests.support.engine import ProviderCallError, ProviderHost

EDGE = settings().edge_app_name
ALICE = RosterEntry("alice00001", "alice", "alice@example.org", "free", "active", created_at=date(2026, 1, 1))
BOB = RosterEntry("bob0000001", "bob", "bob@example.org", "reader", "suspended", created_at=date(2026, 1, 1))
CAROL = RosterEntry("carol00001", "carol", "carol@example.org", "free", "active", created_at=date(2026, 1, 1))


@pytest.fixture
def fly_emu() -> Iterator[FlyEmulator]:
    with FlyEmulator(token=FLY_TEST_TOKEN, org="alex-hosted", rate_limit=True, **PROVIDER_TESTS.kwargs()) as emu:
        yield emu


@pytest.fixture
def engine(fly_emu: FlyEmulator) -> Iterator[FlyEngine]:
    env = {
        "FLY_API_URL": fly_emu.url,
        "FLY_API_TOKEN": FLY_TEST_TOKEN,
        **FAST_ENV,
        "ALEX_FLY_RATE_PER_S": "1",  # the client's own limiter, as in production: the emulator enforces Fly's
        "ALEX_FLY_WAIT_DEADLINE_S": "3",
    }
    with ProviderHost(env=env) as host:
        yield FlyEngine(host, only="edge-")


def routers(fly_emu: FlyEmulator) -> dict[str, Any]:
    return {m.region: m for m in fly_emu.state.machines_of(EDGE) if m.state != "destroyed"}


def served_map(machine: Any) -> dict[str, Any]:
    (file,) = machine.config["files"]
    assert file["guest_path"] == MAP_PATH
    return dict(json.loads(gzip.decompress(base64.b64decode(file["raw_value"]))))


def test_edge_comes_up_with_a_healthy_router_per_region_and_a_second_up_writes_nothing(
    engine: FlyEngine, fly_emu: FlyEmulator
) -> None:
    steps = engine.up(run_program([ALICE, BOB]))
    assert sorted(steps) == [
        ("edge-app", "create"),
        ("edge-ips", "create"),
        ("edge-machine-ams", "create"),
        ("edge-machine-fra", "create"),
        ("edge-wildcard-cert", "create"),
    ]
    running = routers(fly_emu)
    assert sorted(running) == ["ams", "fra"]
    for machine in running.values():
        assert machine.state == "started"
        assert served_map(machine)["hosts"] == {
            "alice.books.example.com": {"app": "alex-alice00001"},
            "bob.books.example.com": {"app": "alex-bob0000001", "state": "suspended"},
        }
        assert machine.config["services"][0]["autostop"] in ("off", False)
    assert set(fly_emu.state.certificates[EDGE]) == {"*.books.example.com"}
    assert fly_emu.state.ips[EDGE]  # the edge, alone, has a public face

    fly_emu.reset_log()
    assert engine.up(run_program([ALICE, BOB])) == []
    assert fly_emu.writes() == 0, [(r.method, r.path) for r in fly_emu.requests if r.method != "GET"]


def test_a_new_tenant_updates_each_router_in_turn_and_nothing_else_at_the_edge(
    engine: FlyEngine, fly_emu: FlyEmulator
) -> None:
    engine.up(run_program([ALICE]))
    fly_emu.reset_log()

    steps = engine.up(run_program([ALICE, CAROL]))

    assert steps == [("edge-machine-ams", "update"), ("edge-machine-fra", "update")]
    for machine in routers(fly_emu).values():
        assert "carol.books.example.com" in served_map(machine)["hosts"]
    # One router at a time: the second is leased only after the first is updated, started and healthy.
    ams, fra = routers(fly_emu)["ams"].id, routers(fly_emu)["fra"].id
    trail = [
        (r.method, r.path) for r in fly_emu.requests if f"/machines/{ams}" in r.path or f"/machines/{fra}" in r.path
    ]
    first_fra = next(i for i, (_, path) in enumerate(trail) if fra in path)
    ams_part = trail[:first_fra]
    assert ("POST", f"/v1/apps/{EDGE}/machines/{ams}") in ams_part  # the update
    assert ("DELETE", f"/v1/apps/{EDGE}/machines/{ams}/lease") in ams_part  # released before fra is touched
    assert all(fra not in path for _, path in ams_part)
    assert all(ams not in path for _, path in trail[first_fra:])
    writes = [(r.method, r.path) for r in fly_emu.requests if r.method != "GET"]
    assert all("/machines/" in path for _, path in writes), writes  # no app, IP or certificate write


def test_a_router_that_comes_up_unhealthy_stops_the_rollout_and_the_other_keeps_serving(
    engine: FlyEngine, fly_emu: FlyEmulator
) -> None:
    engine.up(run_program([ALICE]))
    ams = routers(fly_emu)["ams"]
    fly_emu.set_boot_checks(EDGE, ams.id, "critical")  # the new map makes it fail its health check

    with pytest.raises(ProviderCallError, match=r"checks did not pass within 3s: health=critical"):
        engine.up(run_program([ALICE, CAROL]))

    fra = routers(fly_emu)["fra"]
    assert fra.state == "started"
    assert "carol.books.example.com" not in served_map(fra)["hosts"]  # untouched, still answering


def test_custom_domains_are_certificates_on_the_edge_and_leave_with_the_roster_line(
    engine: FlyEngine, fly_emu: FlyEmulator
) -> None:
    with_domains = ALICE.with_changes(domains=("books.alice.net", "alice.net"))
    engine.up(run_program([with_domains]))
    assert set(fly_emu.state.certificates[EDGE]) == {"*.books.example.com", "books.alice.net", "alice.net"}
    for machine in routers(fly_emu).values():
        hosts = served_map(machine)["hosts"]
        assert hosts["books.alice.net"] == hosts["alice.net"] == {"app": "alex-alice00001"}

    steps = engine.up(run_program([ALICE.with_changes(domains=("books.alice.net",))]))

    assert ("edge-domain-alice.net", "delete") in steps
    assert set(fly_emu.state.certificates[EDGE]) == {"*.books.example.com", "books.alice.net"}
    assert steps[-1] == ("edge-domain-alice.net", "delete")  # after the routers stopped sending it anywhere


def test_a_map_gzipped_differently_is_the_same_map(engine: FlyEngine, fly_emu: FlyEmulator) -> None:
    """Another operator's zlib may compress the same map to other bytes: that is not a change."""
    recording = run_program([ALICE])
    engine.up(recording)
    registration = recording.one("edge-machine-ams")
    (file,) = registration.inputs["config"]["files"]
    content = gzip.decompress(base64.b64decode(file["raw_value"]))
    file["raw_value"] = base64.b64encode(gzip.compress(content, compresslevel=1, mtime=12345)).decode()
    fly_emu.reset_log()

    assert engine.up(recording) == []
    assert fly_emu.writes() == 0

    file["raw_value"] = base64.b64encode(gzip.compress(content.replace(b"alice", b"alicx"))).decode()
    assert engine.up(recording) == [("edge-machine-ams", "update")]
