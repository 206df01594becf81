"""scripts.status against the Fly emulator: the table, the per-state summary, read-only proof, failures."""

from __future__ import annotations

import json
from datetime import date

import httpx
import pytest

from emulators.fly import FlyEmulator
from emulators.fly.speeds import INSTANT
from scripts.status import main
from tenants.roster import RosterEntry
from tests.conftest import FLY_TEST_TOKEN

from .conftest import STACK

RUNNING = RosterEntry(
    "runninguser",
    "runner",
    "run@example.com",
    "reader",
    "active",
    created_at=date(2026, 9, 1),
    domains=("run.example.net",),
)
ASLEEP = RosterEntry(
    "sleepyuser1",
    "sleepy",
    "sleep@example.com",
    "free",
    "active",
    created_at=date(2026, 9, 1),
    domains=("zz.example.net",),
)
PAUSED = RosterEntry(
    "pauseduser1",
    "paused",
    "paused@example.com",
    "reader",
    "suspended",
    created_at=date(2026, 9, 1),
    domains=("paused.example.net",),
)
MISSING = RosterEntry("missinguser", "missing", "missing@example.com", "free", "active", created_at=date(2026, 9, 1))


@pytest.fixture
def fly(monkeypatch):
    with FlyEmulator(token=FLY_TEST_TOKEN, org="personal", rate_limit=False, **INSTANT.kwargs()) as emu:
        monkeypatch.setenv("FLY_API_URL", emu.url)
        monkeypatch.setenv("FLY_API_TOKEN", FLY_TEST_TOKEN)
        monkeypatch.setenv("ALEX_FLY_RETRIES", "1")
        monkeypatch.setenv("ALEX_FLY_RETRY_BASE_S", "0.01")
        yield emu


def api(emu: FlyEmulator) -> httpx.Client:
    headers = {"Authorization": f"Bearer {FLY_TEST_TOKEN}"}
    return httpx.Client(base_url=f"{emu.url}/v1", headers=headers, timeout=10)


def caller(http: httpx.Client):
    def call(method: str, path: str, body=None):
        response = http.request(method, path, json=body)
        assert response.status_code < 300, response.text
        return response.json() if response.content else None

    return call


def provision_edge(emu: FlyEmulator, stack_config, *, regions=None, wildcard: bool = True) -> None:
    """The edge as the program makes it: its app, a started router per region, the wildcard certificate."""
    app = stack_config.edge_app_name
    with api(emu) as http:
        call = caller(http)
        call("POST", "/apps", {"app_name": app, "org_slug": "personal"})
        for region in regions or stack_config.edge_regions:
            created = call("POST", f"/apps/{app}/machines", {"region": region, "config": {"image": "edge:1"}})
            call("GET", f"/apps/{app}/machines/{created['id']}/wait?state=started&timeout=5")
        if wildcard:
            call("POST", f"/apps/{app}/certificates/acme", {"hostname": f"*.{stack_config.domain}"})


def provision(
    emu: FlyEmulator, stack_config, tenant: RosterEntry, *, machine: str | None, cert: bool = True, gb: int = 1
):
    """Creates what the Pulumi program would (app, volume, machine, custom domain certificates) through the API."""
    app = stack_config.app_name(tenant.id)
    with api(emu) as http:
        call = caller(http)
        call("POST", "/apps", {"app_name": app, "org_slug": "personal"})
        volume = call("POST", f"/apps/{app}/volumes", {"name": "data", "region": "ams", "size_gb": gb})
        if machine is not None:
            config = {"image": "registry.example/alex:1", "mounts": [{"volume": volume["id"], "path": "/app/data"}]}
            created = call("POST", f"/apps/{app}/machines", {"region": "ams", "config": config})
            call("GET", f"/apps/{app}/machines/{created['id']}/wait?state=started&timeout=5")
            if machine == "stopped":
                call("POST", f"/apps/{app}/machines/{created['id']}/stop")
        edge_made = stack_config.edge_app_name in emu.state.apps
        for hostname in tenant.domains or () if cert and edge_made else ():
            call("POST", f"/apps/{stack_config.edge_app_name}/certificates/acme", {"hostname": hostname})
            if machine == "started":
                emu.set_certificate_status(stack_config.edge_app_name, hostname, "active")


def args(roster, *extra: str) -> list[str]:
    return ["--stack", STACK, "--roster", str(roster), *extra]


def test_status_reports_each_tenant_with_a_line_per_state_using_gets_only(fly, make_roster, run_cli, stack_config):
    provision_edge(fly, stack_config)
    provision(fly, stack_config, RUNNING, machine="started")
    provision(fly, stack_config, ASLEEP, machine="stopped")
    provision(fly, stack_config, PAUSED, machine="stopped")
    fly.reset_log()

    result = run_cli(main, args(make_roster([RUNNING, ASLEEP, PAUSED])))

    assert result.code == 0, result
    rows = {line.split()[0]: line for line in result.out.splitlines()[1:4]}
    assert "started" in rows["runninguser"] and "active" in rows["runninguser"]
    assert "stopped" in rows["sleepyuser1"] and "pending_validation" in rows["sleepyuser1"]
    assert "1 GB" in rows["pauseduser1"]
    assert "started: 1 (runninguser)" in result.out
    assert "stopped: 2 (pauseduser1, sleepyuser1)" in result.out
    assert "3 tenant(s), 0 need attention" in result.out
    edge = stack_config.edge_app_name
    assert f"edge {edge}: routers ams started, fra started; *.{stack_config.domain} certificate" in result.out
    assert (
        "custom domain zz.example.net (tenant sleepyuser1): certificate pending_validation; the customer creates: "
        f"CNAME zz.example.net -> {edge}.fly.dev; CNAME _acme-challenge.zz.example.net -> zz.example.net."
    ) in result.out
    requests = fly.requests
    assert requests and {r.method for r in requests} == {"GET"}, [(r.method, r.path) for r in requests]


