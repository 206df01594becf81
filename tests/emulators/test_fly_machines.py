"""Fly emulator: machines, their state machine, leases and /wait, over real HTTP."""

from __future__ import annotations

import threading

import httpx
import pytest

from tests.emulators.test_fly_support import (
    IMAGE,
    create_machine,
    create_volume,
    machine_config,
    wait_state,
)

APP = "alex-t1"  # the app the `still` fixture creates


def _url(app, machine, suffix=""):
    return f"/v1/apps/{app}/machines/{machine['id']}{suffix}"


def test_machine_create_goes_created_to_started(client, app):
    machine = create_machine(client, app, name="web")
    assert machine["state"] == "created"
    assert machine["name"] == "web" and machine["region"] == "ams"
    assert machine["image_ref"]["repository"] == "jamesacklin/alex"
    assert machine["image_ref"]["tag"] == "1.4.0"
    wait_state(client, app, machine, "started")
    assert client.get(_url(app, machine)).json()["state"] == "started"


def test_machine_read_back_is_normalised_by_the_server(client, app):
    config = machine_config(metadata={"tenant": "t1"})
    config["services"].append({"protocol": "tcp", "internal_port": 8080, "autostop": "off"})
    config["services"].append({"protocol": "tcp", "internal_port": 8081, "autostop": "suspend"})
    machine = create_machine(client, app, config=config)
    read = client.get(_url(app, machine)).json()["config"]
    assert [s["autostop"] for s in read["services"]] == [True, False, "suspend"]
    assert read["init"] == {} and read["dns"] == {}
    assert read["restart"] == {"policy": "always"}
    assert read["guest"] == {"cpu_kind": "shared", "cpus": 1, "memory_mb": 256}
    assert read["metadata"] == {"tenant": "t1", "fly_platform_version": "v2"}
    assert read != config


@pytest.mark.parametrize(
    "config",
    [
        {},
        {"image": IMAGE, "services": [{"internal_port": 3000, "autostart": "true"}]},
        {"image": IMAGE, "services": [{"internal_port": 3000, "autostop": "sometimes"}]},
        {"image": IMAGE, "guest": {"memory_mb": 300}},
        {"image": IMAGE, "guest": {"memory_mb": 256}, "size": "shared-cpu-1x"},
        {"image": IMAGE, "env": {"PORT": 3000}},
    ],
    ids=["no-image", "autostart-string", "autostop-unknown", "memory-not-256", "guest-and-size", "env-int"],
)
def test_machine_create_rejects_invalid_config(client, app, config):
    response = client.post(f"/v1/apps/{app}/machines", json={"region": "ams", "config": config})
    assert response.status_code == 400, response.text
    assert response.json()["error"]


def test_machine_name_is_unique_in_the_app(client, app):
    create_machine(client, app, name="web")
    response = client.post(f"/v1/apps/{app}/machines", json={"name": "web", "config": machine_config()})
    assert response.status_code == 422
    assert "web" in response.json()["error"]


def test_machine_update_changes_instance_id_and_restarts(client, app):
    machine = create_machine(client, app)
    wait_state(client, app, machine, "started")
    config = client.get(_url(app, machine)).json()["config"]
    config["env"] = {"A": "1"}
    updated = client.post(_url(app, machine), json={"config": config})
    assert updated.status_code == 200
    new = updated.json()
    assert new["instance_id"] != machine["instance_id"]
    assert new["state"] == "updating"
    wait_state(client, app, new, "started")
    stale = client.get(_url(app, machine, "/wait"), params={"instance_id": machine["instance_id"], "timeout": 1})
    assert stale.status_code == 408
    assert "currently replaced" in stale.json()["error"]


