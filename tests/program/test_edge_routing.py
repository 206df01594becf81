"""Every hostname through Fly's proxy to its tenant: the program's edge and tenants applied to the Fly
emulator, the real router (image/router) serving the map the program put in the routers' config, and the
emulator's proxy following the router's `fly-replay` answers into the tenant apps.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulators.fly import FlyEmulator
from emulators.fly.speeds import PROVIDER_TESTS
from tenants.roster import RosterEntry
from tests.conftest import FLY_TEST_TOKEN
from tests.fly.conftest import FAST_ENV
from tests.program.fly_engine import FlyEngine
from tests.program.harness import run_program, settings
from tests.router.harness import Router, start_router
from tests.support.engine import ProviderHost

EDGE = settings().edge_app_name
DAY = date(2026, 1, 1)
ALICE = RosterEntry("alice00001", "alice", "alice@example.org", "free", "active", created_at=DAY)
BOB = RosterEntry("bob0000001", "bob", "bob@example.org", "free", "suspended", created_at=DAY)
CAROL = RosterEntry(
    "carol00001", "carol", "c@example.org", "free", "cancelled", created_at=DAY,
    cancelled_at=date(2026, 11, 1), purge_after=date(2099, 12, 31),
)  # fmt: skip
DAVE = RosterEntry("dave000001", "dave", "d@example.org", "free", "active", created_at=DAY, domains=("read.dave.net",))
ROSTER = [ALICE, BOB, CAROL, DAVE]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FlyEmulator, FlyEngine, Router, Path]]:
    """The roster applied once (edge and tenants), the router serving the ams machine's map."""
    with FlyEmulator(
        token=FLY_TEST_TOKEN,
        org="alex-hosted",
        cross_network_replay=True,  # the org setting the README lists as a prerequisite
        **PROVIDER_TESTS.kwargs(),
    ) as emu:
        env = {"FLY_API_URL": emu.url, "FLY_API_TOKEN": FLY_TEST_TOKEN, **FAST_ENV, "ALEX_FLY_RATE_PER_S": "1"}
        with ProviderHost(env=env) as host:
            engine = FlyEngine(host)
            engine.up(run_program(ROSTER))
            tmp = tmp_path_factory.mktemp("edge")
            map_path = deliver_map(emu, tmp / "map.json")
            router = start_router(map_path, tmp / "router.log")
            try:
                emu.proxy.serve_app(EDGE, router.url)
                yield emu, engine, router, map_path
            finally:
                router.stop()


def deliver_map(emu: FlyEmulator, path: Path) -> Path:
    """What Fly does with the router machine's `files` entry: the bytes at its guest path."""
    (machine, *_) = [m for m in emu.state.machines_of(EDGE) if m.region == "ams" and m.state != "destroyed"]
    (file,) = machine.config["files"]
    temporary = path.with_suffix(".tmp")
    temporary.write_bytes(base64.b64decode(file["raw_value"]))
    temporary.rename(path)
    return path


def through_fly(emu: FlyEmulator, host: str, method: str = "GET", body: bytes | None = None) -> httpx.Response:
    return httpx.request(method, f"{emu.proxy_url}/books", headers={"Host": host}, content=body, timeout=20)


def tenant_machine(emu: FlyEmulator, tenant: RosterEntry) -> Any:
    app = settings().app_name(tenant.id)
    (machine,) = [m for m in emu.state.machines_of(app) if m.state != "destroyed"]
    return machine


def test_each_tenant_hostname_reaches_its_own_machine_through_the_router(fleet: Any) -> None:
    emu, _, _, _ = fleet
    for tenant, host in ((ALICE, "alice.books.example.com"), (DAVE, "dave.books.example.com"), (DAVE, "read.dave.net")):
        response = through_fly(emu, host)
        assert response.status_code == 200, (host, response.text)
        answer = response.json()
        assert answer["app"] == settings().app_name(tenant.id), host
        assert answer["host"] == host  # the tenant sees the hostname it was asked for
        assert answer["replay_src"]  # it came through a replay, not straight in
        assert emu.proxy.log[-1].apps == [EDGE, settings().app_name(tenant.id)]


def test_a_stopped_tenant_machine_is_started_by_its_first_request(fleet: Any) -> None:
    emu, _, _, _ = fleet
    machine = tenant_machine(emu, ALICE)
    emu.autostop(settings().app_name(ALICE.id), machine.id)
    assert tenant_machine(emu, ALICE).state == "stopped"

    assert through_fly(emu, "alice.books.example.com").status_code == 200

    assert tenant_machine(emu, ALICE).state == "started"
    assert emu.proxy.log[-1].started == [machine.id]


def test_suspended_and_cancelled_tenants_get_a_page_not_their_app(fleet: Any) -> None:
    emu, _, _, _ = fleet
    paused = through_fly(emu, "bob.books.example.com")
    assert paused.status_code == 503 and "paused" in paused.text.lower()
    closed = through_fly(emu, "carol.books.example.com")
    assert closed.status_code == 410 and "31 December 2099" in closed.text
    assert emu.proxy.log[-1].apps == [EDGE]  # never replayed: the stopped machines stay stopped
    assert tenant_machine(emu, BOB).state == "stopped"


def test_an_unknown_name_under_the_wildcard_gets_the_routers_404(fleet: Any) -> None:
    emu, _, _, _ = fleet
    response = through_fly(emu, "nobody.books.example.com")
    assert response.status_code == 404 and "No library here" in response.text


def test_tenant_apps_have_no_public_face(fleet: Any) -> None:
    emu, _, _, _ = fleet
    response = through_fly(emu, f"{settings().app_name(ALICE.id)}.fly.dev")
    assert response.status_code == 404
    assert emu.proxy.log[-1].apps == []


def test_a_body_over_the_replay_limit_is_refused_and_one_at_it_passes(fleet: Any) -> None:
    """Why uploads go straight to R2 (image/companion): nothing large may cross the router."""
    emu, _, _, _ = fleet
    assert through_fly(emu, "alice.books.example.com", "POST", b"x" * 1_048_576).status_code == 200
    assert through_fly(emu, "alice.books.example.com", "POST", b"x" * 1_048_577).status_code == 413


def test_a_new_tenant_is_reachable_once_the_new_map_is_delivered(fleet: Any) -> None:
    emu, engine, router, map_path = fleet
    erin = RosterEntry("erin000001", "erin", "e@example.org", "free", "active", created_at=DAY)
    assert through_fly(emu, "erin.books.example.com").status_code == 404

    steps = engine.up(run_program([*ROSTER, erin]))

    assert {name for name, _ in steps if name.startswith("edge-")} == {"edge-machine-ams", "edge-machine-fra"}
    deliver_map(emu, map_path)
    router.reload_to(json.loads(gzip.decompress(map_path.read_bytes()))["digest"])
    response = through_fly(emu, "erin.books.example.com")
    assert response.status_code == 200 and response.json()["app"] == settings().app_name(erin.id)


def test_without_cross_network_replay_the_router_cannot_reach_a_tenant(fleet: Any) -> None:
    emu, _, _, _ = fleet
    emu.set_org_setting(cross_network_replay=False)
    try:
        response = through_fly(emu, "alice.books.example.com")
        assert response.status_code == 403 and "cross_network_replay" in response.text
    finally:
        emu.set_org_setting(cross_network_replay=True)
