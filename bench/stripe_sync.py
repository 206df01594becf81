"""Benchmark: a full Stripe sync of 10,000 subscriptions against the fake API over real HTTP.

Run: `.venv/bin/python -m bench.stripe_sync [--subscriptions N]`. The fake runs in a child process
so the figures are the sync's own: wall time, Stripe requests made, peak Python heap (tracemalloc,
measured on a separate run since tracing slows it) and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from billing.stripe_source import PINNED_API_VERSION, fetch_snapshot, make_client
from billing.sync import SyncSettings, run_sync
from tenants.plans import DEFAULT_PLANS
from tenants.roster import dump_roster

API_KEY = "sk_test_bench"


def _requests(url: str) -> int:
    with urllib.request.urlopen(f"{url}/_emulator/stats", timeout=10) as response:  # noqa: S310 - 127.0.0.1
        return int(json.load(response)["requests"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.stripe_sync")
    parser.add_argument("--subscriptions", type=int, default=10_000)
    args = parser.parse_args(argv)
    child = subprocess.Popen(
        [sys.executable, "-m", "emulators.stripe", "--generate", str(args.subscriptions),
         "--api-key", API_KEY, "--api-version", PINNED_API_VERSION],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert child.stdout is not None
        url = child.stdout.readline().split()[-1]
        with tempfile.TemporaryDirectory() as tmp:
            roster = Path(tmp) / "roster.yaml"
            roster.write_text(dump_roster([]), encoding="utf-8")
            settings = SyncSettings(roster=roster, plans=DEFAULT_PLANS)
            client = make_client(API_KEY, api_base=url)
            now = datetime(2026, 11, 26, tzinfo=UTC)
            rows = []
            start = time.perf_counter()
            snapshot = fetch_snapshot(client)
            fetch_seconds = time.perf_counter() - start
            del snapshot
            for label in ("first run (adds every tenant)", "second run (no change)"):
                before = _requests(url)
                start = time.perf_counter()
                summary = run_sync(settings, client, now)
                elapsed = time.perf_counter() - start
                rows.append((label, elapsed, _requests(url) - before, len(summary.report.changes), summary.written))
            tracemalloc.start()
            run_sync(settings, client, now)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            entries = roster.read_text(encoding="utf-8").count("\n- id:") + 1
    finally:
        if child.stdin:
            child.stdin.close()
        child.wait(timeout=10)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"Stripe sync of {args.subscriptions} subscriptions (fake API on 127.0.0.1, page size 100)")
    for label, elapsed, requests, changes, written in rows:
        print(f"  {label:<30} {elapsed:6.2f} s  {requests:4d} requests  {changes:5d} changes  written={written}")
    print(f"  of which listing + SDK objects alone: {fetch_seconds:.2f} s (the rest is roster YAML load/dump)")
    print(f"  roster entries: {entries}")
    print(f"  peak Python heap during a sync (tracemalloc): {peak / 1024 / 1024:.1f} MiB")
    print(f"  peak RSS of the sync process: {rss_mb:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