def test_machine_update_with_skip_launch_keeps_a_stopped_machine_stopped(still, clock):
    _, client = still
    machine = create_machine(client, APP, skip_launch=True)
    clock.advance(0.25)
    assert client.get(_url(APP, machine)).json()["state"] == "stopped"
    updated = client.post(_url(APP, machine), json={"config": machine_config(), "skip_launch": True}).json()
    assert updated["state"] == "updating"
    clock.advance(10.0)  # many transitions later
    assert client.get(_url(APP, machine)).json()["state"] == "stopped"


@pytest.mark.parametrize(("field", "value"), [("region", "iad"), ("name", "other")])
def test_machine_update_refuses_immutable_fields(client, app, field, value):
    machine = create_machine(client, app, name="web")
    response = client.post(_url(app, machine), json={"config": machine_config(), field: value})
    assert response.status_code == 400
    assert field in response.json()["error"]


def test_machine_update_ignores_a_changed_mount_volume(client, app):
    first = create_volume(client, app)
    second = create_volume(client, app)
    mounts = [{"volume": first["id"], "path": "/app/data"}]
    machine = create_machine(client, app, config=machine_config(mounts=mounts))
    moved = machine_config(mounts=[{"volume": second["id"], "path": "/app/data"}])
    updated = client.post(_url(app, machine), json={"config": moved}).json()
    assert updated["config"]["mounts"][0]["volume"] == first["id"]
    assert client.get(f"/v1/apps/{app}/volumes/{second['id']}").json()["attached_machine_id"] is None


@pytest.mark.parametrize(
    ("volume_region", "expected"), [("iad", 400), ("ams", 200)], ids=["other-region", "same-region"]
)
def test_machine_mount_must_be_in_the_same_region(client, app, volume_region, expected):
    volume = create_volume(client, app, region=volume_region)
    config = machine_config(mounts=[{"volume": volume["id"], "path": "/app/data"}])
    response = client.post(f"/v1/apps/{app}/machines", json={"region": "ams", "config": config})
    assert response.status_code == expected, response.text


def test_machine_mount_of_a_volume_held_by_another_machine_is_refused(client, app):
    volume = create_volume(client, app)
    config = machine_config(mounts=[{"volume": volume["id"], "path": "/app/data"}])
    holder = create_machine(client, app, config=config)
    response = client.post(f"/v1/apps/{app}/machines", json={"region": "ams", "config": config})
    assert response.status_code == 422
    assert holder["id"] in response.json()["error"]


def test_machine_min_secrets_version_must_exist(client, app):
    body = {"region": "ams", "config": machine_config(), "min_secrets_version": 1}
    assert client.post(f"/v1/apps/{app}/machines", json=body).status_code == 400
    client.post(f"/v1/apps/{app}/secrets", json={"values": {"A": "1"}})
    assert client.post(f"/v1/apps/{app}/machines", json=body).status_code == 200


def test_machine_lease_blocks_writes_without_the_nonce(client, app):
    machine = create_machine(client, app)
    wait_state(client, app, machine, "started")
    lease = client.post(_url(app, machine, "/lease"), json={"ttl": 30}).json()
    assert lease["status"] == "success"
    nonce = lease["data"]["nonce"]
    blocked = client.post(_url(app, machine, "/stop"))
    assert blocked.status_code == 409
    assert blocked.json()["error"].startswith(f"aborted: machine ID {machine['id']} lease currently held by ")
    assert client.post(_url(app, machine, "/lease")).status_code == 409
    wrong = client.delete(_url(app, machine, "/lease"), headers={"fly-machine-lease-nonce": "nope"})
    assert wrong.status_code == 409
    with_nonce = {"fly-machine-lease-nonce": nonce}
    update = client.post(_url(app, machine), json={"config": machine_config()}, headers=with_nonce)
    assert update.status_code == 200
    assert client.delete(_url(app, machine, "/lease"), headers=with_nonce).status_code == 200
    assert client.delete(_url(app, machine, "/lease"), headers=with_nonce).status_code == 404
    assert client.post(_url(app, machine, "/stop")).status_code == 200


