"""Benchmark the fleet collector (not a test): wall time and requests per source at N tenants.

Runs `ops.collector.collect` against the Fly emulator, moto's S3 server (as R2) and the Cloudflare
analytics stand-in, all on 127.0.0.1 in this process. The fleet is written straight into the emulators'
stores (going through their HTTP APIs would take longer than the run being measured); the collection
itself goes through HTTP exactly as in production, with the Fly client's own rate limiter at Fly's
published limits (1 req/s per action per app, burst 3).

    .venv/bin/python -m bench.collector [--tenants 1000 10000] [--workers 8]

Loopback hides network latency: the report adds an estimate at a given round trip (--rtt-ms, default
100 ms) as requests / workers * rtt, which is what bounds a real run.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import threading
import time
from datetime import UTC, date, datetime, timedelta
from secrets import token_hex

from moto.s3.models import s3_backends

from config.stack_config import StackConfig, read_stack_file
from emulators.cloudflare import BucketUsage, CloudflareEmulator
from emulators.fly import FlyEmulator
from emulators.fly.speeds import INSTANT
from emulators.fly.state import App, Certificate, Machine, Volume, iso
from ops.collector import HEALTH_KEY, collect
from ops.quota import fetch_usage
from ops.r2 import r2_client
from providers.fly.client import FlyClient
from providers.fly.ratelimit import RateLimiter
from tenants import bucket_layout
from tenants.roster import RosterEntry
from tests.support.servers import start_moto

DEFAULT_ACCOUNT_ID = "123456789012"  # moto's account for keys it does not know
FLY_TOKEN = "bench-fly-token"
CF_TOKEN = "bench-cf-token-0123456789abcdef0123456789ab"
STACK = "dev"


def roster(count: int) -> list[RosterEntry]:
    return [
        RosterEntry(
            f"bench{i:06d}", f"reader{i:06d}", f"r{i}@example.com", "reader", "active", created_at=date(2026, 1, 1)
        )
        for i in range(count)
    ]


def populate_fly(emu: FlyEmulator, config: StackConfig, tenants: list[RosterEntry], now: datetime) -> None:
    state = emu.state
    stamp = iso(now.timestamp())
    for entry in tenants:
        name = config.app_name(entry.id)
        state.apps[name] = App(token_hex(8), name, "personal", "default", int(now.timestamp() * 1000), 0.0)
        state.ips[name], state.secrets[name] = [], {}
        volume = Volume(
            f"vol_{token_hex(8)}", name, "data", "ams", "a1b2", 1, True, 5, True, True, "ext4", "created", stamp
        )
        state.volumes[volume.id] = volume
        machine = Machine(
            token_hex(7), name, name, "ams", {"image": "registry.example/alex:1"}, {}, token_hex(8), "fdaa::2",
            "started", stamp, stamp,
        )  # fmt: skip
        state.machines[machine.id] = machine
        host = config.hostname(entry.username)
        state.certificates[name] = {host: Certificate(host, name, "active", stamp, f"{host}.x.flydns.net")}


def populate_r2(tenants: list[RosterEntry], now: datetime) -> None:
    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    health = json.dumps({"version": 1, "last_backup_at": stamp, "restore": None, "boot_at": stamp, "image": "bench"})
    health_bytes = health.encode()
    for index, entry in enumerate(tenants):
        bucket = f"alex-{entry.id}"
        backend.create_bucket(bucket, "auto")
        age = timedelta(days=3) if index % 10 == 0 else timedelta(hours=1)  # every tenth one stale
        backend.put_object(bucket, bucket_layout.snapshot_key(now - age - timedelta(hours=1)), b"db")
        backend.put_object(bucket, bucket_layout.snapshot_key(now - age), b"db")
        backend.put_object(bucket, "books/a.epub", b"book")
        backend.put_object(bucket, "books/b.pdf", b"book")
        backend.put_object(bucket, HEALTH_KEY, health_bytes)


def measure(count: int, workers: int, rtt_ms: float) -> dict[str, float | int]:
    config = read_stack_file(STACK)
    now = datetime.now(UTC)
    tenants = roster(count)
    moto, endpoint = start_moto()
    try:
        with (
            FlyEmulator(token=FLY_TOKEN, org="personal", rate_limit=False, **INSTANT.kwargs()) as fly_emu,
            CloudflareEmulator(token=CF_TOKEN, account_id=config.cloudflare_account_id) as cloudflare,
        ):
            setup = time.perf_counter()
            populate_fly(fly_emu, config, tenants, now)
            populate_r2(tenants, now)
            cloudflare.usage = {f"alex-{t.id}": BucketUsage(10_000_000, 100, 5) for t in tenants}
            setup_s = time.perf_counter() - setup
            r2 = r2_client(endpoint, "bench-key", "bench-secret", timeout=30)
            lock = threading.Lock()
            sent = [0]

            def count_r2(**_: object) -> None:
                with lock:
                    sent[0] += 1

            r2.meta.events.register("before-send.s3", count_r2)
            progress: list[tuple[float, int]] = []
            start = time.perf_counter()
            usage = fetch_usage(cloudflare.url, CF_TOKEN, config.cloudflare_account_id, now, timeout=60)
            limiter = RateLimiter(1.0, 3.0)  # Fly's published limit per (action, app)
            with FlyClient(base_url=fly_emu.url, token=FLY_TOKEN, limiter=limiter, retries=2) as fly:
                found = collect(
                    tenants,
                    config,
                    now=now,
                    fly=fly,
                    r2=r2,
                    usage=usage,
                    workers=workers,
                    progress=lambda done, _total: progress.append((time.perf_counter() - start, done)),
                    progress_every=max(count // 10, 1),
                )
            elapsed = time.perf_counter() - start
            fly_requests = len(fly_emu.requests)
            problems = sum(1 for h in found if h.problems)
    finally:
        moto.stop()
        s3_backends[DEFAULT_ACCOUNT_ID]["aws"].reset()
    requests = fly_requests + sent[0] + len(cloudflare.requests)
    return {
        "tenants": count,
        "workers": workers,
        "setup_s": round(setup_s, 1),
        "collect_s": round(elapsed, 1),
        "tenants_per_s": round(count / elapsed, 1),
        "fly_requests": fly_requests,
        "r2_requests": sent[0],
        "analytics_requests": len(cloudflare.requests),
        "requests_per_tenant": round(requests / count, 2),
        "tenants_with_problems": problems,
        "estimate_s_at_rtt": round(requests / workers * rtt_ms / 1000, 1),
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, nargs="+", default=[1000, 10_000])
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--rtt-ms", type=float, default=100.0)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request otherwise
    for count in args.tenants:
        result = measure(count, args.workers, args.rtt_ms)
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
