"""Benchmark the Fly providers against the emulator (not a test).

Reports HTTP requests per fresh tenant (create path), requests per no-op diff (must be 0), and the
FlyClient's own overhead per request on loopback, next to bare httpx on the same requests. `--log` also
prints each create's requests in order (what tests/fly/test_request_counts.py pins).

    .venv/bin/python -m bench.fly_requests [--gets 1000] [--log]
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import httpx

from emulators.fly import FlyEmulator
from emulators.fly.faults import RecordedRequest
from emulators.fly.speeds import REFERENCE
from providers.fly.app import AppProvider
from providers.fly.client import FlyClient
from providers.fly.machine import MachineProvider
from providers.fly.ratelimit import RateLimiter
from providers.fly.secrets import SecretsProvider
from providers.fly.volume import VolumeProvider
from tests.fly.machines import machine_config
from tests.support.engine import ProviderHost

TOKEN = "bench-fly-token"
ENV = {"ALEX_FLY_RATE_PER_S": "0", "ALEX_FLY_RETRY_BASE_S": "0.01"}


def tenant_steps(app: str) -> list[tuple[str, Any, Callable[[dict[str, str]], dict[str, Any]]]]:
    """(label, provider, inputs from earlier outputs) in the Tenant's order. A tenant has no IPs or
    certificate of its own: its hostnames are the edge's (components/edge.py)."""
    return [
        ("app", AppProvider(), lambda _: {"name": app, "org": "personal"}),
        ("secrets", SecretsProvider(), lambda _: {"app": app, "values": {"NEXTAUTH_SECRET": "x", "R2_KEY": "y"}}),
        ("volume", VolumeProvider(), lambda _: {"app": app, "name": "data", "region": "ams", "size_gb": 1}),
        (
            "machine",
            MachineProvider(),
            lambda o: {
                "app": app,
                "region": "ams",
                "name": "web",
                "config": machine_config(o["volume"]),
                "run_state": "active",
                "min_secrets_version": o["secrets_version"],
            },
        ),
    ]


@dataclass(frozen=True)
class Counted:
    resource: str
    calls: list[str]  # the create's requests in order, as "METHOD /path" with {app} and {id} for names
    noop: int  # requests of a no-op check + diff
    seconds: float  # the create's wall time

    @property
    def created(self) -> int:
        return len(self.calls)


def call_shape(request: RecordedRequest, app: str, ids: Iterable[str]) -> str:
    """`METHOD /path` with the app name as {app} and any created object's id as {id}."""
    path = re.sub(rf"(?<=/){re.escape(app)}(?=/|$)", "{app}", request.path)
    for id_ in ids:
        path = re.sub(rf"(?<=/){re.escape(id_)}(?=/|$)", "{id}", path)
    return f"{request.method} {path}"


def count_tenant(emu: FlyEmulator, host: ProviderHost, app: str) -> list[Counted]:
    """Each resource's create requests and no-op diff requests, in the Tenant's order."""
    rows = []
    outputs: dict[str, str] = {}
    for label, provider, make in tenant_steps(app):
        bound = host.bind(provider)
        inputs = make(outputs)
        emu.reset_log()
        started = time.perf_counter()
        checked = bound.check({}, inputs)
        id_, outs = bound.create(checked.inputs)
        seconds = time.perf_counter() - started
        created = emu.requests
        outputs[label] = id_
        if label == "secrets":
            outputs["secrets_version"] = outs["version"]
        emu.reset_log()
        again = bound.check(outs, inputs)
        diff = bound.diff(id_, outs, again.inputs)
        assert diff.changes is False, f"{label}: no-op diff reported changes"
        calls = [call_shape(r, app, [id_]) for r in created]
        rows.append(Counted(label, calls, len(emu.requests), seconds))
    return rows


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def time_gets(send: Callable[[], object], n: int) -> list[float]:
    samples = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        send()
        samples.append((time.perf_counter_ns() - t0) / 1000)
    return samples


def client_overhead(emu: FlyEmulator, app: str, n: int) -> list[tuple[str, list[float]]]:
    path = f"/v1/apps/{app}"
    fly = FlyClient(base_url=emu.url, token=TOKEN, limiter=RateLimiter(1e9, 1e9))
    bare = httpx.Client(base_url=emu.url, headers={"Authorization": f"Bearer {TOKEN}"}, trust_env=False)
    with fly, bare:
        for _ in range(20):  # warm up connections
            fly.call("GET", path, action="get_app", app=app)
            bare.get(path).json()
        fly_samples = time_gets(lambda: fly.call("GET", path, action="get_app", app=app), n)
        bare_samples = time_gets(lambda: bare.get(path).raise_for_status().json(), n)
    return [("FlyClient.call GET", fly_samples), ("bare httpx GET", bare_samples)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gets", type=int, default=1000, help="GETs timed for the client overhead")
    parser.add_argument("--log", action="store_true", help="print each create's requests in order")
    args = parser.parse_args()
    with (
        FlyEmulator(
            token=TOKEN,
            org="personal",
            rate_limit=False,
            **REFERENCE.kwargs(wait_cap=5.0),
        ) as emu,
        ProviderHost(env={"FLY_API_URL": emu.url, "FLY_API_TOKEN": TOKEN, **ENV}) as host,
    ):
        rows = count_tenant(emu, host, "bench-tenant")
        print(f"{'resource':<12} {'create reqs':>11} {'no-op diff reqs':>15} {'create s':>9}")
        for row in rows:
            print(f"{row.resource:<12} {row.created:>11} {row.noop:>15} {row.seconds:>9.3f}")
        total, noops, seconds = (sum(r.created for r in rows), sum(r.noop for r in rows), sum(r.seconds for r in rows))
        print(f"{'tenant':<12} {total:>11} {noops:>15} {seconds:>9.3f}")
        print()
        if args.log:
            for row in rows:
                print(f"{row.resource}: " + ", ".join(row.calls))
            print()
        print(f"{'loopback, n=' + str(args.gets):<22} {'mean µs':>9} {'p50 µs':>9} {'p95 µs':>9}")
        timings = client_overhead(emu, "bench-tenant", args.gets)
        for label, samples in timings:
            print(
                f"{label:<22} {statistics.fmean(samples):>9.0f} {percentile(samples, 0.5):>9.0f}"
                f" {percentile(samples, 0.95):>9.0f}"
            )
        overhead = statistics.fmean(timings[0][1]) - statistics.fmean(timings[1][1])
        print(f"{'FlyClient overhead':<22} {overhead:>9.0f}")


if __name__ == "__main__":
    main()