def test_machine_lease_expires_by_ttl(still, clock):
    _, client = still
    machine = create_machine(client, APP, lease_ttl=1)
    assert machine["nonce"]
    assert client.post(_url(APP, machine, "/stop")).status_code == 409
    clock.advance(0.5)
    assert client.post(_url(APP, machine, "/stop")).status_code == 409
    clock.advance(0.5)
    assert client.post(_url(APP, machine, "/stop")).status_code == 200


def _wait_in_thread(emu, client, machine, answers, **params):
    def waiter():
        with httpx.Client(base_url=emu.url, headers=dict(client.headers), timeout=10) as other:
            answers.append(other.get(_url(APP, machine, "/wait"), params=params))

    thread = threading.Thread(target=waiter)
    thread.start()
    return thread


def test_machine_wait_answers_408_at_the_cap(still, clock):
    emu, client = still
    machine = create_machine(client, APP, skip_launch=True)
    clock.advance(0.25)  # stopped
    answers: list[httpx.Response] = []
    thread = _wait_in_thread(emu, client, machine, answers, state="started", timeout=60)
    clock.until_blocked()
    assert answers == []
    clock.advance(1.0)  # the emulator's wait_cap, whatever the client asked for
    thread.join(timeout=10)
    assert [a.status_code for a in answers] == [408]
    assert answers[0].json()["error"] == (
        "deadline_exceeded: machine failed to reach desired state, started, currently stopped"
    )


def test_machine_wait_blocks_while_other_requests_are_served(still, clock):
    emu, client = still
    machine = create_machine(client, APP, skip_launch=True)
    clock.advance(0.25)  # stopped
    answers: list[httpx.Response] = []
    thread = _wait_in_thread(emu, client, machine, answers, state="started", timeout=5)
    clock.until_blocked()
    assert client.post(_url(APP, machine, "/start")).status_code == 200
    clock.advance(0.25)  # starting -> started
    thread.join(timeout=10)
    assert [a.status_code for a in answers] == [200]
    assert answers[0].json() == {"ok": True, "state": "started"}


@pytest.mark.parametrize("timeout", ["0", "61", "90", "soon"])
def test_machine_wait_rejects_a_timeout_outside_1_to_60(client, app, timeout):
    machine = create_machine(client, app)
    response = client.get(_url(app, machine, "/wait"), params={"timeout": timeout})
    assert response.status_code == 400
    assert response.json()["status"] == "invalid_argument"


def test_machine_start_while_created_is_412_and_from_stopped_works(still, clock):
    _, client = still
    machine = create_machine(client, APP, skip_launch=True)
    early = client.post(_url(APP, machine, "/start"))
    assert early.status_code == 412
    assert early.json()["error"] == ("failed_precondition: unable to start machine from current state: 'created'")
    clock.advance(0.25)
    assert client.post(_url(APP, machine, "/start")).json()["previous_state"] == "stopped"
    clock.advance(0.5)
    assert client.get(_url(APP, machine)).json()["state"] == "started"


def test_machine_stop_suspend_restart_follow_the_state_rules(client, app):
    machine = create_machine(client, app)
    wait_state(client, app, machine, "started")
    assert client.post(_url(app, machine, "/suspend")).status_code == 200
    wait_state(client, app, machine, "suspended")
    assert client.post(_url(app, machine, "/restart")).status_code == 412
    assert client.post(_url(app, machine, "/stop")).status_code == 200
    wait_state(client, app, machine, "stopped")
    assert client.post(_url(app, machine, "/stop")).status_code == 200  # no-op


def test_machine_delete_needs_force_while_started_then_is_gone(client, app):
    machine = create_machine(client, app)
    wait_state(client, app, machine, "started")
    refused = client.delete(_url(app, machine))
    assert refused.status_code == 412
    assert client.delete(_url(app, machine), params={"force": "true"}).status_code == 200
    wait_state(client, app, machine, "destroyed")
    assert client.get(_url(app, machine)).status_code == 404
    assert client.get(f"/v1/apps/{app}/machines").json() == []
    deleted = client.get(f"/v1/apps/{app}/machines", params={"include_deleted": "true"}).json()
    assert [m["state"] for m in deleted] == ["destroyed"]


