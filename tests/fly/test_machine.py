"""Machine provider against the emulator: lifecycle, leases, run state, and create under faults."""

from __future__ import annotations

import pytest

from emulators.faults import Fault
from providers.fly.machine import MachineProvider
from providers.fly.secrets import SecretsProvider
from providers.fly.volume import VolumeProvider
from tests.conftest import FLY_TEST_TOKEN
from tests.fly.lifecycle import preview, refresh, up
from tests.fly.machines import machine_config, machine_inputs
from tests.support.engine import ProviderCallError

RUNTIME_KEYS = {"state", "events", "checks", "image_ref"}


@pytest.fixture
def machines(host):
    return host.bind(MachineProvider())


@pytest.fixture
def volume(host, app) -> str:
    vid, _ = up(host.bind(VolumeProvider()), {"app": app, "name": "data", "region": "ams", "size_gb": 1})
    return vid


def live(emu, app):
    return [m for m in emu.state.machines.values() if m.app == app and m.state not in ("destroying", "destroyed")]


def with_env(inputs, **env):
    config = machine_config(inputs["config"]["mounts"][0]["volume"])
    config["env"] = {**config["env"], **env}
    return {**inputs, "config": config}


def test_machine_lifecycle_create_nodiff_autostop_update_delete(machines, emu, app, volume):
    inputs = machine_inputs(app, volume)
    id_, outs = up(machines, inputs)
    machine = emu.state.machines[id_]
    assert machine.state == "started" and outs["machine_id"] == id_
    assert outs["instance_id"] == machine.instance_id and outs["private_ip"] == machine.private_ip
    assert not RUNTIME_KEYS & set(outs)
    assert preview(machines, id_, outs, inputs).changes is False

    # Autostop changes the runtime state and Fly reads autostop back as a boolean: neither is drift.
    emu.autostop(app, id_)
    rid, routs, rinputs = refresh(machines, id_, outs)
    assert rid == id_ and routs["config"] == outs["config"]
    assert preview(machines, rid, routs, rinputs).changes is False
    assert preview(machines, rid, routs, inputs).changes is False

    emu.reset_log()
    changed = with_env(inputs, LOG_LEVEL="debug")
    _, updated = up(machines, changed, id_=rid, outs=routs)
    assert emu.state.machines[id_].config["env"]["LOG_LEVEL"] == "debug"
    assert emu.state.machines[id_].state == "stopped", "an autostopped machine stays stopped on update"
    update = next(r for r in emu.requests if r.method == "POST" and r.path == f"/v1/apps/{app}/machines/{id_}")
    assert update.body["skip_launch"] is True
    # The emulator answers 409 to an update of a leased machine without the lease nonce header, so the
    # update succeeding proves the nonce was sent; the lease was then released.
    assert [r.method for r in emu.requests if r.path.endswith("/lease")] == ["POST", "DELETE"]
    assert emu.state.machines[id_].live_lease(emu.clock.time()) is None
    assert updated["instance_id"] != outs["instance_id"]
    assert preview(machines, id_, updated, changed).changes is False

    machines.delete(id_, updated)
    assert live(emu, app) == []
    assert refresh(machines, id_, updated)[0] == ""
    machines.delete(id_, updated)  # 404 is success


def test_machine_update_of_running_machine_relaunches_and_waits(machines, emu, app, volume):
    inputs = machine_inputs(app, volume)
    id_, outs = up(machines, inputs)
    _, updated = up(machines, with_env(inputs, A="1"), id_=id_, outs=outs)
    machine = emu.state.machines[id_]
    assert machine.state == "started" and updated["instance_id"] == machine.instance_id


def test_machine_update_failure_still_releases_lease(machines, emu, app, volume):
    inputs = machine_inputs(app, volume)
    id_, outs = up(machines, inputs)
    emu.inject(Fault(method="POST", path=rf"^/v1/apps/{app}/machines/{id_}$", status=400, times=1))
    with pytest.raises(ProviderCallError, match="HTTP 400"):
        up(machines, with_env(inputs, A="1"), id_=id_, outs=outs)
    assert emu.state.machines[id_].live_lease(emu.clock.time()) is None
    assert [r.method for r in emu.requests if r.path.endswith("/lease")] == ["POST", "DELETE"]


