"""Shared helpers for the Fly emulator tests (no tests here): start an emulator, talk to it over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from emulators.fly import FlyEmulator
from emulators.fly.speeds import INSTANT
from tests.conftest import FLY_TEST_TOKEN

TOKEN = FLY_TEST_TOKEN
FAST: dict[str, Any] = INSTANT.kwargs(rate_limit=False)
IMAGE = "registry-1.docker.io/jamesacklin/alex:1.4.0"


@contextmanager
def running(**overrides: Any) -> Iterator[tuple[FlyEmulator, httpx.Client]]:
    """An emulator with short delays (override any setting, `clock=FakeClock()` to move time by hand)
    and a client authorised for it."""
    with FlyEmulator(**{**FAST, **overrides}) as emu, client_for(emu) as client:
        yield emu, client


def client_for(emu: FlyEmulator, auth: str = f"Bearer {TOKEN}") -> httpx.Client:
    return httpx.Client(base_url=emu.url, headers={"Authorization": auth}, timeout=10)


def create_app(client: httpx.Client, name: str = "alex-t1") -> str:
    response = client.post("/v1/apps", json={"name": name, "org_slug": "personal"})
    assert response.status_code == 201, response.text
    return name


def create_volume(client: httpx.Client, app: str, **fields: Any) -> dict[str, Any]:
    body = {"name": "data", "region": "ams", "size_gb": 1, **fields}
    response = client.post(f"/v1/apps/{app}/volumes", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def machine_config(**fields: Any) -> dict[str, Any]:
    return {
        "image": IMAGE,
        "services": [
            {
                "protocol": "tcp",
                "internal_port": 3000,
                "autostop": "stop",
                "autostart": True,
                "ports": [{"port": 443, "handlers": ["tls", "http"]}],
            }
        ],
        **fields,
    }


def create_machine(client: httpx.Client, app: str, **body: Any) -> dict[str, Any]:
    payload = {"region": "ams", "config": machine_config(), **body}
    response = client.post(f"/v1/apps/{app}/machines", json=payload)
    assert response.status_code == 200, response.text
    return dict(response.json())


def wait_state(client: httpx.Client, app: str, machine: dict[str, Any], state: str) -> None:
    response = client.get(
        f"/v1/apps/{app}/machines/{machine['id']}/wait",
        params={"state": state, "instance_id": machine["instance_id"], "timeout": 5},
    )
    assert response.status_code == 200, response.text
