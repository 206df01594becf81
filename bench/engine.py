"""The real engine's figures (not a test): install, then `preview`, first `up` and no-op `up` by stack size.

    .venv/bin/python -m bench.engine --install              # ../shared/engine into a fresh cache: cold, then warm
    .venv/bin/python -m bench.engine --tenants 3 100 400    # per size: preview, first up, no-op up
    .venv/bin/python -m bench.engine --tenants 400 --add-one  # then one tenant more, with and without --target
    .venv/bin/python -m bench.engine --tenants 400 --bulk --add-one  # the first up with pulumi_stack's --bulk
    .venv/bin/python -m bench.engine --tenants 400 --floor    # the engine's floor: as many bare resources
    .venv/bin/python -m bench.engine --tenants 400 --env PULUMI_SKIP_CHECKPOINTS=true  # an engine setting

Everything runs on 127.0.0.1 as tests/e2e does (real CLI and plugins, file backend, the Fly and Cloudflare
emulators at production settings: Fly's rate limits on, the client's limiter and retries at their defaults).
For each run: wall time, Fly requests (writes), Cloudflare requests (writes), the peak RSS of the
largest process the run started (the `pulumi` CLI, its language host or a provider) and the checkpoint's
size after it. `--floor` runs bench/floor_program instead: the same number of resources as the program
declares at that size, bare (a dynamic provider with no I/O, a payload the program's size per resource),
which is what the engine and the SDK cost with nothing of ours in it.
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
FLOOR_PROGRAM = Path(__file__).parent / "floor_program"
RESOURCES_PER_TENANT = 12  # the component, its children and the tenant's owner email (as seen in a real up)
EDGE_RESOURCES = 9  # the stack, the edge component and its children
FLOOR_PAYLOAD_BYTES = 1000  # with the per-resource envelope, about the program's 2.5-3 KB a resource in the checkpoint


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


def checkpoint_mb(ws: Workspace) -> float:
    files = list((ws.state / ".pulumi" / "stacks").rglob("*.json"))
    return round(sum(f.stat().st_size for f in files) / 2**20, 1)


def measure(
    what: str, ws: Workspace, fly: FlyEmulator, cloudflare: CloudflareEmulator, call: Callable[[], Run]
) -> dict[str, Any]:
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
        "checkpoint_mb": checkpoint_mb(ws),
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


def bench_size(count: int, add_one: bool, extra_env: dict[str, str], bulk: bool = False) -> list[dict[str, Any]]:
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
            env = {"FLY_API_URL": fly.url, "FLY_API_TOKEN": FLY_TOKEN, "CLOUDFLARE_API_TOKEN": CF_TOKEN, **extra_env}
            ws = Workspace(Path(tmp), env)
            # Room for the one or two added below (the default capacity, 400, refuses a 401st tenant).
            capacity: dict[str, Any] = {"alex-hosted:capacity": min(max(400, count + 2), 490)}
            ws.new_stack("bench", stack_config(fly, cloudflare, r2, **capacity), roster(count))
            rows.append(measure(f"{count} preview", ws, fly, cloudflare, lambda: ws.preview("bench")))
            rows.append(
                measure(
                    f"{count} first up{' --bulk' if bulk else ''}",
                    ws,
                    fly,
                    cloudflare,
                    lambda: ws.up("bench", *(["--bulk"] if bulk else [])),
                )
            )
            rows.append(measure(f"{count} no-op up", ws, fly, cloudflare, lambda: ws.up("bench")))
            if add_one:
                ws.write_roster("bench", roster(count + 1))
                targets = [f"--target=urn:pulumi:bench::alex-hosted::**::bench{count:06d}{s}" for s in ("", "-*")]
                edge = [f"--target=urn:pulumi:bench::alex-hosted::**::edge{s}" for s in ("", "-*")]
                rows.append(
                    measure(
                        f"{count}+1 up --target",
                        ws,
                        fly,
                        cloudflare,
                        lambda: ws.pulumi("up", "--stack", "bench", "--yes", "--skip-preview", *targets, *edge),
                    )
                )
                ws.write_roster("bench", roster(count + 2))
                rows.append(measure(f"{count}+1 full up", ws, fly, cloudflare, lambda: ws.up("bench")))
            shutil.rmtree(Path(tmp) / "project", ignore_errors=True)
    finally:
        server.stop()
    return rows


def bench_floor(count: int, extra_env: dict[str, str]) -> list[dict[str, Any]]:
    """The floor program at the program's resource count for `count` tenants: preview, first up, no-op up."""
    resources = count * RESOURCES_PER_TENANT + EDGE_RESOURCES
    rows: list[dict[str, Any]] = []
    with (
        FlyEmulator(token=FLY_TOKEN, org=ORG) as fly,
        CloudflareEmulator(token=CF_TOKEN, account_id=ACCOUNT, zones={ZONE: "books.test"}) as cloudflare,
        tempfile.TemporaryDirectory(prefix=f"engine-floor-{count}-") as tmp,
    ):
        ws = Workspace(Path(tmp), extra_env, program=FLOOR_PROGRAM)
        shutil.copy2(FLOOR_PROGRAM / "bare.py", ws.project / "bare.py")
        config = {"resources": resources, "payloadBytes": FLOOR_PAYLOAD_BYTES}
        ws.new_stack("floor", {f"alex-hosted-floor:{key}": value for key, value in config.items()})
        for what, call in (
            ("preview", lambda: ws.pulumi("preview", "--stack", "floor")),
            ("first up", lambda: ws.pulumi("up", "--stack", "floor", "--yes", "--skip-preview")),
            ("no-op up", lambda: ws.pulumi("up", "--stack", "floor", "--yes", "--skip-preview")),
        ):
            rows.append(measure(f"floor {resources} resources {what}", ws, fly, cloudflare, call))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.engine", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--install", action="store_true", help="time the engine's install.sh cold and warm")
    parser.add_argument(
        "--engine-src", type=Path, default=REPO_ROOT.parent / "shared" / "engine", help="default ../shared/engine"
    )
    parser.add_argument("--tenants", type=int, nargs="*", default=[], help="stack sizes to measure")
    parser.add_argument("--add-one", action="store_true", help="then add a tenant, with and without --target")
    parser.add_argument("--bulk", action="store_true", help="the first up with `scripts.pulumi_stack up --bulk`")
    parser.add_argument("--floor", action="store_true", help="bare resources, as many as the program at each size")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="for every engine run")
    args = parser.parse_args()
    extra_env = dict(item.split("=", 1) for item in args.env)
    print(f"engine: pulumi v{ENGINE_VERSION} {' '.join(args.env)}", flush=True)
    if args.install:
        bench_install(args.engine_src)
    for count in args.tenants:
        if args.floor:
            bench_floor(count, extra_env)
        else:
            bench_size(count, args.add_one, extra_env, args.bulk)


if __name__ == "__main__":
    main()
