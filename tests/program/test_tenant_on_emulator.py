"""A tenant end to end: the inputs the program declares, driven through the engine's provider process
against the Fly emulator, as `pulumi up` would in dependency order.

This joins the two halves the other tests prove apart: the Tenant component (under mocks) and the Fly
providers (over HTTP). The Fly API accepts the machine config the program builds, a second `up` of the
same roster writes nothing, and roster changes reach the machine as designed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import date
from typing import Any

import pytest

from components.fly.app import AppProvider
from components.fly.machine import MachineProvider
from components.fly.secrets import SecretsProvider
from components.fly.volume import VolumeProvider
from tenants.roster import RosterEntry
from tests.conftest import FLY_TEST_TOKEN
from tests.fly.conftest import FAST_ENV
from tests.program.harness import Recording, is_secret, run_program, settings
from tests.support.engine import ProviderHost

TID = "acme000001"
APP = f"alex-{TID}"
ORDER = (
    (f"{TID}-app", AppProvider),
    (f"{TID}-secrets", SecretsProvider),
    (f"{TID}-volume", VolumeProvider),
    (f"{TID}-machine", MachineProvider),
)


def entry(**changes: Any) -> RosterEntry:
    base = RosterEntry(TID, "alice", "alice@example.org", "free", "active", created_at=date(2026, 1, 1))
    return base.with_changes(**changes)


def engine_view(value: Any) -> Any:
    """What the engine hands a dynamic provider: secrets unwrapped (it accepts no secrets)."""
    if is_secret(value):
        return engine_view(value["value"])
    if isinstance(value, dict):
        return {k: engine_view(v) for k, v in value.items() if k != "__provider"}
    if isinstance(value, list):
        return [engine_view(v) for v in value]
    return value


class Engine:
    """A tiny `pulumi up` of some Fly resources, in `order`: state is (id, outputs) per resource.

    Like the real engine, a resource the program no longer declares is deleted after every create and
    update (pulumi/pkg resource/deploy/deployment_executor.go: performPostSteps runs once the program
    is done and the step executor is idle), in reverse order.
    """

    def __init__(
        self,
        host: ProviderHost,
        order: Sequence[tuple[str, type[Any]]] = ORDER,
        resolve: Callable[[Engine, str, dict[str, Any]], dict[str, Any]] | None = None,
    ) -> None:
        self.host = host
        self.order = list(order)
        self.resolve = resolve or _resolve_tenant
        self.state: dict[str, tuple[str, dict[str, Any]]] = {}
        self.steps: list[tuple[str, str]] = []

    def up(self, recording: Recording) -> list[tuple[str, str]]:
        self.steps = []
        gone: list[tuple[str, type[Any]]] = []
        for name, provider_class in self.order:
            bound = self.host.bind(provider_class())
            if name not in recording.registrations:
                if name in self.state:
                    gone.append((name, provider_class))
                continue
            news = self.resolve(self, name, engine_view(recording.one(name).inputs))
            old = self.state.get(name)
            checked = bound.check(old[1] if old else {}, news)
            assert not checked.failures, (name, checked.failures)
            if old is None:
                self.state[name] = bound.create(checked.inputs)
                self.steps.append((name, "create"))
                continue
            diff = bound.diff(old[0], old[1], checked.inputs)
            if not diff.changes:
                continue
            if diff.replaces:
                bound.delete(*old)  # every Fly replace here is delete-before-create
                self.state[name] = bound.create(checked.inputs)
                self.steps.append((name, "replace"))
            else:
                self.state[name] = (old[0], bound.update(old[0], old[1], checked.inputs))
                self.steps.append((name, "update"))
        for name, provider_class in reversed(gone):
            id_, outs = self.state.pop(name)
            self.host.bind(provider_class()).delete(id_, outs)
            self.steps.append((name, "delete"))
        return self.steps


def _resolve_tenant(engine: Engine, name: str, news: dict[str, Any]) -> dict[str, Any]:
    """Swap the mocks' stand-in outputs for the real ones the emulator gave earlier resources."""
    if name.endswith("-machine"):
        tid = name.removesuffix("-machine")
        news["config"]["mounts"][0]["volume"] = engine.state[f"{tid}-volume"][1]["volume_id"]
        news["min_secrets_version"] = engine.state[f"{tid}-secrets"][1]["version"]
    return news


