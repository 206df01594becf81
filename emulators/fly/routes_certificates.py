"""ACME certificates (docs/reference/fly-machines-api.md §1.8). Status changes only through
FlyEmulator.set_certificate_status.

Wildcards: `*.example.com` is created like any hostname and addressed as `%2A.example.com` in paths (the path
parameter is URL-decoded). DNS-01 validates the parent name, so its `_acme-challenge` and `_fly-ownership` records
are on `example.com`, and the challenge target is `example.com.<id>.flydns.net`. A hostname is held by one app at a
time (422); `*.example.com` and `a.example.com` are different hostnames and may sit on different apps."""

from __future__ import annotations

import re
from secrets import token_hex
from typing import Any

from emulators.fly.api import ApiError, Request, Response, bad_request, route
from emulators.fly.state import Certificate, iso
from emulators.fly.world import World

_HOST = re.compile(r"(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")  # fullmatch


def certificate_json(world: World, cert: Certificate) -> dict[str, Any]:
    domain = cert.hostname.removeprefix("*.")  # DNS records of a wildcard live on its parent name
    ips = world.state.ips.get(cert.app, [])
    active = cert.status == "active"
    issued = [{"type": kind, "certificate_authority": "lets_encrypt"} for kind in ("ecdsa", "rsa")]
    return {
        "hostname": cert.hostname,
        "status": cert.status,
        "configured": active,
        "acme_requested": True,
        "rate_limited_until": None,
        "created_at": cert.created_at,
        "certificates": (
            [{"source": "fly", "status": "active", "expires_at": None, "issued": issued}] if active else []
        ),
        "validation": {
            "dns_configured": active,
            "alpn_configured": active,
            "http_configured": active,
            "ownership_txt_configured": False,
        },
        "dns_requirements": {
            "a": [ip.ip for ip in ips if ip.type in ("v4", "shared_v4")],
            "aaaa": [ip.ip for ip in ips if ip.type == "v6"],
            "cname": f"{cert.app}.fly.dev",
            "acme_challenge": {"name": f"_acme-challenge.{domain}", "target": cert.acme_target},
            "ownership": {
                "name": f"_fly-ownership.{domain}",
                "app_value": f"app-{cert.app}",
                "org_value": f"org-{world.settings.org}",
            },
        },
        "validation_errors": [],
    }


def create_certificate(world: World, req: Request) -> Response:
    app = world.app(req.params["app"]).name
    hostname = req.json_object().get("hostname")
    if not isinstance(hostname, str) or not _HOST.fullmatch(hostname.lower()):
        raise bad_request(f"hostname: not a valid hostname: {hostname!r}")
    hostname = hostname.lower()
    existing = world.state.certificates[app].get(hostname)
    if existing is not None:
        return Response(200, certificate_json(world, existing))
    if any(hostname in certs for certs in world.state.certificates.values()):
        raise ApiError(422, f"hostname {hostname} is already in use by another app", "already_exists")
    label = hostname.removeprefix("*.")
    cert = Certificate(
        hostname=hostname,
        app=app,
        status="pending_validation",
        created_at=iso(world.clock.time()),
        acme_target=f"{label}.{token_hex(3)}.flydns.net",
    )
    world.state.certificates[app][hostname] = cert
    return Response(201, certificate_json(world, cert))


def list_certificates(world: World, req: Request) -> Response:
    app = world.app(req.params["app"]).name
    certs = [certificate_json(world, c) for c in world.state.certificates[app].values()]
    return Response(200, {"certificates": certs, "total_count": len(certs)})


def get_certificate(world: World, req: Request) -> Response:
    return Response(200, certificate_json(world, _cert(world, req)))


def check_certificate(world: World, req: Request) -> Response:
    out = certificate_json(world, _cert(world, req))
    out["dns_records"] = {"a": [], "aaaa": [], "cname": [], "resolved_addresses": []}
    return Response(200, out)


def delete_certificate(world: World, req: Request) -> Response:
    cert = _cert(world, req)
    del world.state.certificates[cert.app][cert.hostname]
    return Response(204)


def _cert(world: World, req: Request) -> Certificate:
    app = world.app(req.params["app"]).name
    hostname = req.params["hostname"].lower()
    cert = world.state.certificates[app].get(hostname)
    if cert is None:
        raise ApiError(404, f"certificate not found: {hostname} in app {app}", "not_found")
    return cert


_C = "/v1/apps/{app}/certificates"
ROUTES = [
    route("GET", _C, "certificates.list", list_certificates),
    route("POST", _C + "/acme", "certificates.create", create_certificate),
    route("GET", _C + "/{hostname}", "certificates.get", get_certificate),
    route("POST", _C + "/{hostname}/check", "certificates.check", check_certificate),
    route("DELETE", _C + "/{hostname}", "certificates.delete", delete_certificate),
    route("DELETE", _C + "/{hostname}/acme", "certificates.delete_acme", delete_certificate),
]
