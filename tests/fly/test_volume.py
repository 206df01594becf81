"""Volume provider: extend-only, shrink kept with a warning, replace on region/name, bound-delete retry."""

from __future__ import annotations

import pytest

from emulators.faults import Fault
from providers.fly.machine import MachineProvider
from providers.fly.volume import VolumeProvider
from tests.fly.lifecycle import preview, refresh, up
from tests.fly.machines import machine_inputs


@pytest.fixture
def volumes(host):
    return host.bind(VolumeProvider())


def vol_inputs(app, size=1, **extra):
    return {"app": app, "name": "data", "region": "ams", "size_gb": size, "encrypted": True, **extra}


def live_volumes(emu, app):
    return [v for v in emu.state.volumes.values() if v.app == app and v.state not in ("pending_destroy", "destroyed")]


def test_volume_lifecycle_create_nodiff_refresh_delete(volumes, emu, app):
    id_, outs = up(volumes, vol_inputs(app))
    assert id_.startswith("vol_") and outs["volume_id"] == id_
    assert (outs["size_gb"], outs["requested_size_gb"], outs["kept_larger"]) == (1, 1, False)
    assert preview(volumes, id_, outs, vol_inputs(app)).changes is False
    rid, routs, rinputs = refresh(volumes, id_, outs)
    assert rid == id_ and preview(volumes, rid, routs, rinputs).changes is False
    volumes.delete(id_, outs)
    assert live_volumes(emu, app) == []
    assert refresh(volumes, id_, outs)[0] == ""
    volumes.delete(id_, outs)  # 404 is success


@pytest.mark.parametrize(("change", "prop"), [({"region": "fra"}, "region"), ({"name": "other"}, "name")])
def test_volume_region_or_name_change_is_reported_as_replace(volumes, app, change, prop):
    id_, outs = up(volumes, vol_inputs(app))
    outcome = preview(volumes, id_, outs, vol_inputs(app, **change))
    assert outcome.changes and outcome.replaces == [prop]


def test_volume_shrink_is_kept_without_error_or_replace_and_warns(volumes, host, emu, app):
    id_, outs = up(volumes, vol_inputs(app, size=3))
    outcome = preview(volumes, id_, outs, vol_inputs(app, size=1))
    assert outcome.changes and outcome.replaces == []
    emu.reset_log()
    _, kept = up(volumes, vol_inputs(app, size=1), id_=id_, outs=outs)
    assert (kept["size_gb"], kept["requested_size_gb"], kept["kept_larger"]) == (3, 1, True)
    assert emu.writes() == 0 and emu.state.volumes[id_].size_gb == 3
    assert "volume data of app" in host.stderr() and "kept at 3 GB" in host.stderr()
    assert preview(volumes, id_, kept, vol_inputs(app, size=1)).changes is False
    rid, routs, rinputs = refresh(volumes, id_, kept)
    assert routs["kept_larger"] and preview(volumes, rid, routs, rinputs).changes is False


def test_volume_grow_extends_in_place_and_restarts_only_a_running_machine(host, volumes, emu, app):
    id_, outs = up(volumes, vol_inputs(app))
    machines = host.bind(MachineProvider())
    mid, _ = up(machines, machine_inputs(app, id_))
    emu.reset_log()
    _, grown = up(volumes, vol_inputs(app, size=2), id_=id_, outs=outs)
    assert grown["size_gb"] == 2 and emu.state.volumes[id_].size_gb == 2
    restarts = [r for r in emu.requests if r.path.endswith(f"{mid}/restart")]
    assert len(restarts) == 1  # the emulator answered needs_restart for the started machine

    emu.autostop(app, mid)
    emu.reset_log()
    _, bigger = up(volumes, vol_inputs(app, size=4), id_=id_, outs=grown)
    assert bigger["size_gb"] == 4
    assert not [r for r in emu.requests if r.path.endswith("/restart")]  # stopped: no needs_restart


def test_volume_delete_retries_while_still_bound_after_machine_destroyed(host, volumes, emu, app):
    id_, outs = up(volumes, vol_inputs(app))
    machines = host.bind(MachineProvider())
    mid, mouts = up(machines, machine_inputs(app, id_))
    machines.delete(mid, mouts)  # machine before volume
    volumes.delete(id_, outs)  # the emulator keeps it bound for a moment (volume_unbind_after)
    assert live_volumes(emu, app) == []
    bound_answers = [r for r in emu.requests if r.method == "DELETE" and r.path.endswith(id_) and r.status == 412]
    assert bound_answers, "the test must exercise the bound-volume retry"


@pytest.mark.parametrize("answer", [{"status": 500}, {"drop": True}], ids=["after", "drop_after"])
def test_volume_create_ambiguous_failure_leaves_exactly_one_volume(volumes, emu, app, answer):
    emu.inject(Fault(method="POST", path=rf"^/v1/apps/{app}/volumes$", when="after_work", times=1, **answer))
    id_, _ = up(volumes, vol_inputs(app))
    assert [v.id for v in live_volumes(emu, app)] == [id_]


@pytest.mark.parametrize(
    ("change", "prop"),
    [
        ({"size_gb": 0}, "size_gb"),
        ({"size_gb": 501}, "size_gb"),
        ({"name": "Data-1"}, "name"),
        ({"region": "x"}, "region"),
    ],
)
def test_volume_check_rejects_bad_inputs(volumes, change, prop):
    assert [p for p, _ in volumes.check({}, vol_inputs("a-app", **change)).failures] == [prop]
