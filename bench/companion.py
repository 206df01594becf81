"""Benchmark: the tenant companion's memory and upload figures, against moto (R2) and the stand-in Alex.

Run: `.venv/bin/python -m bench.companion [--megabytes 50] [--streams 20]`. Needs node and
`npm ci --prefix image/companion`. The companion runs as its own process (`node server.js`), so
VmRSS/VmHWM from /proc/<pid>/status are its own: idle, while open library event streams pass through it,
and during a multipart upload (browser-side PUTs straight to the bucket, then the companion's
verification and download into the library). Throughput is MB/s (10^6 bytes) on this machine's
loopback; moto is far slower than R2, so the PUT figure is moto's, the ingest figure the companion's.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.companion.harness import CompanionEnv, part_urls, rss_kib, s3_client, start_companion
from tests.companion.harness import plan as upload_plan
from tests.support.alex_web import AlexWeb
from tests.support.servers import start_moto

MiB = 1024 * 1024


class Sampler:
    """Samples the companion's VmRSS every 10 ms while running; keeps the highest."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_kib(self.pid)["VmRSS"])
            time.sleep(0.01)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()


def mib(kib: int) -> str:
    return f"{kib / 1024:.1f} MiB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.companion")
    parser.add_argument("--megabytes", type=int, default=50, help="size of the multipart upload (MiB)")
    parser.add_argument("--streams", type=int, default=20, help="library event streams held open at once")
    parser.add_argument(
        "--node-options", default="", help="NODE_OPTIONS for the companion, e.g. --max-semi-space-size=2"
    )
    args = parser.parse_args(argv)

    moto, endpoint = start_moto()
    bucket = f"alex-bench-{uuid.uuid4().hex[:8]}"
    s3_client(endpoint).create_bucket(Bucket=bucket)
    with tempfile.TemporaryDirectory() as tmp, AlexWeb(library=Path(tmp) / "library") as alex:
        library = Path(tmp) / "library"
        library.mkdir()
        env = CompanionEnv(alex.url, endpoint, bucket, library, {"STORAGE_QUOTA_BYTES": str(10 * 1024 * MiB)})
        if args.node_options:
            env.extra["NODE_OPTIONS"] = args.node_options
            print(f"NODE_OPTIONS={args.node_options}")
        companion = start_companion(env, Path(tmp) / "companion.log")
        try:
            time.sleep(1)
            idle = rss_kib(companion.pid)
            print(f"idle:               VmRSS {mib(idle['VmRSS'])}, VmHWM {mib(idle['VmHWM'])}")

            # Open tabs: each holds a library event stream through the proxy.
            stop = threading.Event()
            events = [0]

            def tab() -> None:
                with httpx.stream("GET", f"{companion.url}/api/library/events?count=30", timeout=30) as stream:
                    for line in stream.iter_lines():
                        if line.startswith("data: "):
                            events[0] += 1
                        if stop.is_set():
                            break

            with Sampler(companion.pid) as sampler, ThreadPoolExecutor(args.streams) as pool:
                for _ in range(args.streams):
                    pool.submit(tab)
            print(f"{args.streams} event streams:   peak VmRSS {mib(sampler.peak)} ({events[0]} events relayed)")

            data = b"%PDF-1.7\n" + os.urandom(args.megabytes * MiB - 9)
            cookie = {"Cookie": alex.cookie_header()}
            with (
                httpx.Client(base_url=companion.url, headers=cookie, timeout=120) as client,
                Sampler(companion.pid) as sampler,
            ):
                started = time.monotonic()
                plan = upload_plan(client, "Bench.pdf", len(data)).json()
                size = plan["partSize"]
                urls = part_urls(client, plan)  # the page asks for each part's URL as it goes

                def put(n: int) -> None:
                    answer = httpx.put(urls[n], content=data[(n - 1) * size : n * size], timeout=120)
                    answer.raise_for_status()

                with ThreadPoolExecutor(3) as pool:  # the page sends three parts at a time
                    list(pool.map(put, sorted(urls)))
                uploaded = time.monotonic()
                done = client.post(
                    "/_hosted/api/uploads/complete", json={"key": plan["key"], "uploadId": plan["uploadId"]}
                )
                finished = time.monotonic()
            assert done.status_code == 200 and done.json()["ingested"], done.text
            assert (library / "Bench.pdf").read_bytes() == data
            megabytes = len(data) / 1e6
            after = rss_kib(companion.pid)
            print(f"multipart upload:   {plan['partCount']} parts of {size // MiB} MiB, {megabytes:.1f} MB")
            print(f"  PUTs to moto:     {uploaded - started:.2f} s, {megabytes / (uploaded - started):.1f} MB/s")
            print(f"  complete+ingest:  {finished - uploaded:.2f} s, {megabytes / (finished - uploaded):.1f} MB/s")
            print(f"  end to end:       {finished - started:.2f} s, {megabytes / (finished - started):.1f} MB/s")
            print(
                f"  peak VmRSS:       {mib(sampler.peak)}; "
                f"after: VmRSS {mib(after['VmRSS'])}, VmHWM {mib(after['VmHWM'])}"
            )
        finally:
            companion.stop()
    moto.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
