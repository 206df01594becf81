"""Fly emulator: volumes (extend-only, retention-only updates, bound deletes), over real HTTP."""

from __future__ import annotations

import pytest

from tests.emulators.test_fly_support import (
    create_machine,
    create_volume,
    machine_config,
    wait_state,
)


def _mounted_machine(client, app, volume):
    config = machine_config(mounts=[{"volume": volume["id"], "path": "/app/data"}])
    machine = create_machine(client, app, config=config)
    wait_state(client, app, machine, "started")
    return machine


def test_volume_create_defaults_and_becomes_created(still, clock):
    _, client = still
    app = "alex-t1"
    response = client.post(f"/v1/apps/{app}/volumes", json={"name": "data", "region": "ams"})
    assert response.status_code == 200
    volume = response.json()
    assert volume["id"].startswith("vol_")
    assert volume["size_gb"] == 3 and volume["encrypted"] is True
    assert volume["attached_machine_id"] is None
    url = f"/v1/apps/{app}/volumes/{volume['id']}"
    assert client.get(url).json()["state"] == "creating"
    clock.advance(0.25)  # one transition
    assert client.get(url).json()["state"] == "created"


@pytest.mark.parametrize(
    "body",
    [{"region": "ams"}, {"name": "my-data"}, {"name": "Data"}, {"name": "data", "size_gb": 501}],
    ids=["no-name", "dash", "upper", "too-big"],
)
def test_volume_create_rejects_bad_input(client, app, body):
    response = client.post(f"/v1/apps/{app}/volumes", json=body)
    assert response.status_code == 400
    assert response.json()["error"]


@pytest.mark.parametrize("size", [1, 0])
def test_volume_extend_refuses_same_or_smaller(client, app, size):
    volume = create_volume(client, app, size_gb=1)
    response = client.put(f"/v1/apps/{app}/volumes/{volume['id']}/extend", json={"size_gb": size})
    assert response.status_code == 400
    assert "cannot be shrunk" in response.json()["error"]
    assert volume["id"] in response.json()["error"]


@pytest.mark.parametrize(("mounted", "needs_restart"), [(False, False), (True, True)])
def test_volume_extend_grows_and_reports_needs_restart(client, app, mounted, needs_restart):
    volume = create_volume(client, app, size_gb=1)
    if mounted:
        _mounted_machine(client, app, volume)
    response = client.put(f"/v1/apps/{app}/volumes/{volume['id']}/extend", json={"size_gb": 6})
    assert response.status_code == 200
    body = response.json()
    assert body["volume"]["size_gb"] == 6
    assert body["needs_restart"] is needs_restart


def test_volume_update_accepts_only_retention_fields(client, app):
    volume = create_volume(client, app)
    url = f"/v1/apps/{app}/volumes/{volume['id']}"
    ok = client.put(url, json={"snapshot_retention": 10, "auto_backup_enabled": False})
    assert ok.status_code == 200
    assert (ok.json()["snapshot_retention"], ok.json()["auto_backup_enabled"]) == (10, False)
    refused = client.put(url, json={"size_gb": 9})
    assert refused.status_code == 400
    assert "size_gb" in refused.json()["error"]


def test_volume_delete_refused_while_bound_then_allowed_after_the_delay(still, clock):
    _, client = still
    app = "alex-t1"
    volume = create_volume(client, app)
    config = machine_config(mounts=[{"volume": volume["id"], "path": "/app/data"}])
    machine = create_machine(client, app, config=config)
    url = f"/v1/apps/{app}/volumes/{volume['id']}"
    assert client.get(url).json()["attached_machine_id"] == machine["id"]
    expected = {
        "error": f"failed_precondition: volume is currently bound to machine: {machine['id']}",
        "status": "failed_precondition",
    }
    clock.advance(1.0)  # started
    stopped = client.post(f"/v1/apps/{app}/machines/{machine['id']}/stop")
    assert stopped.status_code == 200
    bound = client.delete(url)
    assert (bound.status_code, bound.json()) == (412, expected)
    client.delete(f"/v1/apps/{app}/machines/{machine['id']}", params={"force": "true"})
    clock.advance(0.25)  # destroying -> destroyed
    assert client.get(f"/v1/apps/{app}/machines/{machine['id']}").status_code == 404
    clock.advance(0.25)
    still_bound = client.delete(url)
    assert (
        still_bound.status_code == 412
    )  # stays bound for volume_unbind_after (docs/reference/fly-machines-api.md §1.3)
    clock.advance(0.25)  # volume_unbind_after (0.5 s) after the destroy
    assert client.delete(url).status_code == 200
    listed = client.get(f"/v1/apps/{app}/volumes").json()
    assert [(v["id"], v["state"]) for v in listed] == [(volume["id"], "pending_destroy")]
