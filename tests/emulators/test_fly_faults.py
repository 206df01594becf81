"""Fly emulator: injected faults, the rate limit, and the `python -m emulators.fly` entry point."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from emulators.fly import Fault
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
    emu.inject(Fault(method="POST", path=CREATE, kind="status", status=429, times=2, headers={"retry-after": "1"}))
    for _ in range(2):
        response = _create(client)
        assert response.status_code == 429
        assert response.headers["retry-after"] == "1"
        assert "error" in response.json()
    assert _machines(emu) == []
    assert _create(client).status_code == 200
    assert [r.status for r in emu.requests] == [429, 429, 200]
    assert emu.writes() == 3


def test_fault_after_does_the_work_then_answers_the_status(fly):
    emu, client = fly
    emu.inject(Fault(method="POST", path=CREATE, kind="after", status=408))
    response = _create(client)
    assert response.status_code == 408
    assert len(_machines(emu)) == 1


def test_fault_drop_closes_without_doing_the_work(fly):
    emu, client = fly
    emu.inject(Fault(method="*", path=CREATE, kind="drop"))
    with pytest.raises(httpx.RemoteProtocolError):
        _create(client)
    assert _machines(emu) == []
    assert emu.requests[-1].status == 0


def test_fault_drop_after_does_the_work_then_closes(fly):
    emu, client = fly
    emu.inject(Fault(method="POST", path=CREATE, kind="drop_after"))
    with pytest.raises(httpx.RemoteProtocolError):
        _create(client)
    assert len(_machines(emu)) == 1
    assert emu.requests[-1].status == 0


def test_fault_delay_outlasts_a_client_timeout_and_then_does_the_work(fly):
    emu, client = fly
    emu.inject(Fault(method="POST", path=CREATE, kind="delay", seconds=0.5))
    with pytest.raises(httpx.ReadTimeout):
        _create(client, timeout=0.1)
    time.sleep(0.6)
    assert len(_machines(emu)) == 1
    assert _create(client).status_code == 200  # the fault was used up


def test_fault_matches_only_its_method_and_path(fly):
    emu, client = fly
    emu.inject(Fault(method="DELETE", path=CREATE, kind="status", status=500))
    assert _create(client).status_code == 200
    emu.clear_faults()
    emu.inject(Fault(method="POST", path=CREATE, kind="status", status=500))
    emu.clear_faults()
    assert _create(client).status_code == 200


def test_rate_limit_answers_429_after_the_burst():
    with running(rate_limit=True) as (_, client):
        statuses = [client.get("/v1/apps/alex-t1/volumes").status_code for _ in range(5)]
        other_app = client.get("/v1/apps/alex-t2/volumes").status_code
        time.sleep(1.05)
        refilled = client.get("/v1/apps/alex-t1/volumes").status_code
    assert statuses[:3] == [404, 404, 404]  # no such app, but the bucket is still per (action, app)
    assert statuses[3:] == [429, 429]
    assert other_app == 404
    assert refilled == 404


def test_rate_limit_on_get_machine_allows_a_burst_of_10():
    with running(rate_limit=True) as (_, client):
        statuses = [client.get("/v1/apps/a/machines/m1").status_code for _ in range(15)]
    assert 429 not in statuses[:10]
    assert 429 in statuses[10:]


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