def test_machine_list_filters_by_metadata_region_and_state(client, app):
    mine = create_machine(client, app, config=machine_config(metadata={"tenant": "t1"}))
    create_machine(client, app, region="iad", config=machine_config(metadata={"tenant": "t2"}))
    listed = client.get(f"/v1/apps/{app}/machines", params={"metadata.tenant": "t1"}).json()
    assert [m["id"] for m in listed] == [mine["id"]]
    assert len(client.get(f"/v1/apps/{app}/machines", params={"region": "iad"}).json()) == 1
    wait_state(client, app, mine, "started")
    started = client.get(f"/v1/apps/{app}/machines", params={"state": "started,stopped"}).json()
    assert mine["id"] in [m["id"] for m in started]


def test_autostop_event_stops_the_machine_and_keeps_its_config(fly, app):
    emu, client = fly
    machine = create_machine(client, app)
    wait_state(client, app, machine, "started")
    before = client.get(_url(app, machine)).json()
    emu.autostop(app, machine["id"])
    after = client.get(_url(app, machine)).json()
    assert after["state"] == "stopped"
    assert after["config"] == before["config"] and after["instance_id"] == before["instance_id"]
    assert emu.state.machines[machine["id"]].state == "stopped"


# -- events and checks (docs/reference/fly-machines-api.md §1.4: the machine object carries both) ---------------
CHECKED = {"login": {"type": "http", "port": 3000, "method": "GET", "path": "/login", "interval": "30s"}}


def _read(client, machine):
    return client.get(_url(APP, machine)).json()


def _kinds(machine_json):
    return [(e["type"], e["status"], e["source"]) for e in machine_json["events"]]


def test_machine_events_follow_its_lifecycle_newest_first_on_the_emulator_clock(still, clock):
    emu, client = still
    machine = create_machine(client, APP, config=machine_config(checks=CHECKED))
    clock.advance(0.5)
    assert client.post(_url(APP, machine, "/stop")).status_code == 200
    clock.advance(0.5)
    assert client.post(_url(APP, machine, "/start")).status_code == 200
    clock.advance(0.5)
    config = _read(client, machine)["config"]
    assert client.post(_url(APP, machine), json={"config": config}).status_code == 200
    clock.advance(0.5)
    assert client.post(_url(APP, machine, "/restart")).status_code == 200

    events = _read(client, machine)["events"]
    assert _kinds({"events": events}) == [
        ("restart", "started", "user"),
        ("start", "started", "flyd"),
        ("update", "started", "user"),
        ("start", "started", "user"),
        ("stop", "stopped", "user"),
        ("start", "started", "flyd"),
        ("launch", "created", "user"),
    ]
    stamps = [e["timestamp"] for e in events]
    assert stamps == sorted(stamps, reverse=True)
    assert stamps[-1] == int(clock.time() * 1000) - 2000  # epoch ms of the fake clock at create
    assert all(isinstance(e["request"], dict) for e in events)


def test_machine_events_are_bounded_to_the_last_ten(still, clock):
    emu, client = still
    machine = create_machine(client, APP)
    clock.advance(0.5)
    for _ in range(8):
        emu.crash(APP, machine["id"])
        clock.advance(0.5)
    events = _read(client, machine)["events"]
    assert len(events) == 10
    assert events[0]["type"] == "start" and events[1]["type"] == "exit"
    assert "launch" not in [e["type"] for e in events]  # the oldest dropped off


