"""Benchmark: the Stripe sync at 10,000 subscriptions against the fake API over real HTTP, with Stripe's
round trip: every full listing, and a new customer's triggered sync before (a full run) and after (an
incremental run from the cursor).

Run: `.venv/bin/python -m bench.stripe_sync [--subscriptions N] [--latency SECONDS] [--heap]`. The fake runs
in a child process (`python -m emulators.stripe --latency`, 0.3 s a request by default) so the figures are
the sync's own. A new customer signs up as on the site: a Checkout Session, then the hosted page's Pay.
Each row is one `run_sync_shards` (what the workflow runs) of a domain split into shards of
`--shard-capacity` tenants (400, the default capacity: each shard is a Cloudflare account of 500 tokens),
so every run reads every shard's roster and writes only the shards that changed: wall time, Stripe
requests, changes. Each run starts with the roster checks' cache empty, as the workflow's new process
does; the imports such a process pays first are timed apart. The last row is a full run after the
incremental ones: 0 changes shows they left the roster exactly as a full reconcile would. `--heap` adds
the peak Python heap of a full and an incremental run (tracemalloc, on separate runs since tracing
slows them).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import requests
import stripe

from billing.cursor import cursor_path
from billing.stripe_source import PINNED_API_VERSION, make_client
from billing.sync import ShardFile, ShardsSummary, ShardSyncSettings, run_sync_shards
from tenants.plans import DEFAULT_PLANS
from tenants.roster import dump_roster, forget_checked_emails, load_roster

API_KEY = "sk_test_bench"
GOAL_S = 5.0  # a new customer's triggered sync, at 10,000 subscriptions and 300 ms a request


def _requests(url: str) -> int:
    with urllib.request.urlopen(f"{url}/_emulator/stats", timeout=10) as response:  # noqa: S310 - 127.0.0.1
        return int(json.load(response)["requests"])


def sign_up(client: stripe.StripeClient, username: str) -> None:
    """What the signup site and the customer do: a Checkout Session with the name in the subscription's
    metadata, then Pay on the hosted page."""
    (price,) = client.v1.prices.list(params={"lookup_keys": ["reader_monthly"]}).data
    session = client.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "line_items": [{"price": price.id, "quantity": 1}],
            "customer_email": f"{username}@example.org",
            "subscription_data": {"metadata": {"username": username}},
            "success_url": "https://www.books.example.com/welcome?session_id={CHECKOUT_SESSION_ID}",
        }
    )
    paid = requests.post(f"{session.url}/pay", allow_redirects=False, timeout=30)
    assert paid.status_code == 303, paid.status_code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.stripe_sync")
    parser.add_argument("--subscriptions", type=int, default=10_000)
    parser.add_argument("--latency", type=float, default=0.3, help="seconds per Stripe request (default 0.3)")
    parser.add_argument("--shard-capacity", type=int, default=400, help="tenants per shard (default 400)")
    parser.add_argument("--heap", action="store_true", help="also measure the peak Python heap of each kind of run")
    args = parser.parse_args(argv)
    child = subprocess.Popen(
        [sys.executable, "-m", "emulators.stripe", "--generate", str(args.subscriptions),
         "--api-key", API_KEY, "--api-version", PINNED_API_VERSION, "--latency", str(args.latency)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    rows: list[tuple[str, float, int, int, str]] = []
    count = args.subscriptions // args.shard_capacity + 2  # shards: room for every tenant, and new ones
    heaps: list[tuple[str, float]] = []
    try:
        assert child.stdout is not None
        url = child.stdout.readline().split()[-1]
        with tempfile.TemporaryDirectory() as tmp:
            shards = tuple(
                ShardFile(f"prod-{n}", Path(tmp) / f"prod-{n}.yaml", args.shard_capacity) for n in range(count)
            )
            for shard in shards:
                shard.roster.write_text(dump_roster([]), encoding="utf-8")
            client = make_client(API_KEY, api_base=url, timeout=60.0)
            now = datetime.now(UTC)

            def settings(incremental: bool) -> ShardSyncSettings:
                return ShardSyncSettings(
                    shards=shards,
                    plans=DEFAULT_PLANS,
                    domain="books.example.com",
                    cursor=cursor_path(shards[0].roster),
                    incremental=incremental,
                )

            def timed(label: str, incremental: bool) -> ShardsSummary:
                forget_checked_emails()  # as cold as the workflow's new process
                before = _requests(url)
                start = time.perf_counter()
                summary = run_sync_shards(settings(incremental), client, now)
                elapsed = time.perf_counter() - start
                read = summary.run.read
                how = read.mode + (f" ({read.fallback})" if read.fallback else "")
                rows.append((label, elapsed, _requests(url) - before, len(summary.run.report.changes), how))
                return summary

            timed("first run: adds every tenant", incremental=False)
            timed("full run, nothing new (hourly)", incremental=False)
            sign_up(client, "newreader1")
            timed("new customer, full run (before)", incremental=False)
            sign_up(client, "newreader2")
            timed("new customer, incremental (after)", incremental=True)
            timed("incremental, nothing new", incremental=True)
            timed("full run after them: no change", incremental=False)
            if args.heap:
                for label, incremental in (("full run", False), ("incremental run", True)):
                    sign_up(client, f"heap{len(heaps)}")
                    heaps.append((label, _peak(partial(run_sync_shards, settings(incremental), client, now))))
            entries = sum(len(load_roster(shard.roster)) for shard in shards)
    finally:
        if child.stdin:
            child.stdin.close()
        child.wait(timeout=30)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"Stripe sync of {args.subscriptions} subscriptions (fake API on 127.0.0.1, {args.latency:g} s a request), "
        f"{count} shards of {args.shard_capacity}; load {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs at the end"
    )
    for label, elapsed, sent, changes, how in rows:
        print(f"  {label:<35} {elapsed:6.2f} s  {sent:4d} requests  {changes:5d} changes  read: {how}")
    new = next(elapsed for label, elapsed, *_ in rows if label.startswith("new customer, incremental"))
    imports = _import_seconds()
    print(f"  a new customer's triggered sync: {new:.2f} s (goal: <= {GOAL_S:g} s)")
    print(f"  a new process first imports the sync: {imports:.2f} s (python -m scripts.stripe_sync, not in the rows)")
    print(f"  roster entries: {entries} in {count} shards")
    for label, peak in heaps:
        print(f"  peak Python heap during the {label} (tracemalloc): {peak / 1024 / 1024:.1f} MiB")
    print(f"  peak RSS of the sync process: {rss_mb:.0f} MiB")
    return 0 if new <= GOAL_S else 1


def _import_seconds() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import scripts.stripe_sync"], check=True, timeout=120)
    return time.perf_counter() - start


def _peak(run: Callable[[], object]) -> float:
    tracemalloc.start()
    try:
        run()
        return float(tracemalloc.get_traced_memory()[1])
    finally:
        tracemalloc.stop()


if __name__ == "__main__":
    sys.exit(main())
