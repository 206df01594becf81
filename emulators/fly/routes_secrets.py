"""App secrets: list, bulk set/unset with a version, set one, delete one (docs/reference/fly-machines-api.md §1.7).

Values never appear in answers unless `?show_secrets=true` is asked for, nor in error text.
"""

from __future__ import annotations

import re
from typing import Any

from emulators.fly.api import ApiError, Request, Response, bad_request, route
from emulators.fly.state import App, Secret, digest, iso
from emulators.fly.world import World

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # fullmatch


def list_secrets(world: World, req: Request) -> Response:
    app = world.app(req.params["app"])
    return Response(200, {"secrets": _listing(world, app, req.flag("show_secrets")), "version": app.secrets_version})


def set_secrets(world: World, req: Request) -> Response:
    app = world.app(req.params["app"])
    values = req.json_object().get("values")
    if not isinstance(values, dict):
        raise bad_request("values is required: an object of NAME -> string (or null to unset)")
    for name, value in values.items():
        _check_name(name)
        if value is not None and not isinstance(value, str):
            raise bad_request(f"values.{name}: must be a string or null")
    for name, value in values.items():
        _write(world, app, name, value)
    app.secrets_version += 1
    return Response(200, {"secrets": _listing(world, app, False), "version": app.secrets_version})


def set_secret(world: World, req: Request) -> Response:
    app = world.app(req.params["app"])
    name = req.params["name"]
    _check_name(name)
    value = req.json_object().get("value")
    if not isinstance(value, str):
        raise bad_request(f"value: secret {name} needs a string value")
    _write(world, app, name, value)
    app.secrets_version += 1
    out = world.state.secrets[app.name][name].to_json()
    return Response(200, {**out, "version": app.secrets_version})


def delete_secret(world: World, req: Request) -> Response:
    app = world.app(req.params["app"])
    name = req.params["name"]
    if name not in world.state.secrets[app.name]:
        raise ApiError(404, f"secret not found: {name} in app {app.name}", "not_found")
    _write(world, app, name, None)
    app.secrets_version += 1
    return Response(200, {"version": app.secrets_version})


def _check_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise bad_request(f"secret name {name!r} must be letters, digits and underscores")


def _write(world: World, app: App, name: str, value: str | None) -> None:
    secrets = world.state.secrets[app.name]
    if value is None:
        secrets.pop(name, None)
        return
    now = iso(world.clock.time())
    old = secrets.get(name)
    secrets[name] = Secret(name, value, digest(value), old.created_at if old else now, now)


def _listing(world: World, app: App, show: bool) -> list[dict[str, Any]]:
    secrets = world.state.secrets[app.name]
    return [secrets[n].to_json(show) for n in sorted(secrets)]


ROUTES = [
    route("GET", "/v1/apps/{app}/secrets", "secrets.list", list_secrets),
    route("POST", "/v1/apps/{app}/secrets", "secrets.update", set_secrets),
    route("POST", "/v1/apps/{app}/secrets/{name}", "secrets.set", set_secret),
    route("DELETE", "/v1/apps/{app}/secrets/{name}", "secrets.delete", delete_secret),
]
