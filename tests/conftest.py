"""Fixtures shared by every test package. Keep this small; package-specific fixtures live beside their tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from emulators.fly import FlyEmulator

FLY_TEST_TOKEN = "test-fly-token"
_SCRUBBED = ("FLY_API_TOKEN", "FLY_API_URL", "CLOUDFLARE_API_TOKEN", "STRIPE_API_KEY")
_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees a real credential or proxy from the developer's shell."""
    for name in _SCRUBBED:
        monkeypatch.delenv(name, raising=False)
    for name in list(os.environ):
        if name.upper() in _PROXY_VARS:
            monkeypatch.delenv(name, raising=False)


@pytest.fixture
def emulator() -> Iterator[FlyEmulator]:
    """A fresh Fly Machines API emulator on 127.0.0.1 with short delays (token `FLY_TEST_TOKEN`)."""
    from emulators.fly import FlyEmulator

    with FlyEmulator(
        token=FLY_TEST_TOKEN,
        org="personal",
        foreign_apps=("taken",),
        app_visible_after=0.2,
        volume_unbind_after=0.5,
        wait_cap=2.0,
        transition=0.05,
        rate_limit=False,
    ) as emu:
        yield emu