def test_machine_run_state_stopped_then_active(machines, emu, app, volume):
    inputs = machine_inputs(app, volume)
    id_, outs = up(machines, inputs)
    stopped = {**inputs, "run_state": "stopped"}
    _, souts = up(machines, stopped, id_=id_, outs=outs)
    machine = emu.state.machines[id_]
    assert machine.state == "stopped"
    assert [s["autostart"] for s in machine.config["services"]] == [False]
    rid, routs, rinputs = refresh(machines, id_, souts)
    assert preview(machines, rid, routs, rinputs).changes is False
    assert preview(machines, rid, routs, stopped).changes is False

    _, aouts = up(machines, inputs, id_=rid, outs=routs)
    machine = emu.state.machines[id_]
    assert machine.state == "started" and [s["autostart"] for s in machine.config["services"]] == [True]


def test_machine_created_stopped_stays_stopped(machines, emu, app, volume):
    id_, _ = up(machines, machine_inputs(app, volume, run_state="stopped"))
    assert emu.state.machines[id_].state == "stopped"


def test_machine_mount_change_replaces_delete_first(machines, app, volume):
    inputs = machine_inputs(app, volume)
    id_, outs = up(machines, inputs)
    other = {**inputs, "config": machine_config("vol_other")}
    outcome = preview(machines, id_, outs, other)
    assert outcome.changes and outcome.replaces == ["config"] and outcome.delete_before_replace
    assert preview(machines, id_, outs, {**inputs, "region": "fra"}).replaces == ["region"]


def test_machine_unknown_config_in_preview_is_a_change(machines, app, volume):
    from pulumi.runtime.rpc import UNKNOWN

    inputs = machine_inputs(app, volume)
    id_, outs = up(machines, inputs)
    assert preview(machines, id_, outs, {**inputs, "min_secrets_version": UNKNOWN}).changes
    mounts_unknown = {**inputs, "config": {**inputs["config"], "mounts": [{"volume": UNKNOWN, "path": "/app/data"}]}}
    assert preview(machines, id_, outs, mounts_unknown).replaces == ["config"]


def test_machine_min_secrets_version_sent_on_create(host, machines, emu, app, volume):
    _, souts = up(host.bind(SecretsProvider()), {"app": app, "values": {"NEXTAUTH_SECRET": "x"}})
    id_, outs = up(machines, machine_inputs(app, volume, min_secrets_version=souts["version"]))
    create = next(r for r in emu.requests if r.method == "POST" and r.path == f"/v1/apps/{app}/machines")
    assert create.body["min_secrets_version"] == souts["version"]
    assert outs["min_secrets_version"] == souts["version"]


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 408, "when": "after_work"},
        {"drop": True, "when": "after_work"},
        {"drop": True},
        {"status": 503, "times": 2},
        {"status": 429, "times": 3},
        {"status": 500, "when": "after_work"},
    ],
    ids=["after-408", "drop_after", "drop", "status-503-2", "status-429-3", "after-500"],
)
def test_machine_create_under_fault_makes_exactly_one_machine(machines, emu, app, volume, fault):
    emu.inject(Fault(method="POST", path=rf"^/v1/apps/{app}/machines$", **fault))
    id_, outs = up(machines, machine_inputs(app, volume))
    assert [m.id for m in live(emu, app)] == [id_]
    assert emu.state.machines[id_].state == "started"
    id2, _ = up(machines, machine_inputs(app, volume))  # a whole retried create adopts it too
    assert id2 == id_ and len(live(emu, app)) == 1


# Refusals that may mean an earlier run's machine holds the name or the volume: each is followed by one look.
HELD = [400, 409, 412, 422]


def creates(emu, app):
    """(method, status) of every request to the app's machines collection: creates and looks."""
    return [(r.method, r.status) for r in emu.requests if r.path == f"/v1/apps/{app}/machines"]


def test_machine_create_posts_without_a_look_first(machines, emu, app, volume):
    id_, _ = up(machines, machine_inputs(app, volume))
    assert creates(emu, app) == [("POST", 200)] and [m.id for m in live(emu, app)] == [id_]


