"""Volumes: create, get, list, update (retention only), extend (never shrink), delete
(docs/reference/fly-machines-api.md §1.3)."""

from __future__ import annotations

import re
from secrets import token_hex

from emulators.fly.api import ApiError, Request, Response, bad_request, field_of, precondition, route
from emulators.fly.state import Volume, iso, new_volume_id
from emulators.fly.world import DEFAULT_REGION, World

_NAME = re.compile(r"[a-z0-9_]{1,30}")  # fullmatch
MAX_SIZE_GB = 500
_UPDATABLE = ("snapshot_retention", "auto_backup_enabled")


def create_volume(world: World, req: Request) -> Response:
    body = req.json_object()
    app = world.app(req.params["app"])
    name = body.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise bad_request(f"name: volume names use only lowercase letters, digits and underscores, got {name!r}")
    size = field_of(body, "size_gb", int, 3)  # API default 3 GB (docs/reference/fly-machines-api.md §1.3)
    if not 1 <= size <= MAX_SIZE_GB:
        raise bad_request(f"size_gb: must be between 1 and {MAX_SIZE_GB}, got {size}")
    retention = field_of(body, "snapshot_retention", int, 5)
    if not 1 <= retention <= 60:
        raise bad_request(f"snapshot_retention: must be between 1 and 60 days, got {retention}")
    volume = Volume(
        id=new_volume_id(),
        app=app.name,
        name=name,
        region=field_of(body, "region", str, DEFAULT_REGION),
        zone=token_hex(2),
        size_gb=size,
        encrypted=field_of(body, "encrypted", bool, True),
        snapshot_retention=retention,
        auto_backup_enabled=field_of(body, "auto_backup_enabled", bool, True),
        require_unique_zone=field_of(body, "require_unique_zone", bool, True),
        fstype=field_of(body, "fstype", str, "ext4"),
        state="creating",
        created_at=iso(world.clock.time()),
    )
    volume.plan = [(world.clock.monotonic() + world.settings.transition, "created")]
    world.state.volumes[volume.id] = volume
    return Response(200, volume.to_json())


def list_volumes(world: World, req: Request) -> Response:
    app = world.app(req.params["app"]).name
    # pending_destroy volumes are still listed, with that state (docs/reference/fly-machines-api.md §3.8).
    return Response(200, [v.to_json() for v in world.state.volumes_of(app)])


def get_volume(world: World, req: Request) -> Response:
    return Response(200, world.volume(req.params["app"], req.params["volume"]).to_json())


def update_volume(world: World, req: Request) -> Response:
    volume = world.volume(req.params["app"], req.params["volume"])
    body = req.json_object()
    for key in body:
        if key not in _UPDATABLE:
            raise bad_request(f"{key}: cannot be changed on volume {volume.id}; only {', '.join(_UPDATABLE)} can")
    retention = field_of(body, "snapshot_retention", int, volume.snapshot_retention)
    if not 1 <= retention <= 60:
        raise bad_request(f"snapshot_retention: must be between 1 and 60 days, got {retention}")
    volume.snapshot_retention = retention
    volume.auto_backup_enabled = field_of(body, "auto_backup_enabled", bool, volume.auto_backup_enabled)
    return Response(200, volume.to_json())


def extend_volume(world: World, req: Request) -> Response:
    volume = world.volume(req.params["app"], req.params["volume"])
    size = field_of(req.json_object(), "size_gb", int)
    if size is None:
        raise bad_request("size_gb is required")
    if volume.state == "pending_destroy":
        raise precondition(f"volume {volume.id} is pending destroy")
    if size <= volume.size_gb:
        raise bad_request(
            f"size_gb: volume {volume.id} is {volume.size_gb} GB; the new size must be larger "
            f"(volumes cannot be shrunk), got {size}"
        )
    if size > MAX_SIZE_GB:
        raise bad_request(f"size_gb: must be at most {MAX_SIZE_GB}, got {size}")
    volume.size_gb = size
    volume.state = "extending"
    volume.plan = [(world.clock.monotonic() + world.settings.transition, "created")]
    holder = world.state.machines.get(volume.attached_machine_id or "")
    needs_restart = holder is not None and holder.state == "started"
    return Response(200, {"volume": volume.to_json(), "needs_restart": needs_restart})


def delete_volume(world: World, req: Request) -> Response:
    volume = world.volume(req.params["app"], req.params["volume"])
    if volume.attached_machine_id is not None:
        # Bound while its machine exists, even stopped, and for a while after it is destroyed
        # (docs/reference/fly-machines-api.md §1.3, §5).
        raise precondition(f"volume is currently bound to machine: {volume.attached_machine_id}")
    volume.state = "pending_destroy"
    volume.plan = []
    return Response(200, volume.to_json())


def list_snapshots(world: World, req: Request) -> Response:
    world.volume(req.params["app"], req.params["volume"])
    return Response(200, [])


def _not_implemented(world: World, req: Request) -> Response:
    raise ApiError(501, "snapshots are not emulated")


_V = "/v1/apps/{app}/volumes"
ROUTES = [
    route("GET", _V, "volumes.list", list_volumes),
    route("POST", _V, "volumes.create", create_volume),
    route("GET", _V + "/{volume}", "volumes.get", get_volume),
    route("PUT", _V + "/{volume}", "volumes.update", update_volume),
    route("DELETE", _V + "/{volume}", "volumes.delete", delete_volume),
    route("PUT", _V + "/{volume}/extend", "volumes.extend", extend_volume),
    route("GET", _V + "/{volume}/snapshots", "volumes.snapshots", list_snapshots),
    route("POST", _V + "/{volume}/snapshots", "volumes.snapshot_create", _not_implemented),
]
