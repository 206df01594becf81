"""Fly emulator: injected faults, the rate limit, and the `python -m emulators.fly` entry point."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from emulators.clock import FakeClock
from emulators.faults import Fault
from emulators.fly import FlyEmulator
from tests.emulators.test_fly_support import TOKEN, create_app, machine_config, running
from tests.support.servers import free_port

CREATE = r"^/v1/apps/[^/]+/machines$"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def fly():
    with running() as (emu, client):
        create_app(client)
        emu.reset_log()
        yield emu, client


def _create(client, **kwargs):
    return client.post("/v1/apps/alex-t1/machines", json={"config": machine_config()}, **kwargs)


def _machines(emu):
    return [m for m in emu.state.machines.values() if m.app == "alex-t1"]


def test_fault_status_answers_without_doing_the_work(fly):
    emu, client = fly
    emu.inject(Fault(method="POST", path=CREATE, status=429, times=2, headers={"retry-after": "1"}))
    for _ in range(2):
        response = _create(client)
        assert response.status_code == 429
        assert response.headers["retry-after"] == "1"
        assert "error" in response.json()
    assert _machines(emu) == []
    assert _create(client).status_code == 200
    assert [r.status for r in emu.requests] == [429, 429, 200]
    assert emu.writes() == 3


def test_fault_after_work_does_the_work_then_answers_the_status(fly):
    emu, client = fly
    emu.inject(Fault(method="POST", path=CREATE, status=408, when="after_work"))
    response = _create(client)
    assert response.status_code == 408
    assert len(_machines(emu)) == 1


def test_fault_drop_closes_without_doing_the_work(fly):
    emu, client = fly
    emu.inject(Fault(path=CREATE, drop=True))
    with pytest.raises(httpx.RemoteProtocolError):
        _create(client)
    assert _machines(emu) == []
    assert emu.requests[-1].status == 0


def test_fault_drop_after_work_does_the_work_then_closes(fly):
    emu, client = fly
    emu.inject(Fault(method="POST", path=CREATE, drop=True, when="after_work"))
    with pytest.raises(httpx.RemoteProtocolError):
        _create(client)
    assert len(_machines(emu)) == 1
    assert emu.requests[-1].status == 0


def test_fault_delay_outlasts_a_client_timeout_and_then_does_the_work():
    clock = FakeClock()
    with running(clock=clock) as (emu, client):
        create_app(client)
        emu.inject(Fault(method="POST", path=CREATE, status=None, delay=0.5))
        with pytest.raises(httpx.ReadTimeout):
            _create(client, timeout=0.1)  # the emulator's clock stands still: no answer can come
        clock.until_blocked()
        assert _machines(emu) == []
        clock.advance(0.5)
        emu.settle()
        assert len(_machines(emu)) == 1
        assert _create(client).status_code == 200  # the fault was used up


def test_fault_matches_only_its_method_and_path(fly):
    emu, client = fly
    emu.inject(Fault(method="DELETE", path=CREATE, status=500))
    assert _create(client).status_code == 200
    emu.clear_faults()
    emu.inject(Fault(method="POST", path=CREATE, status=500))
    emu.clear_faults()
    assert _create(client).status_code == 200


def test_rate_limit_answers_429_after_the_burst():
    clock = FakeClock()
    with running(rate_limit=True, clock=clock) as (_, client):
        statuses = [client.get("/v1/apps/alex-t1/volumes").status_code for _ in range(5)]
        other_app = client.get("/v1/apps/alex-t2/volumes").status_code
        clock.advance(0.5)
        half = client.get("/v1/apps/alex-t1/volumes").status_code
        clock.advance(0.5)  # a whole token at 1 req/s
        refilled = client.get("/v1/apps/alex-t1/volumes").status_code
    assert statuses[:3] == [404, 404, 404]  # no such app, but the bucket is still per (action, app)
    assert statuses[3:] == [429, 429]
    assert other_app == 404
    assert half == 429
    assert refilled == 404


def test_rate_limit_on_get_machine_allows_a_burst_of_10():
    with running(rate_limit=True, clock=FakeClock()) as (_, client):
        statuses = [client.get("/v1/apps/a/machines/m1").status_code for _ in range(15)]
    assert 429 not in statuses[:10]
    assert statuses[10:] == [429] * 5


def _create_app(client, name):
    return client.post("/v1/apps", json={"name": name, "org_slug": "personal"})


def test_app_creates_share_one_org_wide_limit_whatever_their_names():
    clock = FakeClock()
    with running(rate_limit=True, clock=clock) as (emu, client):
        first = [_create_app(client, f"alex-n{i}") for i in range(5)]
        clock.advance(1.0)  # one token at 1 req/s
        refilled = [_create_app(client, f"alex-m{i}") for i in range(2)]
        apps = set(emu.state.apps)
    assert [r.status_code for r in first] == [201, 201, 201, 429, 429]
    assert [r.status_code for r in refilled] == [201, 429]
    assert apps == {"alex-n0", "alex-n1", "alex-n2", "alex-m0"}  # a 429 made nothing
    refused = first[3]
    assert refused.json() == {
        "error": "rate limit exceeded for apps.create on organization personal",
        "status": "resource_exhausted",
    }
    assert "retry-after" not in refused.headers  # Fly documents no Retry-After
    assert refused.headers["fly-request-id"]


def test_the_app_create_limit_is_configurable():
    with running(rate_limit=True, clock=FakeClock(), org_limits={"apps.create": (1.0, 6)}) as (_, client):
        statuses = [_create_app(client, f"alex-n{i}").status_code for i in range(7)]
    assert statuses == [201] * 6 + [429]


@pytest.mark.parametrize("limit", [(0.0, 3), (-1.0, 3), (1.0, 0)])
def test_a_nonsense_org_limit_is_refused(limit):
    with pytest.raises(ValueError, match="apps.create"):
        FlyEmulator(org_limits={"apps.create": limit})


def test_app_deletes_are_limited_org_wide_at_100_a_minute():
    clock = FakeClock()
    with running(rate_limit=True, clock=clock, org_limits={"apps.create": (1000.0, 1000)}) as (_, client):
        for i in range(101):
            assert _create_app(client, f"alex-d{i}").status_code == 201
        deleted = [client.delete(f"/v1/apps/alex-d{i}").status_code for i in range(101)]
        clock.advance(0.6)  # 100/min: one token every 0.6 s
        again = client.delete("/v1/apps/alex-d100").status_code
    assert deleted == [202] * 100 + [429]
    assert again == 202


def test_the_app_list_is_limited_per_organization():
    clock = FakeClock()
    with running(rate_limit=True, clock=clock) as (_, client):
        listed = [client.get("/v1/apps").status_code for _ in range(4)]
        other = client.get("/v1/apps/alex-none").status_code  # an app's own bucket is separate
    assert listed == [200, 200, 200, 429]
    assert other == 404


def test_org_wide_limits_leave_per_app_limits_alone():
    clock = FakeClock()
    with running(rate_limit=True, clock=clock) as (_, client):
        created = [_create_app(client, f"alex-n{i}").status_code for i in range(4)]
        per_app = [client.get("/v1/apps/alex-n0/volumes").status_code for _ in range(3)]
    assert created == [201, 201, 201, 429]
    assert per_app == [200, 200, 200]


def test_an_injected_fault_answers_before_the_rate_limit_and_takes_no_token():
    clock = FakeClock()
    with running(rate_limit=True, clock=clock) as (emu, client):
        emu.inject(Fault(method="POST", path=r"^/v1/apps$", status=429, times=2, headers={"retry-after": "2"}))
        faulted = [_create_app(client, f"alex-f{i}") for i in range(2)]
        created = [_create_app(client, f"alex-n{i}").status_code for i in range(4)]
    assert [(r.status_code, r.headers.get("retry-after")) for r in faulted] == [(429, "2"), (429, "2")]
    assert created == [201, 201, 201, 429]


@pytest.mark.parametrize("value", ["0,3", "1", "1,0", "x,3", "nan,3", "1,2.5"])
def test_main_module_refuses_a_bad_app_create_limit(value, capsys):
    from emulators.fly.__main__ import main

    with pytest.raises(SystemExit) as caught:
        main(["--app-create-limit", value])
    assert caught.value.code == 2 and "RATE,BURST" in capsys.readouterr().err


def test_main_module_serves_until_killed():
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "emulators.fly", "--port", str(port), "--token", "cli-token"]
    with subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            url = f"http://127.0.0.1:{port}"
            assert url in line
            ok = httpx.get(url + "/v1/apps", headers={"Authorization": "Bearer cli-token"})
            denied = httpx.get(url + "/v1/apps", headers={"Authorization": f"Bearer {TOKEN}"})
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    assert ok.status_code == 200
    assert denied.status_code == 401
