"""The Fly Machines API endpoints this project calls: one typed function each, over a FlyClient.

Every path is built here, from escaped segments: an app name, id, address or hostname that holds a
"/" is sent percent-encoded and one that is empty, "." or ".." is refused, so no value can reach
another endpoint. Each function keeps its call's request semantics: method, body, query, headers
(the lease nonce), the rate-limit key, the retry flag and the values marked secret for the scrubber.

The rate-limit key is (action, app): one action per endpoint, as Fly counts them, and the app in the path
(the new app's name for an app create, which has none). The retry flag covers 408/5xx/dropped answers
only: the client retries a 429 on every call, creates included, since Fly did nothing with it.

Reads that a caller treats as "absent" return None on 404 (`get_*`); a list or object answer of the
wrong shape (an echo, a proxy's page) is a FlyResponseError that never quotes the body.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from providers.fly.client import TRANSIENT_STATUSES, FlyClient
from providers.fly.errors import FlyResourceError, FlyResponseError

_NOT_FOUND = frozenset({404})


def segment(value: str, what: str = "path segment") -> str:
    """`value` as one URL path segment; an empty, "." or ".." value is refused (it would climb the path)."""
    if value in ("", ".", ".."):
        raise FlyResourceError(f"refusing {what} {value!r}: it cannot name a Fly API resource")
    return quote(value, safe=":")  # ":" stays literal: IPv6 addresses are sent as Fly shows them


def _app(app: str, *tail: str) -> str:
    return "/".join(("/v1/apps", segment(app, "app name"), *tail))


def _machine(app: str, machine_id: str, *tail: str) -> str:
    return _app(app, "machines", segment(machine_id, "machine id"), *tail)


def _volume(app: str, volume_id: str, *tail: str) -> str:
    return _app(app, "volumes", segment(volume_id, "volume id"), *tail)


def _object(fly: FlyClient, response: httpx.Response) -> dict[str, Any]:
    """A JSON object body ({} when empty)."""
    body = fly.decode(response)
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise _shape(fly, response, "a body that is not an object")
    return body


def _objects(fly: FlyClient, response: httpx.Response) -> list[dict[str, Any]]:
    """A JSON list of objects ([] when empty)."""
    body = fly.decode(response)
    if body is None:
        return []
    if not isinstance(body, list) or not all(isinstance(item, dict) for item in body):
        raise _shape(fly, response, "a body that is not a list")
    return body


def _shape(fly: FlyClient, response: httpx.Response, what: str) -> FlyResponseError:
    request = response.request
    path = fly.scrub(request.url.path)
    return FlyResponseError(request.method, path, response.status_code, len(response.content), what)


def _maybe(fly: FlyClient, response: httpx.Response) -> dict[str, Any] | None:
    return None if response.status_code == 404 else _object(fly, response)


# apps
def get_app(fly: FlyClient, name: str) -> dict[str, Any] | None:
    """The app, None when no app has the name; a name held by another org is a FlyStatusError 403."""
    return _maybe(fly, fly.request("GET", _app(name), action="get_app", app=name, expect=_NOT_FOUND))


def create_app(fly: FlyClient, name: str, org: str, network: str) -> None:
    """Names are unique across Fly, so a repeated POST cannot make a second app: retried by the client.

    `?wait=true`, as fly-go sends it: Fly answers once the app has propagated to the Machines API.
    Keyed on the new app's name: app creates are never paced against each other on our side.
    """
    body = {"name": name, "org_slug": org, "network": network}
    fly.request("POST", "/v1/apps", action="create_app", app=name, json=body, params={"wait": True}, retry=True)


def delete_app(fly: FlyClient, name: str) -> None:
    fly.request("DELETE", _app(name), action="delete_app", app=name, params={"force": True})


# public IPs
def list_ips(fly: FlyClient, app: str) -> list[dict[str, Any]]:
    body = _object(fly, fly.request("GET", _app(app, "ip_assignments"), action="list_ips", app=app))
    ips = body.get("ips") or []
    return [entry for entry in ips if isinstance(entry, dict)] if isinstance(ips, list) else []


def allocate_ip(fly: FlyClient, app: str, kind: str) -> dict[str, Any]:
    """Not repeatable (a second POST is a second address): only a 429 is retried here."""
    path = _app(app, "ip_assignments")
    return _object(fly, fly.request("POST", path, action="allocate_ip", app=app, json={"type": kind}, retry=False))


def release_ip(fly: FlyClient, app: str, ip: str) -> None:
    fly.request("DELETE", _app(app, "ip_assignments", segment(ip, "IP address")), action="release_ip", app=app)


# secrets
def list_secrets(fly: FlyClient, app: str) -> list[dict[str, Any]]:
    """Names and digests only: values are never read back."""
    body = _object(fly, fly.request("GET", _app(app, "secrets"), action="list_secrets", app=app))
    secrets = body.get("secrets") or []
    return [entry for entry in secrets if isinstance(entry, dict)] if isinstance(secrets, list) else []


def set_secrets(fly: FlyClient, app: str, values: Mapping[str, str | None]) -> dict[str, Any]:
    """One write setting (str) and unsetting (None) names; the same write twice is harmless, so retried.

    The values are marked secret: an echoing endpoint must not put them in error text.
    """
    response = fly.request(
        "POST",
        _app(app, "secrets"),
        action="set_secrets",
        app=app,
        json={"values": dict(values)},
        retry=True,
        secrets=[v for v in values.values() if v],
    )
    return _object(fly, response)


# volumes
def list_volumes(fly: FlyClient, app: str) -> list[dict[str, Any]]:
    return _objects(fly, fly.request("GET", _app(app, "volumes"), action="list_volumes", app=app))


def get_volume(fly: FlyClient, app: str, volume_id: str) -> dict[str, Any] | None:
    response = fly.request("GET", _volume(app, volume_id), action="get_volume", app=app, expect=_NOT_FOUND)
    return _maybe(fly, response)


def create_volume(fly: FlyClient, app: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """Not repeatable (a second POST is a second volume): only a 429 is retried here; see create_or_adopt."""
    return _create_once(fly, app, "volumes", "create_volume", body)


def extend_volume(fly: FlyClient, app: str, volume_id: str, size_gb: int) -> dict[str, Any]:
    """PUT: repeatable. Fly answers {"volume": ..., "needs_restart": ...} (older API: the volume itself)."""
    path = _volume(app, volume_id, "extend")
    return _object(fly, fly.request("PUT", path, action="extend_volume", app=app, json={"size_gb": size_gb}))


def delete_volume(fly: FlyClient, app: str, volume_id: str) -> None:
    fly.request("DELETE", _volume(app, volume_id), action="delete_volume", app=app)


# machines
def list_machines(fly: FlyClient, app: str, metadata: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """All machines of the app; `metadata` filters on config.metadata (a convenience, not a guarantee)."""
    params = {f"metadata.{k}": v for k, v in (metadata or {}).items()}
    response = fly.request("GET", _app(app, "machines"), action="list_machines", app=app, params=params or None)
    return _objects(fly, response)


def get_machine(fly: FlyClient, app: str, machine_id: str) -> dict[str, Any] | None:
    response = fly.request("GET", _machine(app, machine_id), action="get_machine", app=app, expect=_NOT_FOUND)
    return _maybe(fly, response)


def create_machine(fly: FlyClient, app: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """Not repeatable (a second POST is a second machine): only a 429 is retried here; see create_or_adopt."""
    return _create_once(fly, app, "machines", "create_machine", body)


def _create_once(fly: FlyClient, app: str, collection: str, action: str, body: Mapping[str, Any]) -> dict[str, Any]:
    path = _app(app, collection)
    return _object(fly, fly.request("POST", path, action=action, app=app, json=dict(body), retry=False))


def update_machine(fly: FlyClient, app: str, machine_id: str, body: Mapping[str, Any], nonce: str) -> dict[str, Any]:
    """Under the lease: the same config twice is the same machine, so retried."""
    response = fly.request(
        "POST",
        _machine(app, machine_id),
        action="update_machine",
        app=app,
        json=dict(body),
        headers=_lease(nonce),
        retry=True,
    )
    return _object(fly, response)


def stop_machine(fly: FlyClient, app: str, machine_id: str, nonce: str) -> None:
    path = _machine(app, machine_id, "stop")
    fly.request("POST", path, action="stop", app=app, headers=_lease(nonce), retry=True)


def restart_machine(fly: FlyClient, app: str, machine_id: str) -> None:
    fly.request("POST", _machine(app, machine_id, "restart"), action="restart", app=app, retry=True)


def wait_machine(
    fly: FlyClient, app: str, machine_id: str, state: str, timeout_s: int, instance_id: str | None = None
) -> httpx.Response:
    """One /wait call (Fly caps `timeout` at 60 s); 408 ("not yet"), 404 and 5xx are returned for the caller."""
    params: dict[str, str | int | bool] = {"state": state, "timeout": timeout_s}
    if instance_id:
        params["instance_id"] = instance_id
    return fly.request(
        "GET",
        _machine(app, machine_id, "wait"),
        action="wait",
        app=app,
        params=params,
        retry=False,
        timeout=timeout_s + 15.0,
        expect=TRANSIENT_STATUSES | _NOT_FOUND,
    )


def delete_machine(fly: FlyClient, app: str, machine_id: str) -> None:
    fly.request("DELETE", _machine(app, machine_id), action="delete_machine", app=app, params={"force": True})


def acquire_lease(fly: FlyClient, app: str, machine_id: str, ttl_s: int) -> dict[str, Any] | None:
    """The lease body, None while someone else holds it (409). Repeatable: a lease we hold is ours again."""
    response = fly.request(
        "POST",
        _machine(app, machine_id, "lease"),
        action="acquire_lease",
        app=app,
        json={"ttl": ttl_s},
        params={"ttl": ttl_s},
        retry=True,
        expect=frozenset({409}),
    )
    return None if response.status_code == 409 else _object(fly, response)


def release_lease(fly: FlyClient, app: str, machine_id: str, nonce: str) -> None:
    path = _machine(app, machine_id, "lease")
    fly.request("DELETE", path, action="release_lease", app=app, headers=_lease(nonce))


def _lease(nonce: str) -> dict[str, str]:
    return {"fly-machine-lease-nonce": nonce}


# certificates
def get_certificate(fly: FlyClient, app: str, hostname: str) -> dict[str, Any] | None:
    path = _app(app, "certificates", segment(hostname, "hostname"))
    return _maybe(fly, fly.request("GET", path, action="get_certificate", app=app, expect=_NOT_FOUND))


def request_acme_certificate(fly: FlyClient, app: str, hostname: str) -> dict[str, Any]:
    """Only a 429 is retried here: a repeat answers 409/422 for the certificate the first one made; see the provider."""
    path = _app(app, "certificates", "acme")
    response = fly.request("POST", path, action="create_certificate", app=app, json={"hostname": hostname}, retry=False)
    return _object(fly, response)


def delete_certificate(fly: FlyClient, app: str, hostname: str) -> None:
    path = _app(app, "certificates", segment(hostname, "hostname"))
    fly.request("DELETE", path, action="delete_certificate", app=app)
