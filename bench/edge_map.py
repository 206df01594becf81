"""The edge map at scale (not a test): its size and build time, and the time to deliver a new one.

At 10,000 tenants (a tenth with a custom domain, a twentieth suspended, a fiftieth cancelled): the
map's build time, its size raw, gzipped and as the base64 `raw_value` in each router's machine config;
then, on the Fly emulator at its reference speeds, the edge's routers created with that map and a map
with one more tenant delivered through the machine provider the way `pulumi up` does it (one router
after the other, each under its lease, started and healthy before the next): wall time and Fly
requests per router. Real Fly adds the image boot and its health check's first pass to each router.

    .venv/bin/python -m bench.edge_map [--tenants 10000] [--regions ams fra]
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import date
from typing import Any

from components.edge import edge_machine_config
from config.edge_map import EdgeSource, edge_hosts, file_value, map_bytes, map_document
from emulators.fly import FlyEmulator
from emulators.fly.speeds import REFERENCE
from providers.fly.app import AppProvider
from providers.fly.ips import IpsProvider
from providers.fly.machine import MachineProvider
from tenants.roster import RosterEntry
from tests.program.harness import settings
from tests.support.engine import ProviderHost

TOKEN = "bench-fly-token"
ENV = {"ALEX_FLY_RATE_PER_S": "0", "ALEX_FLY_RETRY_BASE_S": "0.01"}


def roster(count: int) -> list[RosterEntry]:
    entries = []
    for i in range(count):
        extra: dict[str, Any] = {}
        if i % 10 == 0:
            extra["domains"] = (f"books.reader{i:06d}.net",)
        if i % 20 == 1:
            extra["state"] = "suspended"
        elif i % 50 == 2:
            extra.update(state="cancelled", cancelled_at=date(2026, 11, 1), purge_after=date(2026, 12, 1))
        entries.append(
            RosterEntry(f"tenant{i:06d}", f"user{i:06d}", f"user{i}@example.org", "free", "active").with_changes(
                **extra
            )
        )
    return entries


def measure_map(count: int) -> tuple[dict[str, Any], dict[str, dict[str, str]]]:
    config = settings()
    entries = roster(count)
    started = time.perf_counter()
    hosts = edge_hosts([EdgeSource(config, entries)])
    value = file_value(hosts)
    seconds = time.perf_counter() - started
    raw = json.dumps(map_document(hosts), sort_keys=True, separators=(",", ":")).encode()
    return {
        "tenants": count,
        "hosts": len(hosts),
        "build_s": round(seconds, 3),
        "json_bytes": len(raw),
        "gzip_bytes": len(map_bytes(hosts)),
        "raw_value_bytes": len(value),
        "machine_config_bytes": len(json.dumps(edge_machine_config(config, value, "x" * 64))),
    }, hosts


def measure_delivery(hosts: dict[str, dict[str, str]], regions: list[str]) -> dict[str, Any]:
    config = settings()
    app = config.edge_app_name
    grown = {**hosts, "newcomer.books.example.com": {"app": "alex-newcomer01"}}
    with (
        FlyEmulator(token=TOKEN, org="alex-hosted", rate_limit=False, **REFERENCE.kwargs(wait_cap=5.0)) as emu,
        ProviderHost(env={"FLY_API_URL": emu.url, "FLY_API_TOKEN": TOKEN, **ENV}) as host,
    ):
        host.bind(AppProvider()).create({"name": app, "org": config.fly_org})
        host.bind(IpsProvider()).create({"app": app})
        machines = host.bind(MachineProvider())
        state = {}
        for region in regions:
            inputs = machine_inputs(app, region, hosts)
            state[region] = machines.create(machines.check({}, inputs).inputs)
        emu.reset_log()
        started = time.perf_counter()
        per_router = []
        for region in regions:  # the engine's order: each router depends on the one before
            id_, olds = state[region]
            news = machines.check(olds, machine_inputs(app, region, grown)).inputs
            assert machines.diff(id_, olds, news).changes
            t0, before = time.perf_counter(), len(emu.requests)
            machines.update(id_, olds, news)
            per_router.append((region, round(time.perf_counter() - t0, 3), len(emu.requests) - before))
        total = time.perf_counter() - started
        writes = emu.writes()
    return {"routers": per_router, "update_s": round(total, 3), "writes": writes}


def machine_inputs(app: str, region: str, hosts: dict[str, dict[str, str]]) -> dict[str, Any]:
    digest = map_document(hosts)["digest"]
    return {
        "app": app,
        "region": region,
        "name": f"edge-{region}",
        "config": edge_machine_config(settings(), file_value(hosts), digest),
        "run_state": "active",
        "await_checks": True,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--tenants", type=int, default=10_000)
    parser.add_argument("--regions", nargs="+", default=["ams", "fra"])
    args = parser.parse_args(argv)
    figures, hosts = measure_map(args.tenants)
    for key, value in figures.items():
        print(f"{key:<22} {value:>12,}" if isinstance(value, int) else f"{key:<22} {value:>12}")
    delivery = measure_delivery(hosts, args.regions)
    for region, seconds, requests in delivery["routers"]:
        print(f"router {region:<15} {seconds:>10.3f} s {requests:>4} Fly requests")
    print(f"{'map delivered':<22} {delivery['update_s']:>10.3f} s {delivery['writes']:>4} writes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
