"""Apps and IP assignments (docs/reference/fly-machines-api.md §1.2, §1.8)."""

from __future__ import annotations

import re
from secrets import token_hex

from emulators.fly.api import ApiError, Request, Response, bad_request, field_of, route
from emulators.fly.state import App, IpAssignment, iso
from emulators.fly.world import World

_APP_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,61}[a-z0-9]|[a-z0-9]")  # fullmatch, as Fly checks whole names
_IP_TYPES = ("v6", "shared_v4", "v4", "private_v6")
SHARED_V4 = "66.241.124.17"  # one address shared by every app (routing by SNI/Host)


def create_app(world: World, req: Request) -> Response:
    body = req.json_object()
    # fly-go sends `name`; the docs page still shows `app_name` (docs/reference/fly-machines-api.md §1.2): accept both.
    name = body.get("name") or body.get("app_name")
    if not isinstance(name, str) or not name:
        raise bad_request("name is required")
    if not _APP_NAME.fullmatch(name):
        raise bad_request(f"name: {name!r} must be lowercase letters, digits and dashes (at most 63)")
    org = field_of(body, "org_slug", str)
    if org is None:
        raise bad_request("org_slug is required")
    if org != world.settings.org:
        raise ApiError(404, f"organization not found: {org}", "not_found")
    if name in world.settings.foreign_apps or name in world.state.apps:
        # App names are global across Fly (docs/reference/fly-machines-api.md §1.1).
        raise ApiError(422, "Name has already been taken", "name_taken")
    app = App(
        id=token_hex(8),
        name=name,
        org=org,
        network=field_of(body, "network", str, "default"),
        created_at_ms=int(world.clock.time() * 1000),
        visible_at=world.clock.monotonic() + world.settings.app_visible_after,
    )
    world.state.apps[name] = app
    world.state.ips[name] = []
    world.state.secrets[name] = {}
    world.state.certificates[name] = {}
    if req.flag("wait"):
        # fly-go creates with ?wait=true: Fly answers once the app has propagated (flyctl PR #3105,
        # docs/reference/fly-machines-api.md §1.2), so a GET right after sees it.
        while (left := app.visible_at - world.clock.monotonic()) > 0:
            world.clock.wait(world.cond, left)
    return Response(201, {"id": app.id, "created_at": app.created_at_ms})


def get_app(world: World, req: Request) -> Response:
    # Eventual consistency (docs/reference/fly-machines-api.md §1.2, §3.1): 404 until app_visible_after has passed.
    app = world.app(req.params["app"], visible_only=True)
    machines = world.state.machines_of(app.name)
    return Response(
        200,
        {
            "id": app.id,
            "name": app.name,
            "status": "deployed" if machines else "pending",
            "organization": {"name": app.org, "slug": app.org},
            "network": app.network,
            "machine_count": len(machines),
            "volume_count": len(world.state.volumes_of(app.name)),
        },
    )


def list_apps(world: World, req: Request) -> Response:
    org = req.query.get("org_slug", world.settings.org)
    if org != world.settings.org:
        raise ApiError(404, f"organization not found: {org}", "not_found")
    now = world.clock.monotonic()
    apps = [
        {
            "id": a.id,
            "name": a.name,
            "machine_count": len(world.state.machines_of(a.name)),
            "volume_count": len(world.state.volumes_of(a.name)),
            "network": a.network,
        }
        for a in world.state.apps.values()
        if now >= a.visible_at
    ]
    return Response(200, {"total_apps": len(apps), "apps": apps})


def delete_app(world: World, req: Request) -> Response:
    app = world.app(req.params["app"])
    world.state.drop_app(app.name)  # cascades (docs/reference/fly-machines-api.md §1.2)
    return Response(202)


def list_ips(world: World, req: Request) -> Response:
    app = world.app(req.params["app"]).name
    return Response(200, {"ips": [ip.to_json() for ip in world.state.ips[app]]})


def assign_ip(world: World, req: Request) -> Response:
    app = world.app(req.params["app"]).name
    body = req.json_object()
    kind = body.get("type")
    if kind not in _IP_TYPES:
        raise bad_request(f"type: must be one of {', '.join(_IP_TYPES)}, got {kind!r}")
    ips = world.state.ips[app]
    if kind == "shared_v4":
        existing = next((ip for ip in ips if ip.type == "shared_v4"), None)
        if existing is not None:
            return Response(200, existing.to_json())
        address = SHARED_V4
    elif kind == "v4":
        address = f"137.66.{int(token_hex(1), 16)}.{int(token_hex(1), 16)}"
    else:
        prefix = "2a09:8280:1" if kind == "v6" else "fdaa:0:0"
        address = f"{prefix}::{token_hex(2)}:{token_hex(2)}"
    assignment = IpAssignment(
        ip=address,
        type=str(kind),
        region=field_of(body, "region", str, "global"),
        service_name=field_of(body, "service_name", str, ""),
        shared=kind == "shared_v4",
        created_at=iso(world.clock.time()),
    )
    ips.append(assignment)
    return Response(200, assignment.to_json())


def release_ip(world: World, req: Request) -> Response:
    app = world.app(req.params["app"]).name
    ips = world.state.ips[app]
    match = next((ip for ip in ips if ip.ip == req.params["ip"]), None)
    if match is None:
        raise ApiError(404, f"ip assignment not found: {req.params['ip']} in app {app}", "not_found")
    ips.remove(match)
    return Response(204)


ROUTES = [
    route("GET", "/v1/apps", "apps.list", list_apps),
    route("POST", "/v1/apps", "apps.create", create_app),
    route("GET", "/v1/apps/{app}", "apps.get", get_app),
    route("DELETE", "/v1/apps/{app}", "apps.delete", delete_app),
    route("GET", "/v1/apps/{app}/ip_assignments", "ips.list", list_ips),
    route("POST", "/v1/apps/{app}/ip_assignments", "ips.create", assign_ip),
    route("DELETE", "/v1/apps/{app}/ip_assignments/{ip}", "ips.delete", release_ip),
]
