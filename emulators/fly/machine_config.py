"""Validation and server-side normalisation of a machine `config` (docs/reference/fly-machines-api.md §1.4, §1.9).

What a client reads back differs from what it sent, as on the real API, so that a naive diff drifts:
services[].autostop "off" -> false, "stop" -> true ("suspend" stays); `init`, `dns` default to {};
`restart` defaults to {"policy": "always"}; metadata gains `fly_platform_version`; `guest` is
filled in (cpu_kind "shared", cpus 1, memory_mb 256) and a `size` preset is expanded into `guest`.
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any

from emulators.fly.api import bad_request

_SIZES: dict[str, tuple[str, int, int]] = {
    "shared-cpu-1x": ("shared", 1, 256),
    "shared-cpu-2x": ("shared", 2, 512),
    "shared-cpu-4x": ("shared", 4, 1024),
    "shared-cpu-8x": ("shared", 8, 2048),
    "performance-1x": ("performance", 1, 2048),
    "performance-2x": ("performance", 2, 4096),
}
_AUTOSTOP = {"off": False, "stop": True, "suspend": "suspend"}
_RESTART_POLICIES = ("no", "always", "on-failure")


def normalise_config(raw: Any) -> dict[str, Any]:
    """Validate a config (400 naming the field) and return it as the server stores it."""
    if raw is None:
        raise bad_request("config is required")
    if not isinstance(raw, dict):
        raise bad_request("config must be a JSON object")
    cfg: dict[str, Any] = copy.deepcopy(raw)
    image = cfg.get("image")
    if not isinstance(image, str) or not image:
        raise bad_request("config.image is required")
    _check_str_map(cfg, "env")
    cfg["guest"] = _guest(cfg)
    cfg.pop("size", None)
    cfg["services"] = [_service(i, s) for i, s in enumerate(_list(cfg, "services"))]
    if not cfg["services"]:
        del cfg["services"]
    cfg["mounts"] = [_mount(i, m) for i, m in enumerate(_list(cfg, "mounts"))]
    if len(cfg["mounts"]) > 1:
        raise bad_request("config.mounts: a machine can mount at most one volume")
    if not cfg["mounts"]:
        del cfg["mounts"]
    checks = cfg.get("checks")
    if checks is not None and not isinstance(checks, dict):
        raise bad_request("config.checks must be an object of name -> check")
    restart = cfg.setdefault("restart", {"policy": "always"})
    if not isinstance(restart, dict) or restart.get("policy", "always") not in _RESTART_POLICIES:
        raise bad_request(f"config.restart.policy must be one of {', '.join(_RESTART_POLICIES)}")
    for key in ("init", "dns"):
        if not isinstance(cfg.setdefault(key, {}), dict):
            raise bad_request(f"config.{key} must be an object")
    _check_str_map(cfg, "metadata")
    cfg["metadata"] = {**cfg.get("metadata", {}), "fly_platform_version": "v2"}
    return cfg


def image_ref(image: str) -> dict[str, Any]:
    """Split an image reference the way Fly reports it back in `image_ref`."""
    name, _, pinned = image.partition("@")
    first, slash, rest = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, repo = first, rest
    else:
        registry, repo = "registry-1.docker.io", name if slash else f"library/{name}"
    repo, colon, tag = repo.rpartition(":") if ":" in repo else (repo, "", "")
    return {
        "registry": registry,
        "repository": repo,
        "tag": tag if colon else "latest",
        "digest": pinned or "sha256:" + hashlib.sha256(image.encode()).hexdigest(),
        "labels": {},
    }


def _list(cfg: dict[str, Any], key: str) -> list[Any]:
    value = cfg.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise bad_request(f"config.{key} must be a list")
    return value


def _check_str_map(cfg: dict[str, Any], key: str) -> None:
    value = cfg.get(key)
    if value is None:
        return
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise bad_request(f"config.{key} must be an object of string values")


def _guest(cfg: dict[str, Any]) -> dict[str, Any]:
    guest, size = cfg.get("guest"), cfg.get("size")
    if guest is not None and size is not None:
        raise bad_request("config.guest and config.size are mutually exclusive")
    if size is not None:
        if size not in _SIZES:
            raise bad_request(f"config.size: unknown preset {size!r}")
        kind, cpus, memory = _SIZES[size]
        return {"cpu_kind": kind, "cpus": cpus, "memory_mb": memory}
    if guest is None:
        guest = {}
    if not isinstance(guest, dict):
        raise bad_request("config.guest must be an object")
    out = {"cpu_kind": "shared", "cpus": 1, "memory_mb": 256, **guest}
    if out["cpu_kind"] not in ("shared", "performance"):
        raise bad_request(f"config.guest.cpu_kind must be shared or performance, got {out['cpu_kind']!r}")
    memory = out["memory_mb"]
    if not isinstance(memory, int) or isinstance(memory, bool) or memory <= 0 or memory % 256:
        raise bad_request(f"config.guest.memory_mb must be a positive multiple of 256, got {memory!r}")
    if not isinstance(out["cpus"], int) or isinstance(out["cpus"], bool) or out["cpus"] < 1:
        raise bad_request(f"config.guest.cpus must be a positive integer, got {out['cpus']!r}")
    return out


def _service(index: int, service: Any) -> dict[str, Any]:
    where = f"config.services[{index}]"
    if not isinstance(service, dict):
        raise bad_request(f"{where} must be an object")
    out = dict(service)
    if "autostop" in out:
        # docs/reference/fly-machines-api.md §1.9 / §0: stored and read back as booleans, "suspend" kept as a string.
        value = out["autostop"]
        if isinstance(value, bool):
            pass
        elif isinstance(value, str) and value in _AUTOSTOP:
            out["autostop"] = _AUTOSTOP[value]
        else:
            raise bad_request(f"{where}.autostop must be off, stop or suspend, got {value!r}")
    if "autostart" in out and not isinstance(out["autostart"], bool):
        raise bad_request(f"{where}.autostart must be a boolean, got {out['autostart']!r}")
    port = out.get("internal_port")
    if port is not None and (not isinstance(port, int) or isinstance(port, bool)):
        raise bad_request(f"{where}.internal_port must be an integer")
    return out


def _mount(index: int, mount: Any) -> dict[str, Any]:
    where = f"config.mounts[{index}]"
    if not isinstance(mount, dict):
        raise bad_request(f"{where} must be an object")
    if not isinstance(mount.get("volume"), str) or not mount["volume"]:
        raise bad_request(f"{where}.volume is required")
    if not isinstance(mount.get("path"), str) or not mount["path"].startswith("/"):
        raise bad_request(f"{where}.path must be an absolute path")
    return dict(mount)
