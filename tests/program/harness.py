"""Runs the Pulumi program's body under `pulumi.runtime.set_mocks` and records every registration.

The recording is `tests.support.recording`'s (what the engine would see); the stack outputs are
`components.program.outputs`, the same function `run()` exports. Mocks only stand in for the
providers' create.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pulumi

from components.program import declare_edge, declare_tenants, outputs
from config.shards import Shard, hosts_edge
from config.stack_config import ConfigError, StackConfig, from_mapping
from tenants.roster import RosterEntry
from tests.support.recording import (
    SECRET_SIG,
    Recording,
    Registration,
    is_secret,
    plain_strings,
    record_under,
    unwrap,
)

__all__ = [
    "SECRET_SIG",
    "SETTINGS_VALUES",
    "Recording",
    "Registration",
    "TenantMocks",
    "config_problems",
    "decode_map",
    "is_secret",
    "plain_strings",
    "run_program",
    "settings",
    "token_value",
    "unwrap",
]

SETTINGS_VALUES = {
    "alex-hosted:domain": "books.example.com",
    "alex-hosted:image": "ghcr.io/alex-hosted/alex-hosted:0.6.0-1",
    "alex-hosted:edgeImage": "ghcr.io/alex-hosted/alex-hosted-edge:1.0.0-1",
    "alex-hosted:edgeRegions": '["ams", "fra"]',
    "alex-hosted:flyOrg": "alex-hosted",
    "alex-hosted:flyRegion": "ams",
    "alex-hosted:appPrefix": "alex",
    "alex-hosted:cloudflareAccountId": "0123456789abcdef0123456789abcdef",
    "alex-hosted:cloudflareZoneId": "fedcba9876543210fedcba9876543210",
}


def settings() -> StackConfig:
    return from_mapping("test", SETTINGS_VALUES)


def config_problems(changes: Mapping[str, object], stack: str = "prod") -> list[str]:
    """What from_mapping reports for the test settings with `changes` (qualified keys; a None value
    leaves the key out); fails when it reports nothing."""
    values = {k: v for k, v in {**SETTINGS_VALUES, **changes}.items() if v is not None}
    try:
        from_mapping(stack, values)
    except ConfigError as exc:
        return exc.problems
    raise AssertionError(f"no problem reported for {dict(changes)}")


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
                base = str(inputs.get("hostname")).removeprefix("*.")
                computed = {
                    "status": "pending_validation",
                    "cname_target": f"{inputs.get('app')}.fly.dev",
                    "acme_challenge_name": f"_acme-challenge.{base}",
                    "acme_challenge_target": f"{base}.x1y2z3.flydns.net",
                }
        return f"{name}-id", {**inputs, **computed}

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        raise AssertionError(f"the program made an unexpected invoke: {args.token}")


def decode_map(machine_config: dict[str, Any]) -> dict[str, Any]:
    """The edge map a machine config carries (config.edge_map), decoded from its gzip file."""
    (file,) = machine_config["files"]
    return dict(json.loads(gzip.decompress(base64.b64decode(file["raw_value"]))))


def run_program(
    roster: Sequence[RosterEntry],
    stack_settings: StackConfig | None = None,
    config: Any = None,
    shards: Sequence[Shard] | None = None,
) -> Recording:
    """Declares the tenants exactly as `components.program.run` does and waits for every output."""
    recording = record_under(TenantMocks())
    stack = stack_settings or settings()

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def body() -> pulumi.Output[Any]:
        tenants = declare_tenants(stack, roster)
        # As components.program.run: only the domain's first shard declares the edge, from every shard.
        edge = declare_edge(stack, roster, config, shards) if hosts_edge(stack) else None
        # What components.program.run exports, recorded here: mocks finish the stack before exports land.
        waits: list[pulumi.Output[None]] = []
        for key, value in outputs(roster, tenants, edge).items():
            output = pulumi.Output.from_input(value)
            waits.append(pulumi.Output.all(output, output.is_secret()).apply(record(key)))
        return pulumi.Output.all(*waits, *(t.urn for t in tenants.values()))

    def record(key: str) -> Callable[[list[Any]], None]:
        def store(pair: list[Any]) -> None:
            recording.exports[key] = (pair[0], bool(pair[1]))

        return store

    body()
    return recording