def test_status_flags_missing_and_mismatched_resources_and_exits_1(fly, make_roster, run_cli, stack_config):
    provision_edge(fly, stack_config)
    provision(fly, stack_config, PAUSED, machine="started", cert=False, gb=1)  # dev plan reader: 1 GB

    result = run_cli(main, args(make_roster([PAUSED, MISSING]), "--json"))

    assert result.code == 1, result
    envelope = json.loads(result.out)
    rows = {row["tenant"]: row for row in envelope["data"]["tenants"]}
    assert rows["pauseduser1"]["problems"] == [
        "machine started but the tenant is suspended",
        "no certificate for paused.example.net on the edge",
    ]
    assert rows["missinguser"]["machine"] == "no app"
    assert rows["missinguser"]["problems"] == [f"Fly app {stack_config.app_name('missinguser')} does not exist"]
    assert envelope["data"]["machine_states"] == {"no app": 1, "started": 1}
    assert envelope["data"]["needs_attention"] == ["missinguser", "pauseduser1"]
    assert envelope["data"]["edge"]["problems"] == ["no certificate for paused.example.net (tenant pauseduser1)"]


@pytest.mark.parametrize(
    ("setup", "problem"),
    [
        ({"regions": ["ams"]}, "no router in fra"),
        ({"wildcard": False}, "no certificate for *.books-dev.example.com"),
        (None, "the edge app alexdev-edge does not exist: no tenant is reachable"),
    ],
)
def test_status_flags_an_edge_that_cannot_serve_and_exits_1(fly, make_roster, run_cli, stack_config, setup, problem):
    if setup is not None:
        provision_edge(fly, stack_config, **setup)
    provision(fly, stack_config, ASLEEP, machine="stopped", cert=setup is not None)

    result = run_cli(main, args(make_roster([ASLEEP])))

    assert result.code == 1, result
    assert f"edge problem: {problem}" in result.out


def test_status_flags_a_router_failing_its_check(fly, make_roster, run_cli, stack_config):
    provision_edge(fly, stack_config)
    edge = stack_config.edge_app_name
    (router, *_) = [m for m in fly.state.machines_of(edge) if m.region == "fra"]
    router.config["checks"] = {"health": {"type": "http", "port": 8080, "path": "/_edge/health"}}
    fly.set_check(edge, router.id, "health", "critical")
    provision(fly, stack_config, ASLEEP, machine="stopped")

    result = run_cli(main, args(make_roster([ASLEEP])))

    assert result.code == 1, result
    assert "edge problem: router in fra is started (health=critical)" in result.out


def test_status_empty_roster_exits_0_without_calls(fly, make_roster, run_cli):
    result = run_cli(main, args(make_roster([])))

    assert result.code == 0, result
    assert "no tenants" in result.out and "0 tenant(s)" in result.out
    assert fly.requests == []


def test_status_unreachable_fly_exits_2(fly, make_roster, run_cli, monkeypatch, closed_port):
    monkeypatch.setenv("FLY_API_URL", f"http://127.0.0.1:{closed_port}")

    result = run_cli(main, args(make_roster([RUNNING])))

    assert result.code == 2, result
    assert "unreachable" in result.error and "no answer" in result.error


@pytest.mark.parametrize(
    ("token", "expected"), [("wrong-token", "refused FLY_API_TOKEN (HTTP 401"), ("", "no Fly API token")]
)
def test_status_bad_token_exits_2_without_printing_it(fly, make_roster, run_cli, monkeypatch, token, expected):
    monkeypatch.setenv("FLY_API_TOKEN", token)

    result = run_cli(main, args(make_roster([RUNNING])))

    assert result.code == 2, result
    assert expected in result.error
    if token:
        assert token not in result.out + result.err


@pytest.mark.parametrize("gone", ["scheduling_destroy", "pending_destroy", "destroying"])
def test_status_a_volume_on_its_way_out_is_no_volume(fly, make_roster, run_cli, stack_config, gone):
    # status used to keep its own "gone" set without scheduling_destroy: such a volume counted as live.
    provision(fly, stack_config, RUNNING, machine="started", gb=1)
    for volume in fly.state.volumes_of(stack_config.app_name(RUNNING.id)):
        volume.state = gone

    result = run_cli(main, args(make_roster([RUNNING]), "--json"))

    row = json.loads(result.out)["data"]["tenants"][0]
    assert row["volume_gb"] is None
    assert "no volume named data" in row["problems"]
    assert result.code == 1
