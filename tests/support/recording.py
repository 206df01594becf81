"""The one recording monitor for tests under `pulumi.runtime.set_mocks`: what the engine would see.

A `Registration` keeps type, name, parent, dependencies, options (protect, deleteBeforeReplace,
additionalSecretOutputs) and the inputs as sent over the wire, where a secret stays wrapped in
Pulumi's secret signature (`is_secret`, `unwrap`, `plain_strings` read them).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pulumi
from google.protobuf import json_format
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.mocks import MockMonitor

SECRET_SIG = "4dabf18193072939515e22adb298388d"
_SECRET_VALUE = "1b47061264138c4ac30d75fd1eb44270"


@dataclass
class Registration:
    type: str
    name: str
    urn: str
    parent: str
    custom: bool
    protect: bool
    dependencies: list[str]
    additional_secret_outputs: list[str]
    delete_before_replace: bool
    inputs: dict[str, Any]
    deleted_with: str = ""  # the URN of the resource whose deletion deletes this one, if any

    def plain(self, path: str) -> Any:
        """The input at a dotted path, with secret wrappers removed."""
        value: Any = self.inputs
        for part in path.split("."):
            value = unwrap(value)[part]
        return unwrap(value)


@dataclass
class Recording:
    registrations: dict[str, Registration] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)  # component URN -> registered outputs
    exports: dict[str, tuple[Any, bool]] = field(default_factory=dict)  # stack output -> (value, is secret)

    def by_type(self, type_: str) -> list[Registration]:
        return [r for r in self.registrations.values() if r.type == type_]

    def one(self, name: str) -> Registration:
        return self.registrations[name]


class RecordingMonitor(MockMonitor):
    def __init__(self, mocks: pulumi.runtime.Mocks, recording: Recording):
        super().__init__(mocks)
        self.recording = recording

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - the gRPC method name
        response = super().RegisterResource(request)
        self.recording.registrations[request.name] = Registration(
            type=request.type,
            name=request.name,
            urn=response.urn,
            parent=request.parent,
            custom=request.custom,
            protect=request.protect,
            dependencies=list(request.dependencies),
            additional_secret_outputs=list(request.additionalSecretOutputs),
            delete_before_replace=request.deleteBeforeReplace,
            inputs=json_format.MessageToDict(request.object),
            deleted_with=request.deletedWith,
        )
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802
        self.recording.outputs[request.urn] = json_format.MessageToDict(request.outputs)
        return super().RegisterResourceOutputs(request)


def record_under(mocks: pulumi.runtime.Mocks, *, preview: bool = False) -> Recording:
    """Install `mocks` with a recording monitor on a fresh root stack, as a new `pulumi up` has."""
    recording = Recording()
    pulumi_settings.ROOT.set(None)
    pulumi.runtime.set_mocks(
        mocks, project="alex-hosted", stack="test", preview=preview, monitor=RecordingMonitor(mocks, recording)
    )
    return recording


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SECRET_SIG) == _SECRET_VALUE


def unwrap(value: Any) -> Any:
    return value["value"] if is_secret(value) else value


def plain_strings(value: Any) -> Iterator[str]:
    """Every string reachable without passing through a secret wrapper."""
    if is_secret(value):
        return
    if isinstance(value, dict):
        for item in value.values():
            yield from plain_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from plain_strings(item)
    elif isinstance(value, str):
        yield value
