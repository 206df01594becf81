"""Machine config normalisation: server read-back differences are not drift; real changes are."""

from __future__ import annotations

import copy

from providers.fly import normalize as norm

DESIRED = {
    "image": "registry-1.docker.io/acme/alex:1.0",
    "env": {"A": "1"},
    "guest": {"cpu_kind": "shared", "cpus": 1, "memory_mb": 256},
    "mounts": [{"volume": "vol_1", "path": "/app/data"}],
    "services": [
        {
            "protocol": "tcp",
            "internal_port": 3000,
            "autostop": "stop",
            "autostart": True,
            "min_machines_running": 0,
            "ports": [{"port": 443, "handlers": ["tls", "http"]}],
        }
    ],
    "restart": {"policy": "on-failure", "max_retries": 10},
    "metadata": {"tenant": "t1"},
}


def server_read_back(config):
    """What Fly returns: autostop as a boolean, floats from Structs, added defaults and fly_* metadata."""
    out = copy.deepcopy(config)
    out["services"][0]["autostop"] = out["services"][0]["autostop"] == "stop"
    out["services"][0]["concurrency"] = {"type": "connections", "soft_limit": 20}
    out["guest"]["cpus"] = 1.0
    out["mounts"][0].update(name="data", size_gb=1, encrypted=True)
    out["init"] = {}
    out["dns"] = {}
    out["metadata"]["fly_platform_version"] = "v2"
    out["metadata"][norm.CREATE_KEY] = "k"
    return out


def test_view_of_server_read_back_equals_desired():
    assert norm.view(server_read_back(DESIRED), DESIRED, "active") == norm.normalize(DESIRED)


def test_view_reports_a_real_change():
    changed = server_read_back(DESIRED)
    changed["env"]["A"] = "2"
    assert norm.view(changed, DESIRED, "active") != norm.normalize(DESIRED)


def test_normalize_autostop_booleans_become_strings():
    config = {"services": [{"autostop": True}, {"autostop": False}, {"autostop": "suspend"}]}
    assert [s["autostop"] for s in norm.normalize(config)["services"]] == ["stop", "off", "suspend"]


def test_with_run_state_stopped_forces_autostart_off_and_view_ignores_it():
    sent = norm.with_run_state(DESIRED, "stopped")
    assert sent["services"][0]["autostart"] is False
    assert norm.view(server_read_back(sent), DESIRED, "stopped") == norm.normalize(DESIRED)
    assert norm.view(server_read_back(sent), DESIRED, "active") != norm.normalize(DESIRED)


def test_merge_keeps_unmanaged_server_fields_and_fly_metadata():
    fresh = server_read_back(DESIRED)
    fresh["auto_destroy"] = False
    wanted = copy.deepcopy(DESIRED)
    wanted["env"] = {"A": "2"}
    merged = norm.merge(fresh, wanted, "active", "key1")
    assert merged["env"] == {"A": "2"}
    assert merged["auto_destroy"] is False and merged["dns"] == {}
    assert merged["metadata"] == {"fly_platform_version": "v2", "tenant": "t1", norm.CREATE_KEY: "key1"}
    assert "init" not in merged  # managed, and not asked for
