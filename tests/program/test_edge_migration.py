"""Moving a running stack to the edge in one `up`, with the tenant answering after every single step.

The stack starts as the design before the edge left it: each tenant app with its own IPs and its own
certificate for `<username>.<domain>` (in the state file as `<id>-ips` and `<id>-cert`). The new program
no longer declares those; it declares the edge. The engine creates and updates first and deletes what
the program dropped only at the end (tests.program.fly_engine; pulumi/pkg deployment_executor.go), so:

1. while the edge comes up, the tenant's exact certificate still wins over the new wildcard: traffic
   goes straight to the tenant, as before;
2. once the exact certificate is gone, the hostname falls to the wildcard: the router replays it;
3. the tenant's IPs go last.

A probe sends a request for the tenant's hostname through the emulator's proxy after every step and
must get the tenant's own answer each time. The same probe run against the wrong order (the old
resources deleted before the edge exists) sees the outage, so the test can tell the two apart.
DNS moves the same way on Cloudflare (the wildcard record is created before the per-tenant CNAME is
deleted, and a specific record wins over a wildcard); the emulator models Fly's side only.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest

from emulators.fly import FlyEmulator
from emulators.fly.speeds import PROVIDER_TESTS
from tenants.roster import RosterEntry
from tests.conftest import FLY_TEST_TOKEN
from tests.fly.conftest import FAST_ENV
from tests.program.fly_engine import PROVIDERS, FlyEngine
from tests.program.harness import Recording, run_program, settings
from tests.router.harness import Router, start_router
from tests.support.engine import ProviderHost

EDGE = settings().edge_app_name
ALICE = RosterEntry("alice00001", "alice", "alice@example.org", "free", "active", created_at=date(2026, 1, 1))
APP = settings().app_name(ALICE.id)
HOST = settings().hostname(ALICE.username)


@pytest.fixture
def emu() -> Iterator[FlyEmulator]:
    with FlyEmulator(
        token=FLY_TEST_TOKEN, org="alex-hosted", cross_network_replay=True, **PROVIDER_TESTS.kwargs()
    ) as emulator:
        yield emulator


@pytest.fixture
def host(emu: FlyEmulator) -> Iterator[ProviderHost]:
    env = {"FLY_API_URL": emu.url, "FLY_API_TOKEN": FLY_TEST_TOKEN, **FAST_ENV, "ALEX_FLY_RATE_PER_S": "1"}
    with ProviderHost(env=env) as provider_host:
        yield provider_host


@pytest.fixture
def router(emu: FlyEmulator, tmp_path: Path) -> Iterator[Router]:
    """The router with the new program's map, registered for the edge app before the app exists: the
    proxy reaches it only once the edge has its IPs, certificate and a started machine."""
    config = run_program([ALICE]).one("edge-machine-ams").plain("config")
    (file,) = config["files"]
    path = tmp_path / "map.json"
    path.write_bytes(base64.b64decode(file["raw_value"]))
    running = start_router(path, tmp_path / "router.log")
    emu.proxy.serve_app(EDGE, running.url)
    yield running
    running.stop()


def probe(emu: FlyEmulator, seen: list[tuple[str, int, list[str]]], step: str) -> None:
    response = httpx.get(f"{emu.proxy_url}/", headers={"Host": HOST}, timeout=20)
    answered_by = response.json().get("app") if response.status_code == 200 else None
    seen.append((step, response.status_code if answered_by == APP else -response.status_code, emu.proxy.log[-1].apps))


def old_design(engine: FlyEngine, recording: Recording) -> None:
    """The stack as it was: the tenant, plus the IPs and certificate the edge makes unnecessary."""
    engine.only = ALICE.id
    engine.up(recording)
    ips = engine.host.bind(PROVIDERS["Ips"]()).create({"app": APP})
    cert = engine.host.bind(PROVIDERS["Certificate"]()).create({"app": APP, "hostname": HOST})
    engine.adopt(f"{ALICE.id}-ips", "Ips", *ips)
    engine.adopt(f"{ALICE.id}-cert", "Certificate", *cert)
    engine.only = None


def test_one_up_moves_a_running_tenant_to_the_edge_without_a_failed_request(
    emu: FlyEmulator, host: ProviderHost, router: Router
) -> None:
    seen: list[tuple[str, int, list[str]]] = []
    engine = FlyEngine(host)
    recording = run_program([ALICE])
    old_design(engine, recording)
    probe(emu, seen, "before")
    assert seen == [("before", 200, [APP])]  # straight to the tenant, by its own certificate

    engine.after_step = lambda name, step: probe(emu, seen, f"{step} {name}")
    steps = engine.up(recording)

    assert steps[-2:] == [(f"{ALICE.id}-cert", "delete"), (f"{ALICE.id}-ips", "delete")]
    print("\n".join(f"{step}: {status} via {apps}" for step, status, apps in seen))
    assert [status for _, status, _ in seen] == [200] * len(seen), seen
    by_step = {step: apps for step, _, apps in seen}
    assert by_step["create edge-wildcard-cert"] == [APP]  # the exact certificate still wins
    assert by_step[f"delete {ALICE.id}-cert"] == [EDGE, APP]  # now through the router
    assert by_step[f"delete {ALICE.id}-ips"] == [EDGE, APP]
    assert not emu.state.ips.get(APP) and not emu.state.certificates.get(APP)


def test_the_wrong_order_would_take_the_tenant_offline(emu: FlyEmulator, host: ProviderHost, router: Router) -> None:
    """The control: deleting the tenant's public face before the edge exists is an outage the probe sees."""
    seen: list[tuple[str, int, list[str]]] = []
    engine = FlyEngine(host)
    recording = run_program([ALICE])
    old_design(engine, recording)
    for name in (f"{ALICE.id}-cert", f"{ALICE.id}-ips"):
        id_, outs = engine.state.pop(name)
        host.bind(PROVIDERS[engine.kinds[name]]()).delete(id_, outs)
    probe(emu, seen, "deleted first")
    assert seen[0][1] != 200
