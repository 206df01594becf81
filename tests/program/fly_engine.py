"""A tiny `pulumi up` of the program's dynamic resources, driven through the engine's provider process.

`FlyEngine.up(recording)` takes what the program declared under mocks (tests.program.harness) and
applies every dynamic resource (Fly's `pulumi-python:dynamic/fly:*` and the owner emails'
`pulumi-python:dynamic/notify:Email`) in declaration order, as the engine would in
dependency order: check, then create, or diff and update or replace (Fly replaces here are all
delete-before-create). Like the real engine, resources the program no longer declares are deleted
only after every create and update, newest first (pulumi/pkg resource/deploy/deployment_executor.go:
performPostSteps runs once the program is done and the step executor is idle).

State is (id, outputs) per resource name. Values the mocks stood in for (a volume id, a secrets
version) are swapped for the ones the emulator gave earlier resources.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from providers.email import EmailProvider
from providers.fly.app import AppProvider
from providers.fly.certificate import CertificateProvider
from providers.fly.ips import IpsProvider
from providers.fly.machine import MachineProvider
from providers.fly.secrets import SecretsProvider
from providers.fly.volume import VolumeProvider
from tests.program.harness import Recording, is_secret
from tests.support.engine import ProviderHost

DYNAMIC_TYPE = "pulumi-python:dynamic/"
PROVIDERS: dict[str, type[Any]] = {
    "App": AppProvider,
    "Ips": IpsProvider,
    "Secrets": SecretsProvider,
    "Volume": VolumeProvider,
    "Machine": MachineProvider,
    "Certificate": CertificateProvider,
    "Email": EmailProvider,
}


def engine_view(value: Any) -> Any:
    """What the engine hands a dynamic provider: secrets unwrapped (it accepts no secrets)."""
    if is_secret(value):
        return engine_view(value["value"])
    if isinstance(value, dict):
        return {k: engine_view(v) for k, v in value.items() if k != "__provider"}
    if isinstance(value, list):
        return [engine_view(v) for v in value]
    return value


class FlyEngine:
    def __init__(
        self, host: ProviderHost, only: str | None = None, after_step: Callable[[str, str], None] | None = None
    ) -> None:
        self.host = host
        self.after_step = after_step  # called after each step with (name, step): a probe between steps
        self.only = only  # a name prefix: apply only those resources (one tenant, or the edge)
        self.state: dict[str, tuple[str, dict[str, Any]]] = {}
        self.kinds: dict[str, str] = {}  # name -> provider kind, kept for deletes
        self.steps: list[tuple[str, str]] = []

    def _done(self, name: str, step: str) -> None:
        self.steps.append((name, step))
        if self.after_step is not None:
            self.after_step(name, step)

    def adopt(self, name: str, kind: str, id_: str, outputs: dict[str, Any]) -> None:
        """A resource already in the state file (made by an earlier version of the program)."""
        self.state[name], self.kinds[name] = (id_, outputs), kind

    def up(self, recording: Recording) -> list[tuple[str, str]]:
        self.steps = []
        declared = [
            r
            for r in recording.registrations.values()
            if r.type.startswith(DYNAMIC_TYPE) and r.name.startswith(self.only or "")
        ]
        for registration in declared:
            name, kind = registration.name, registration.type.rpartition(":")[2]
            self.kinds[name] = kind
            bound = self.host.bind(PROVIDERS[kind]())
            news = self._resolve(name, engine_view(registration.inputs))
            old = self.state.get(name)
            checked = bound.check(old[1] if old else {}, news)
            assert not checked.failures, (name, checked.failures)
            if old is None:
                self.state[name] = bound.create(checked.inputs)
                self._done(name, "create")
                continue
            diff = bound.diff(old[0], old[1], checked.inputs)
            if not diff.changes:
                continue
            if diff.replaces:
                bound.delete(*old)
                self.state[name] = bound.create(checked.inputs)
                self._done(name, "replace")
            else:
                self.state[name] = (old[0], bound.update(old[0], old[1], checked.inputs))
                self._done(name, "update")
        names = {r.name for r in declared}
        for name in [n for n in reversed(self.state) if n not in names]:
            id_, outs = self.state.pop(name)
            self.host.bind(PROVIDERS[self.kinds[name]]()).delete(id_, outs)
            self._done(name, "delete")
        return self.steps

    def _resolve(self, name: str, news: dict[str, Any]) -> dict[str, Any]:
        if name.endswith("-machine"):  # a tenant's machine: its volume and the secrets it waits for
            tid = name.removesuffix("-machine")
            news["config"]["mounts"][0]["volume"] = self.state[f"{tid}-volume"][1]["volume_id"]
            news["min_secrets_version"] = self.state[f"{tid}-secrets"][1]["version"]
        return news
