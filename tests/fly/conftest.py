"""Fixtures for the Fly provider tests: one emulator and one provider process per test module."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest

from providers.fly import settings
from providers.fly.app import AppProvider
from tests.conftest import FLY_TEST_TOKEN
from tests.fly.lifecycle import up
from tests.support.engine import BoundProvider, ProviderHost

# Short deadlines and no client-side pacing: the provider process reads these at call time.
FAST_ENV = {
    "ALEX_FLY_RATE_PER_S": "0",
    "ALEX_FLY_RETRY_BASE_S": "0.01",
    "ALEX_FLY_RETRIES": "4",
    "ALEX_FLY_WAIT_DEADLINE_S": "10",
    "ALEX_FLY_APP_VISIBLE_DEADLINE_S": "5",
    "ALEX_FLY_DELETE_DEADLINE_S": "5",
    "ALEX_FLY_CREATE_DEADLINE_S": "5",
}


@pytest.fixture(autouse=True)
def forget_configure() -> Iterator[None]:
    """What a configure() call in this process stored must not leak into the next test."""
    yield
    settings.forget_config()


@pytest.fixture(scope="module")
def fly_emu():
    from emulators.fly import FlyEmulator
    from emulators.fly.speeds import PROVIDER_TESTS

    with FlyEmulator(
        token=FLY_TEST_TOKEN,
        org="personal",
        foreign_apps=("taken",),
        rate_limit=False,
        **PROVIDER_TESTS.kwargs(),
    ) as emu:
        yield emu


@pytest.fixture
def emu(fly_emu):
    """The module's emulator, with faults cleared and the request log reset around each test."""
    fly_emu.clear_faults()
    fly_emu.reset_log()
    yield fly_emu
    fly_emu.clear_faults()


@pytest.fixture(scope="module")
def host(fly_emu) -> Iterator[ProviderHost]:
    with ProviderHost(env={"FLY_API_URL": fly_emu.url, "FLY_API_TOKEN": FLY_TEST_TOKEN, **FAST_ENV}) as h:
        yield h


@pytest.fixture
def app_name(request) -> str:
    """A Fly app name unique to the test."""
    return "t-" + hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:12]


@pytest.fixture
def app(host: ProviderHost, emu, app_name: str) -> str:
    """A created app (through the App provider), for resources that live in one."""
    up(host.bind(AppProvider()), {"name": app_name, "org": "personal"})
    return app_name


@pytest.fixture
def apps(host: ProviderHost) -> BoundProvider:
    return host.bind(AppProvider())
