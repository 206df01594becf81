"""Fifty tenants created at once, as the Pulumi engine runs resource steps in parallel.

The providers run in this process on worker threads, against the emulator with Fly's rate limits on
(app creates share one org-wide bucket), on one virtual clock (`SharedTime`): every wait the clients make
(429 backoff, the limiter's pacing) is virtual time, so the run takes seconds. Machine transitions and
app visibility are instant, so no request waits on the emulator's clock.
"""

from __future__ import annotations

import functools
import os
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from pulumi.dynamic import ResourceProvider

from emulators.clock import FakeClock
from emulators.fly import FlyEmulator
from emulators.fly.speeds import PROVIDER_TESTS
from providers.fly import app as app_module
from providers.fly import machine as machine_module
from providers.fly import volume as volume_module
from providers.fly.app import AppProvider
from providers.fly.client import open_client
from providers.fly.machine import MachineProvider
from providers.fly.volume import VolumeProvider
from tests.conftest import FLY_TEST_TOKEN
from tests.fly.clock import SharedTime
from tests.fly.machines import machine_inputs

TENANTS = 50
WORKERS = 12  # parallel provider calls, as the engine's steps reach the provider


@pytest.fixture
def fleet(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FlyEmulator, SharedTime]]:
    clock = FakeClock()
    time = SharedTime(clock)
    # Instant transitions and app visibility: an app create (`?wait=true`) would otherwise wait on the
    # emulator's clock, which SharedTime cannot tell from a request being served.
    instant = PROVIDER_TESTS.kwargs(transition=0.0, app_visible_after=0.0)
    with FlyEmulator(token=FLY_TEST_TOKEN, org="personal", rate_limit=True, clock=clock, **instant) as emu:
        for name in [n for n in os.environ if n.startswith("ALEX_FLY_")]:
            monkeypatch.delenv(name)  # production tunables: client pacing, retries and deadlines as shipped
        monkeypatch.setenv("FLY_API_URL", emu.url)
        monkeypatch.setenv("FLY_API_TOKEN", FLY_TEST_TOKEN)
        on_shared_time = functools.partial(open_client, clock=time.clock, sleep=time.sleep)
        for module in (app_module, volume_module, machine_module):
            monkeypatch.setattr(module, "open_client", on_shared_time)
        yield emu, time


def create(provider: ResourceProvider, news: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    checked = provider.check({}, news)
    assert not checked.failures, checked.failures
    result = provider.create(checked.inputs)
    return str(result.id), dict(result.outs or {})


def tenant(name: str) -> tuple[str, str]:
    """The app, then its volume, then its machine on that volume, as a Tenant's dependencies order them."""
    create(AppProvider(), {"name": name, "org": "personal"})
    volume_id, _ = create(VolumeProvider(), {"app": name, "name": "data", "region": "ams", "size_gb": 1})
    machine_id, _ = create(MachineProvider(), machine_inputs(name, volume_id))
    return volume_id, machine_id


def test_fifty_tenants_created_in_parallel_through_fly_rate_limits_each_exist_once(fleet):
    emu, time = fleet
    names = [f"alex-p{i:02d}" for i in range(TENANTS)]

    made = time.run([functools.partial(tenant, name) for name in names], workers=WORKERS)

    state = emu.state
    assert sorted(state.apps) == names
    volumes = Counter(v.app for v in state.volumes.values() if v.state not in ("pending_destroy", "destroyed"))
    machines = Counter(m.app for m in state.machines.values() if m.state != "destroyed")
    assert volumes == Counter(names) and machines == Counter(names)
    assert {v for v, _ in made} == set(state.volumes) and {m for _, m in made} == set(state.machines)
    assert all(m.state == "started" for m in state.machines.values())
    # The org-wide app-create limit did bite, and every app create it refused was sent again.
    app_creates = [r.status for r in emu.requests if (r.method, r.path) == ("POST", "/v1/apps")]
    assert app_creates.count(429) > 0 and app_creates.count(201) == TENANTS