def test_machine_crash_with_restart_logs_the_exit_and_boots_again(still, clock):
    emu, client = still
    machine = create_machine(client, APP)
    clock.advance(0.5)
    emu.crash(APP, machine["id"], exit_code=137, oom=True)
    read = _read(client, machine)
    assert read["state"] == "starting"
    exit_event = read["events"][1]
    assert (exit_event["type"], exit_event["source"]) == ("exit", "flyd")
    assert exit_event["request"]["exit_event"] == {
        "exit_code": 137,
        "oom_killed": True,
        "requested_stop": False,
        "restarting": True,
        "exited_at": exit_event["request"]["exit_event"]["exited_at"],
    }
    assert read["events"][0]["type"] == "start"
    clock.advance(0.25)
    assert _read(client, machine)["state"] == "started"


def test_machine_crash_without_restart_leaves_it_stopped(still, clock):
    emu, client = still
    machine = create_machine(client, APP)
    clock.advance(0.5)
    emu.crash(APP, machine["id"], restarting=False, exit_code=0)
    read = _read(client, machine)
    assert read["state"] == "stopped"
    assert read["events"][0]["type"] == "exit"
    assert read["events"][0]["request"]["exit_event"]["restarting"] is False
    assert read["events"][0]["request"]["exit_event"]["exit_code"] == 0


def test_machine_crash_needs_a_running_machine_of_that_app(still, clock):
    emu, client = still
    machine = create_machine(client, APP, skip_launch=True)
    clock.advance(0.5)
    with pytest.raises(ValueError, match="stopped"):
        emu.crash(APP, machine["id"])
    with pytest.raises(KeyError):
        emu.crash("alex-other", machine["id"])
    with pytest.raises(KeyError):
        emu.crash(APP, "nosuchmachine")


def test_machine_checks_pass_once_booted_and_follow_set_check(still, clock):
    emu, client = still
    config = machine_config(checks=CHECKED)
    config["services"][0]["checks"] = [{"type": "http", "path": "/", "interval": "15s"}]
    machine = create_machine(client, APP, config=config)
    clock.advance(0.5)
    checks = _read(client, machine)["checks"]
    assert [(c["name"], c["status"]) for c in checks] == [
        ("login", "passing"),
        ("servicecheck-00-http-3000", "passing"),
    ]
    assert all(c["output"] == "" and c["updated_at"].endswith("Z") for c in checks)

    emu.set_check(APP, machine["id"], "login", "critical", "HTTP 502")
    checks = {c["name"]: c for c in _read(client, machine)["checks"]}
    assert (checks["login"]["status"], checks["login"]["output"]) == ("critical", "HTTP 502")
    assert checks["servicecheck-00-http-3000"]["status"] == "passing"

    assert client.post(_url(APP, machine, "/restart")).status_code == 200  # a fresh boot runs checks afresh
    assert {c["status"] for c in _read(client, machine)["checks"]} == {"passing"}


def test_machine_without_configured_checks_or_never_booted_reports_none(still, clock):
    emu, client = still
    plain = create_machine(client, APP)
    unbooted = create_machine(client, APP, skip_launch=True, config=machine_config(checks=CHECKED))
    clock.advance(0.5)
    assert _read(client, plain)["checks"] == []
    assert _read(client, unbooted)["checks"] == []


@pytest.mark.parametrize(
    ("name", "status", "error"),
    [("login", "ok", ValueError), ("login", "PASSING", ValueError), ("nosuch", "passing", KeyError)],
    ids=["unknown-status", "status-case", "unknown-check"],
)
def test_set_check_refuses_what_fly_would_never_report(still, clock, name, status, error):
    emu, client = still
    machine = create_machine(client, APP, config=machine_config(checks=CHECKED))
    with pytest.raises(error):
        emu.set_check(APP, machine["id"], name, status)


def test_autostop_is_a_stop_event_from_flyd(still, clock):
    emu, client = still
    machine = create_machine(client, APP)
    clock.advance(0.5)
    emu.autostop(APP, machine["id"])
    assert _kinds(_read(client, machine))[0] == ("stop", "stopped", "flyd")
