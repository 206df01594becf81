"""Fixtures for the emulator tests: a fresh emulator per test and an authorised client.

`still` is an emulator on a `FakeClock` (the `clock` fixture): nothing time-driven happens until the
test calls `clock.advance()`, so tests about delays never race a real timer.
"""

from __future__ import annotations

import httpx
import pytest

from emulators.clock import FakeClock
from tests.emulators.test_fly_support import create_app, running
from tests.support import cloudflare_api as cloudflare_support


@pytest.fixture
def fly():
    with running() as pair:
        yield pair


@pytest.fixture
def client(fly):
    return fly[1]


@pytest.fixture
def app(client):
    return create_app(client)


@pytest.fixture
def proxy_client(fly):
    """A client of the emulator's Fly edge (FlyProxy); pick the app with the Host header."""
    with httpx.Client(base_url=fly[0].proxy_url, timeout=10) as client:
        yield client


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def still(clock):
    # Binary fractions, so that sums of clock steps compare exactly.
    with running(clock=clock, transition=0.25, volume_unbind_after=0.5) as (emu, client):
        create_app(client)
        yield emu, client


cloudflare_api = cloudflare_support.cloudflare_api


@pytest.fixture
def cf(cloudflare_api):
    """The Cloudflare emulator and a client of its v4 API with the accepted token."""
    with httpx.Client(
        base_url=cloudflare_api.url, headers={"Authorization": f"Bearer {cloudflare_support.TOKEN}"}, timeout=10
    ) as http:
        yield cloudflare_api, http


@pytest.fixture
def still_cf(clock):
    """A Cloudflare emulator on a FakeClock (timestamps move only with `clock.advance()`), and a client."""
    with cloudflare_support.new_emulator(clock=clock) as emulator:
        headers = {"Authorization": f"Bearer {cloudflare_support.TOKEN}"}
        with httpx.Client(base_url=emulator.url, headers=headers, timeout=10) as http:
            yield clock, emulator, http
        cloudflare_support.fail_on_unknown(emulator)
