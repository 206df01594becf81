"""ProviderHost: drive a dynamic provider the way the Pulumi engine does, in a fresh process.

It starts `python -m pulumi.dynamic` (the gRPC ResourceProvider server Pulumi runs for Python dynamic
providers) with cwd at the repo root, so provider classes load by reference from `components.*`, and
calls Configure/Check/Diff/Create/Read/Update/Delete with protobuf Structs whose `__provider` is the
real `serialize_provider(...)` blob. Plain dicts go in and come out (`__provider` stripped). A gRPC
error is raised as `ProviderCallError` carrying the server's traceback text.

    with ProviderHost(env={"FLY_API_URL": url, "FLY_API_TOKEN": "t"}) as host:
        apps = host.bind(AppProvider())
        apps.configure({"alex-hosted:flyApiToken": "t"})   # optional, before the first CRUD call
        id_, outs = apps.create(apps.check({}, {"name": "a", "org": "o"}).inputs)

The provider process's stderr (where `pulumi.log` writes without an engine) is kept: `host.stderr()`.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import struct_pb2
from pulumi.dynamic import ResourceProvider
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import rpc
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

from common.closing import ClosesOnExit

REPO_ROOT = Path(__file__).resolve().parents[2]
PROVIDER_KEY = "__provider"
# Never inherited by the provider process: tests say explicitly what it gets.
SCRUBBED_PREFIXES = ("FLY_", "ALEX_FLY_", "CLOUDFLARE_", "STRIPE_", "PULUMI_CONFIG")


class ProviderCallError(Exception):
    """A provider call failed; the message is the provider server's traceback text."""

    def __init__(self, method: str, details: str) -> None:
        self.method = method
        self.details = details
        super().__init__(f"{method} failed:\n{details}")


@dataclass
class CheckOutcome:
    inputs: dict[str, Any]
    failures: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class DiffOutcome:
    changes: bool | None  # None: DIFF_UNKNOWN
    replaces: list[str]
    delete_before_replace: bool


@dataclass
class ReadOutcome:
    id: str
    outs: dict[str, Any]
    inputs: dict[str, Any] | None


def _struct(props: Mapping[str, Any]) -> struct_pb2.Struct:
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(rpc.serialize_properties(dict(props), {}))
    finally:
        loop.close()


def _plain(struct: struct_pb2.Struct) -> dict[str, Any]:
    props = rpc.deserialize_properties(struct, keep_unknowns=True)
    return {k: v for k, v in dict(props).items() if k != PROVIDER_KEY}


class ProviderHost(ClosesOnExit):
    """One `python -m pulumi.dynamic` process; `bind(provider)` gives the CRUD calls for one provider."""

    def __init__(self, env: Mapping[str, str] | None = None, *, startup_timeout: float = 30.0) -> None:
        child_env = {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED_PREFIXES)}
        child_env.update(env or {})
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close())
        self.process = subprocess.Popen(
            [sys.executable, "-u", "-m", "pulumi.dynamic"],
            cwd=REPO_ROOT,
            env=child_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
        )
        port = self._read_port(startup_timeout)
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.stub = provider_pb2_grpc.ResourceProviderStub(self.channel)

    def _read_port(self, timeout: float) -> int:
        assert self.process.stdout is not None
        line: list[bytes] = []
        reader = threading.Thread(target=lambda: line.append(self.process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(timeout)
        if not line or not line[0].strip().isdigit():
            self.close()
            raise RuntimeError(f"provider server did not print its port; stderr:\n{self.stderr()}")
        return int(line[0])

    def close(self) -> None:
        if hasattr(self, "channel"):
            self.channel.close()
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._stderr.close()

    def stderr(self) -> str:
        """Everything the provider process wrote to stderr so far."""
        if self._stderr.closed:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")

    def call(self, method: str, request: Any) -> Any:
        try:
            return getattr(self.stub, method)(request, timeout=120)
        except grpc.RpcError as exc:
            raise ProviderCallError(method, exc.details() or str(exc)) from None

    def configure(self, config: Mapping[str, Any]) -> None:
        """Stack config as the engine sends it (namespaced keys, secrets unwrapped)."""
        self.call("Configure", provider_pb2.ConfigureRequest(args=_struct(config), acceptSecrets=False))

    def bind(self, provider: ResourceProvider) -> BoundProvider:
        return BoundProvider(self, provider)


class BoundProvider:
    """CRUD calls for one provider instance, serialised into `__provider` exactly as Pulumi does."""

    def __init__(self, host: ProviderHost, provider: ResourceProvider) -> None:
        self.host = host
        self.blob = serialize_provider(provider)

    def configure(self, config: Mapping[str, Any]) -> None:
        self.host.configure(config)

    def _props(self, props: Mapping[str, Any]) -> struct_pb2.Struct:
        return _struct({**props, PROVIDER_KEY: self.blob})

    def check(self, olds: Mapping[str, Any], news: Mapping[str, Any]) -> CheckOutcome:
        response = self.host.call("Check", provider_pb2.CheckRequest(olds=self._props(olds), news=self._props(news)))
        failures = [(f.property, f.reason) for f in response.failures]
        return CheckOutcome(_plain(response.inputs), failures)

    def diff(self, id_: str, olds: Mapping[str, Any], news: Mapping[str, Any]) -> DiffOutcome:
        request = provider_pb2.DiffRequest(id=id_, olds=self._props(olds), news=self._props(news))
        response = self.host.call("Diff", request)
        changes = {
            provider_pb2.DiffResponse.DIFF_SOME: True,
            provider_pb2.DiffResponse.DIFF_NONE: False,
        }.get(response.changes)
        return DiffOutcome(changes, list(response.replaces), bool(response.deleteBeforeReplace))

    def create(self, props: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        response = self.host.call("Create", provider_pb2.CreateRequest(properties=self._props(props)))
        return response.id, _plain(response.properties)

    def read(self, id_: str, props: Mapping[str, Any]) -> ReadOutcome:
        response = self.host.call("Read", provider_pb2.ReadRequest(id=id_, properties=self._props(props)))
        inputs = _plain(response.inputs) if response.HasField("inputs") else None
        return ReadOutcome(response.id, _plain(response.properties), inputs)

    def update(self, id_: str, olds: Mapping[str, Any], news: Mapping[str, Any]) -> dict[str, Any]:
        request = provider_pb2.UpdateRequest(id=id_, olds=self._props(olds), news=self._props(news))
        return _plain(self.host.call("Update", request).properties)

    def delete(self, id_: str, props: Mapping[str, Any]) -> None:
        self.host.call("Delete", provider_pb2.DeleteRequest(id=id_, properties=self._props(props)))
