"""Runs the Pulumi program's body under `pulumi.runtime.set_mocks` and records every registration.

The recording monitor keeps what the engine would see: type, name, parent, dependencies, options
(protect, deleteBeforeReplace, additionalSecretOutputs) and the inputs as sent over the wire, where a
secret stays wrapped in Pulumi's secret signature. Mocks only stand in for the providers' create.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
from google.protobuf import json_format
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.mocks import MockMonitor

from components.program import declare_tenants, summary
from components.stack_config import StackConfig, from_mapping
from tenants.roster import RosterEntry

SECRET_SIG = "4dabf18193072939515e22adb298388d"

SETTINGS_VALUES = {
    "alex-hosted:domain": "books.example.com",
    "alex-hosted:image": "ghcr.io/alex-hosted/alex-hosted:0.6.0-1",
    "alex-hosted:flyOrg": "alex-hosted",
    "alex-hosted:flyRegion": "ams",
    "alex-hosted:appPrefix": "alex",
    "alex-hosted:cloudflareAccountId": "0123456789abcdef0123456789abcdef",
    "alex-hosted:cloudflareZoneId": "fedcba9876543210fedcba9876543210",
}


def settings() -> StackConfig:
    return from_mapping("test", SETTINGS_VALUES)


def token_value(name: str) -> str:
    return f"tokval-{hashlib.sha256(name.encode()).hexdigest()[:40]}"


class TenantMocks(pulumi.runtime.Mocks):
    """Provider outputs by type token: the inputs plus what the real provider would compute."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        inputs, name = dict(args.inputs), args.name
        computed: dict[str, Any] = {}
        match args.typ:
            case "cloudflare:index/r2Bucket:R2Bucket":
                return inputs["name"], inputs
            case "cloudflare:index/accountToken:AccountToken":
                return f"{hashlib.md5(name.encode()).hexdigest()}", {**inputs, "value": token_value(name)}
            case "random:index/randomPassword:RandomPassword":
                computed = {"result": f"pw-{name}-{'x' * 16}"}
            case "pulumi-python:dynamic/fly:App":
                computed = {"app_id": f"app-{name}", "network": inputs.get("name")}
            case "pulumi-python:dynamic/fly:Ips":
                computed = {"v6": "2a09:8280:1::1", "shared_v4": "66.241.124.1"}
            case "pulumi-python:dynamic/fly:Secrets":
                computed = {"version": 1}
            case "pulumi-python:dynamic/fly:Volume":
                computed = {"volume_id": f"vol_{name}", "kept_larger": False}
            case "pulumi-python:dynamic/fly:Machine":
                computed = {"machine_id": f"m-{name}", "instance_id": "01H"}
            case "pulumi-python:dynamic/fly:Certificate":
                computed = {"status": "pending_validation", "cname_target": f"{inputs.get('app')}.fly.dev"}
        return f"{name}-id", {**inputs, **computed}

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        raise AssertionError(f"the program made an unexpected invoke: {args.token}")


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
        )
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802
        self.recording.outputs[request.urn] = json_format.MessageToDict(request.outputs)
        return super().RegisterResourceOutputs(request)


def run_program(roster: Sequence[RosterEntry], stack_settings: StackConfig | None = None) -> Recording:
    """Declares the tenants exactly as `components.program.run` does and waits for every output."""
    recording = Recording()
    mocks = TenantMocks()
    pulumi_settings.ROOT.set(None)  # a fresh root stack per run, as a new `pulumi up` has
    pulumi.runtime.set_mocks(
        mocks, project="alex-hosted", stack="test", preview=False, monitor=RecordingMonitor(mocks, recording)
    )
    config = stack_settings or settings()

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def body() -> pulumi.Output[Any]:
        tenants = declare_tenants(config, roster)
        # The same values components.program.run exports (mocks finish the stack before exports land).
        exports: dict[str, Any] = dict(summary(roster, tenants))
        exports["initialPasswords"] = pulumi.Output.secret({t: v.initial_password for t, v in tenants.items()})
        waits: list[pulumi.Output[None]] = []
        for key, value in exports.items():
            output = pulumi.Output.from_input(value)
            waits.append(pulumi.Output.all(output, output.is_secret()).apply(record(key)))
        return pulumi.Output.all(*waits, *(t.urn for t in tenants.values()))

    def record(key: str) -> Callable[[list[Any]], None]:
        def store(pair: list[Any]) -> None:
            recording.exports[key] = (pair[0], bool(pair[1]))

        return store

    body()
    return recording


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SECRET_SIG) == "1b47061264138c4ac30d75fd1eb44270"


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