@pytest.mark.parametrize("status", [None, *HELD], ids=["name-in-use", *map(str, HELD)])
def test_machine_create_refused_while_an_earlier_runs_machine_holds_the_name_adopts_it(
    machines, emu, app, volume, status
):
    id_, _ = up(machines, machine_inputs(app, volume))
    emu.reset_log()
    if status is not None:  # else the emulator's own refusal: the name is in use (422)
        emu.inject(Fault(method="POST", path=rf"^/v1/apps/{app}/machines$", status=status, times=1))
    again, _ = up(machines, machine_inputs(app, volume))
    assert again == id_ and [m.id for m in live(emu, app)] == [id_]
    assert creates(emu, app) == [("POST", status or 422), ("GET", 200)]


@pytest.mark.parametrize("status", HELD)
def test_machine_create_refused_with_no_machine_of_ours_raises_the_refusal_after_one_look(
    machines, emu, app, volume, status
):
    emu.inject(Fault(method="POST", path=rf"^/v1/apps/{app}/machines$", status=status, times=1))
    with pytest.raises(ProviderCallError, match=f"HTTP {status}"):
        up(machines, machine_inputs(app, volume))
    assert creates(emu, app) == [("POST", status), ("GET", 200)] and live(emu, app) == []


@pytest.mark.parametrize("status", [401, 403, 404])
def test_machine_create_refusal_that_cannot_mean_it_exists_raises_without_a_look(machines, emu, app, volume, status):
    emu.inject(Fault(method="POST", path=rf"^/v1/apps/{app}/machines$", status=status, times=1))
    with pytest.raises(ProviderCallError, match=f"HTTP {status}"):
        up(machines, machine_inputs(app, volume))
    assert creates(emu, app) == [("POST", status)]


def test_machine_create_persistent_500_is_a_clear_error_without_token(machines, host, emu, app, volume):
    emu.inject(Fault(method="POST", path=rf"^/v1/apps/{app}/machines$", status=500, times=1000))
    with pytest.raises(ProviderCallError) as info:
        up(machines, machine_inputs(app, volume))
    text = info.value.details
    assert "HTTP 500" in text and "fly-request-id: " in text and f"/v1/apps/{app}/machines" in text
    assert FLY_TEST_TOKEN not in text and FLY_TEST_TOKEN not in host.stderr()
    assert live(emu, app) == []


@pytest.mark.parametrize(
    ("change", "prop"),
    [
        ({"run_state": "paused"}, "run_state"),
        ({"region": "amsterdam"}, "region"),
        ({"config": {"env": {}}}, "config.image"),
        ({"config": {**machine_config(), "bogus": 1}}, "config"),
        ({"config": machine_config(services=[{"autostop": "sometimes"}])}, "config.services[0].autostop"),
        ({"min_secrets_version": -1}, "min_secrets_version"),
    ],
)
def test_machine_check_rejects_bad_inputs(machines, change, prop):
    failures = machines.check({}, {**machine_inputs("a-app"), **change}).failures
    assert [p for p, _ in failures] == [prop]


@pytest.mark.parametrize(
    ("value", "shown"),
    # Numbers cross the engine's wire as floats.
    [("yes", "'yes'"), ("true", "'true'"), (1, "1.0"), (0, "0.0"), ([True], "[True]")],
)
def test_machine_check_refuses_await_checks_that_is_not_a_bool(machines, value, shown):
    failures = machines.check({}, {**machine_inputs("a-app"), "await_checks": value}).failures
    assert [(p, m) for p, m in failures] == [("await_checks", f"await_checks must be true or false, got {shown}")]


@pytest.mark.parametrize("value", [True, False])
def test_machine_check_keeps_a_bool_await_checks(machines, value):
    result = machines.check({}, {**machine_inputs("a-app"), "await_checks": value})
    assert result.failures == [] and result.inputs["await_checks"] is value


def test_machine_check_await_checks_defaults_to_false(machines):
    inputs = {k: v for k, v in machine_inputs("a-app").items() if k != "await_checks"}
    result = machines.check({}, inputs)
    assert result.failures == [] and result.inputs["await_checks"] is False
