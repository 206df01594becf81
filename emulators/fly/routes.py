"""The route table: every surface's routes, matched in order."""

from __future__ import annotations

from emulators.fly import (
    routes_apps,
    routes_certificates,
    routes_machine_ops,
    routes_machines,
    routes_secrets,
    routes_volumes,
)
from emulators.fly.api import Route

ROUTES: list[Route] = [
    *routes_apps.ROUTES,
    *routes_secrets.ROUTES,
    *routes_certificates.ROUTES,
    *routes_volumes.ROUTES,
    *routes_machines.ROUTES,
    *routes_machine_ops.ROUTES,
]