# Each test is its own stack on its own emulator: it runs the `up`s it builds on itself.
@pytest.fixture
def fly_emu():
    from emulators.fly import FlyEmulator
    from emulators.fly.speeds import PROVIDER_TESTS

    with FlyEmulator(token=FLY_TEST_TOKEN, org="alex-hosted", rate_limit=True, **PROVIDER_TESTS.kwargs()) as emu:
        yield emu


@pytest.fixture
def engine(fly_emu) -> Iterator[Engine]:
    env = {"FLY_API_URL": fly_emu.url, "FLY_API_TOKEN": FLY_TEST_TOKEN, **FAST_ENV, "ALEX_FLY_RATE_PER_S": "1"}
    with ProviderHost(env=env) as host:
        yield Engine(host)


def machine(fly_emu) -> Any:
    (found,) = [m for m in fly_emu.state.machines.values() if m.app == APP and m.state != "destroyed"]
    return found


def test_tenant_comes_up_on_the_fly_api_and_a_second_up_writes_nothing(engine: Engine, fly_emu) -> None:
    assert settings().fly_org == "alex-hosted"
    steps = engine.up(run_program([entry()]))
    assert [s for _, s in steps] == ["create"] * 4
    running = machine(fly_emu)
    assert running.state == "started"
    assert running.config["env"]["NEXTAUTH_URL"] == "https://alice.books.example.com"
    assert running.config["guest"]["memory_mb"] == 256
    assert not set(running.config["env"]) & {"NEXTAUTH_SECRET", "R2_SECRET_ACCESS_KEY", "OWNER_INITIAL_PASSWORD"}

    fly_emu.reset_log()
    assert engine.up(run_program([entry()])) == []
    assert fly_emu.writes() == 0, [r for r in fly_emu.requests if r.method != "GET"]


def test_tenant_suspension_stops_the_machine_and_nothing_else(engine: Engine, fly_emu) -> None:
    engine.up(run_program([entry()]))
    assert engine.up(run_program([entry(state="suspended")])) == [(f"{TID}-machine", "update")]
    stopped = machine(fly_emu)
    assert stopped.state == "stopped"
    assert stopped.config["services"][0]["autostart"] is False
    assert engine.up(run_program([entry()])) == [(f"{TID}-machine", "update")]
    assert machine(fly_emu).state == "started"


def test_tenant_upgrade_grows_the_volume_in_place_and_resizes_the_machine(engine: Engine, fly_emu) -> None:
    engine.up(run_program([entry()]))
    volume_id = engine.state[f"{TID}-volume"][1]["volume_id"]
    steps = engine.up(run_program([entry(plan="reader")]))
    assert steps == [(f"{TID}-volume", "update"), (f"{TID}-machine", "update")]
    assert fly_emu.state.volumes[volume_id].size_gb == 6
    assert machine(fly_emu).config["guest"]["memory_mb"] == 512


def test_tenant_downgrade_keeps_the_bigger_volume(engine: Engine, fly_emu) -> None:
    engine.up(run_program([entry(plan="reader")]))
    volume_id = engine.state[f"{TID}-volume"][1]["volume_id"]
    engine.up(run_program([entry(plan="free")]))
    assert engine.state[f"{TID}-volume"][0] == volume_id  # same volume, never replaced
    assert fly_emu.state.volumes[volume_id].size_gb == 6
    assert machine(fly_emu).config["guest"]["memory_mb"] == 256


def test_tenant_rename_updates_nextauth_url_and_nothing_else_of_the_tenant(engine: Engine, fly_emu) -> None:
    engine.up(run_program([entry()]))
    steps = engine.up(run_program([entry(username="alice-reads")]))
    assert steps == [(f"{TID}-machine", "update")]
    assert machine(fly_emu).config["env"]["NEXTAUTH_URL"] == "https://alice-reads.books.example.com"
    assert APP not in fly_emu.state.certificates or not fly_emu.state.certificates[APP]
    assert not fly_emu.state.ips.get(APP)


def test_tenant_purging_destroys_only_the_machine(engine: Engine, fly_emu) -> None:
    engine.up(run_program([entry(username="alice-reads")]))
    purging = entry(
        username="alice-reads",
        state="purging",
        cancelled_at=date(2026, 5, 1),
        purge_after=date(2026, 5, 31),
        purge_marked_at=date(2026, 6, 1),
    )
    assert engine.up(run_program([purging])) == [(f"{TID}-machine", "delete")]
    assert [m.state for m in fly_emu.state.machines.values() if m.app == APP] == ["destroyed"]
    volume_id = engine.state[f"{TID}-volume"][1]["volume_id"]
    assert fly_emu.state.volumes[volume_id].state != "destroyed"
