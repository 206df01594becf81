"""The real engine's figures (not a test): install, then `preview`, first `up` and no-op `up` by stack size.

    .venv/bin/python -m bench.engine --install              # ../shared/engine into a fresh cache: cold, then warm
    .venv/bin/python -m bench.engine --tenants 3 100 400    # per size: preview, first up, no-op up
    .venv/bin/python -m bench.engine --tenants 400 --add-one  # then one tenant more, with and without --target

Everything runs on 127.0.0.1 as tests/e2e does (real CLI and plugins, file backend, the Fly and Cloudflare
emulators at production settings: Fly's rate limits on, the client's limiter and retries at their defaults).
For each run: wall time, Fly requests (writes), Cloudflare requests (writes), and the peak RSS of the
largest process the run started (the `pulumi` CLI, its language host or a provider).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from emulators.cloudflare import CloudflareEmulator
from emulators.cloudflare.s3 import S3Objects
from emulators.fly import FlyEmulator
from emulators.project import ENGINE_VERSION, REPO_ROOT
from tests.e2e.conftest import ACCOUNT, CF_TOKEN, ORG, ZONE, stack_config
from tests.support.pulumi_cli import Run, Workspace
from tests.support.servers import start_moto

FLY_TOKEN = "test-fly-token"


def roster(count: int, start: int = 0) -> list[dict[str, Any]]:
    return [
        {
            "id": f"bench{n:06d}",
            "username": f"reader{n:06d}",
            "email": f"reader{n:06d}@example.org",
            "plan": "free",
            "state": "active",
            "created_at": date(2026, 11, 1),
        }
        for n in range(start, start + count)
    ]


def measure(what: str, fly: FlyEmulator, cloudflare: CloudflareEmulator, call: Callable[[], Run]) -> dict[str, Any]:
    fly.reset_log()
    cloudflare.reset_log()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    run = call()
    seconds = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    fly_requests = fly.requests
    cf_requests = cloudflare.requests
    row = {
        "run": what,
        "exit": run.returncode,
        "seconds": round(seconds, 1),
        "steps": run.summary(),
        "fly_requests": len(fly_requests),
        "fly_writes": sum(1 for r in fly_requests if r.method not in ("GET", "HEAD")),
        "cloudflare_requests": len(cf_requests),
        "cloudflare_writes": len(cloudflare.writes()),
        "peak_rss_mb": round(max(peak_kb, before) / 1024),
    }
    print(json.dumps(row), flush=True)
    return row


def bench_install(source: Path) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="engine-bench-") as tmp:
        for label in ("cold", "warm"):
            started = time.perf_counter()
            subprocess.run(
                [str(source / "install.sh"), f"{tmp}/engine", f"{tmp}/home"],
                check=True,
                capture_output=True,
            )
            rows.append({"run": f"install {label}", "seconds": round(time.perf_counter() - started, 2)})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def bench_size(count: int, add_one: bool) -> list[dict[str, Any]]:
    server, r2 = start_moto()
    rows: list[dict[str, Any]] = []
    try:
        with (
            FlyEmulator(token=FLY_TOKEN, org=ORG, rate_limit=True) as fly,
            CloudflareEmulator(
                token=CF_TOKEN, account_id=ACCOUNT, zones={ZONE: "books.test"}, objects=S3Objects(r2)
            ) as cloudflare,
            tempfile.TemporaryDirectory(prefix=f"engine-bench-{count}-") as tmp,
        ):
            env = {"FLY_API_URL": fly.url, "FLY_API_TOKEN": FLY_TOKEN, "CLOUDFLARE_API_TOKEN": CF_TOKEN}
            ws = Workspace(Path(tmp), env)
            ws.new_stack("bench", stack_config(fly, cloudflare, r2), roster(count))
            rows.append(measure(f"{count} preview", fly, cloudflare, lambda: ws.preview("bench")))
            rows.append(measure(f"{count} first up", fly, cloudflare, lambda: ws.up("bench")))
            rows.append(measure(f"{count} no-op up", fly, cloudflare, lambda: ws.up("bench")))
            if add_one:
                ws.write_roster("bench", roster(count + 1))
                targets = [f"--target=urn:pulumi:bench::alex-hosted::**::bench{count:06d}{s}" for s in ("", "-*")]
                edge = [f"--target=urn:pulumi:bench::alex-hosted::**::edge{s}" for s in ("", "-*")]
                rows.append(
                    measure(
                        f"{count}+1 up --target",
                        fly,
                        cloudflare,
                        lambda: ws.pulumi("up", "--stack", "bench", "--yes", "--skip-preview", *targets, *edge),
                    )
                )
                ws.write_roster("bench", roster(count + 2))
                rows.append(measure(f"{count}+1 full up", fly, cloudflare, lambda: ws.up("bench")))
            shutil.rmtree(Path(tmp) / "project", ignore_errors=True)
    finally:
        server.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.engine", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--install", action="store_true", help="time the engine's install.sh cold and warm")
    parser.add_argument(
        "--engine-src", type=Path, default=REPO_ROOT.parent / "shared" / "engine", help="default ../shared/engine"
    )
    parser.add_argument("--tenants", type=int, nargs="*", default=[], help="stack sizes to measure")
    parser.add_argument("--add-one", action="store_true", help="then add a tenant, with and without --target")
    args = parser.parse_args()
    print(f"engine: pulumi v{ENGINE_VERSION}", flush=True)
    if args.install:
        bench_install(args.engine_src)
    for count in args.tenants:
        bench_size(count, args.add_one)


if __name__ == "__main__":
    main()
