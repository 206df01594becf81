"""Machine config normalisation, so diffs compare only what we manage, the way we wrote it.

Fly reads some fields back differently from how they were sent: `autostop` "stop"/"off" come back as
true/false, numbers cross Pulumi's protobuf Structs as floats, and the server adds defaults (mount
`name`/`size_gb`, `init: {}`, `dns: {}`, `fly_*` metadata). `view()` projects a server config onto the
shape of the config we asked for, so only keys we set are ever compared.
"""

from __future__ import annotations

import base64
import binascii
import copy
import gzip
import hashlib
import zlib
from collections.abc import Mapping
from typing import Any

MANAGED_KEYS = (
    "image", "env", "guest", "mounts", "services", "restart", "checks", "metadata", "init", "files", "stop_config",
)  # fmt: skip
CREATE_KEY = "alex_hosted_create_key"  # our deterministic metadata tag for create-then-adopt

_AUTOSTOP = {True: "stop", False: "off"}


def plain(value: Any) -> Any:
    """Deep copy as plain JSON: integral floats become ints, mappings become sorted dicts."""
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, Mapping):
        return {str(k): plain(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def normalize(config: Mapping[str, Any] | None) -> dict[str, Any]:
    """Our managed keys only, plain, with autostop spelled as the string the API accepts."""
    out = {k: plain(v) for k, v in (config or {}).items() if k in MANAGED_KEYS and v is not None}
    for service in out.get("services") or []:
        if isinstance(service, dict) and isinstance(service.get("autostop"), bool):
            service["autostop"] = _AUTOSTOP[service["autostop"]]
    return out


def content(config: Mapping[str, Any] | None) -> dict[str, Any]:
    """`normalize`, with each `files[].raw_value` replaced by the digest of the file it holds.

    For comparing only: two gzip encodings of the same bytes (another zlib, another level) are the same
    file, so a map re-encoded on another operator's machine is not a change (config/edge_map.py).
    """
    out = normalize(config)
    files = out.get("files")
    if isinstance(files, list):
        out["files"] = [_file_content(entry) for entry in files]
    return out


def _file_content(entry: Any) -> Any:
    if not isinstance(entry, dict) or not isinstance(entry.get("raw_value"), str):
        return entry
    try:
        raw = base64.b64decode(entry["raw_value"], validate=True)
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (binascii.Error, ValueError, OSError, EOFError, zlib.error):
        return entry  # not ours to read: compared as written
    return {**entry, "raw_value": f"sha256:{hashlib.sha256(raw).hexdigest()}"}


def _project(actual: Any, like: Any) -> Any:
    """Keep from `actual` only what `like` has: dict keys recursively, lists element by element."""
    if isinstance(like, dict) and isinstance(actual, dict):
        return {k: _project(actual[k], v) for k, v in like.items() if k in actual}
    if isinstance(like, list) and isinstance(actual, list) and len(like) == len(actual):
        return [_project(a, w) for a, w in zip(actual, like, strict=True)]
    return actual


def view(server_config: Mapping[str, Any] | None, desired: Mapping[str, Any], run_state: str) -> dict[str, Any]:
    """The server's config as our desired config would read it.

    When `run_state` is "stopped" we forced every autostart off ourselves, so the desired value is put
    back before comparing: that override is ours, not drift.
    """
    want = normalize(desired)
    seen = normalize(_project(normalize(server_config), want))
    if run_state == "stopped":
        for got, asked in zip(seen.get("services") or [], want.get("services") or [], strict=False):
            if isinstance(got, dict) and isinstance(asked, dict) and "autostart" in asked:
                got["autostart"] = asked["autostart"]
    return seen


def with_run_state(config: Mapping[str, Any], run_state: str) -> dict[str, Any]:
    """The config to send: for "stopped", every service's autostart is off so nothing wakes it."""
    out = normalize(config)
    if run_state == "stopped":
        for service in out.get("services") or []:
            service["autostart"] = False
    return out


def merge(fresh: Mapping[str, Any], desired: Mapping[str, Any], run_state: str, create_key: str) -> dict[str, Any]:
    """A full config for update: the fresh server config with our managed fields replaced.

    Unmanaged fields the server holds stay as they are (an update is a full replace on Fly). Metadata
    keeps Fly's own `fly_*` keys and our create key.
    """
    out = copy.deepcopy(dict(fresh))
    ours = with_run_state(desired, run_state)
    for key in MANAGED_KEYS:
        if key in ours:
            out[key] = ours[key]
        elif key not in ("metadata",):
            out.pop(key, None)
    kept = {k: v for k, v in dict(fresh.get("metadata") or {}).items() if k.startswith("fly_")}
    out["metadata"] = {**kept, **dict(ours.get("metadata") or {}), CREATE_KEY: create_key}
    return out
