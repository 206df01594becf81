"""Benchmark: the Stripe sync over 25 shards of capacity 400, from 9,990 to 10,010 tenants.

Run: `.venv/bin/python -m bench.shards [--tenants N] [--grow K] [--shards S] [--capacity C]`. The fake
Stripe (emulators/stripe) runs in a child process, as in bench/stripe_sync.py, but with every customer
live on one plan (`user00000`..., reader_monthly, active), so N subscriptions make exactly N tenants;
the child adds K more customers when asked. The rosters are files in a temporary directory. Measured:

1. the first sync from empty rosters (every tenant new, placed across the shards) and a second one
   (no change), wall time over real HTTP, and on the same snapshot in memory: the reconcile of the
   union, the placement alone, and the check of the placed rosters;
2. each shard's count against its capacity (none over);
3. growing by K: where the new tenants land (the last shard with room), the refusal when every shard is
   full, and after adding shard S+1 to the list, the refused ones landing there.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from billing.placement import ShardSpace, place
from billing.reconcile import reconcile
from billing.stripe_source import PINNED_API_VERSION, fetch_snapshot, make_client
from billing.sync import ShardFile, ShardsSummary, ShardSyncSettings, check_placed, run_sync_shards
from emulators.stripe.server import serve
from emulators.stripe.state import StripeWorld
from tenants.plans import DEFAULT_PLANS
from tenants.roster import dump_roster, load_roster

API_KEY = "sk_test_bench"
START = 1_760_000_000
NOW = datetime(2026, 11, 26, tzinfo=UTC)
T = TypeVar("T")


def _add(world: StripeWorld, first: int, count: int) -> None:
    for n in range(first, first + count):
        cus = world.add_customer(username=f"user{n:05d}", email=f"user{n:05d}@example.com", created=START + n * 60)
        world.subscribe(cus, "reader_monthly")


def serve_fake(count: int) -> int:
    """The child: serves `count` live customers; each stdin line `grow K` adds K more; EOF ends it."""
    world = StripeWorld(api_key=API_KEY, api_version=PINNED_API_VERSION)
    _add(world, 0, count)
    total = count
    with serve(world) as (url, _):
        print(f"listening {url}", flush=True)
        for line in sys.stdin:
            extra = int(line.split()[1])
            _add(world, total, extra)
            total += extra
            print(f"customers {total}", flush=True)
    return 0


def _no_note(_: object) -> str:
    return ""


def _timed(
    label: str, rows: list[tuple[str, float, str]], fn: Callable[[], T], note: Callable[[T], str] = _no_note
) -> T:
    start = time.perf_counter()
    result = fn()
    rows.append((label, time.perf_counter() - start, note(result)))
    return result


def _cells(summary: ShardsSummary) -> dict[str, str]:
    """Each shard's `tenants/capacity`, with `(+new)` when some were added in this run."""
    return {s.stack: f"{s.tenants}/{s.capacity}" + (f" (+{s.added})" if s.added else "") for s in summary.shards}


def _spans(stacks: Sequence[str], values: dict[str, str]) -> list[tuple[str, str]]:
    """Consecutive shards with the same value, folded: [("shard-01..shard-24", "400/400"), ...]."""
    out: list[tuple[list[str], str]] = []
    for stack in stacks:
        value = values.get(stack, "-")
        if out and out[-1][1] == value:
            out[-1][0].append(stack)
        else:
            out.append(([stack], value))
    return [(group[0] if len(group) == 1 else f"{group[0]}..{group[-1]}", value) for group, value in out]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.shards")
    parser.add_argument("--tenants", type=int, default=9_990)
    parser.add_argument("--grow", type=int, default=20)
    parser.add_argument("--shards", type=int, default=25)
    parser.add_argument("--capacity", type=int, default=400)
    parser.add_argument("--serve-fake", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_fake is not None:
        return serve_fake(args.serve_fake)

    child = subprocess.Popen(
        [sys.executable, "-m", "bench.shards", "--serve-fake", str(args.tenants)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    rows: list[tuple[str, float, str]] = []
    stages: dict[str, dict[str, str]] = {}
    try:
        assert child.stdin is not None and child.stdout is not None
        url = child.stdout.readline().split()[-1]
        client = make_client(API_KEY, api_base=url)
        with tempfile.TemporaryDirectory() as tmp:
            files = []
            for index in range(1, args.shards + 2):  # one spare, listed only at the last stage
                path = Path(tmp) / f"shard-{index:02d}.yaml"
                path.write_text(dump_roster([]), encoding="utf-8")
                files.append(ShardFile(f"shard-{index:02d}", path, args.capacity))
            shards = ShardSyncSettings(shards=tuple(files[: args.shards]), plans=DEFAULT_PLANS)
            stacks = [f.stack for f in files]

            def sync(settings: ShardSyncSettings = shards) -> ShardsSummary:
                return run_sync_shards(settings, client, NOW)

            def changes(summary: ShardsSummary) -> str:
                report = summary.run.report
                written = sum(s.written for s in summary.shards)
                return f"{len(report.changes)} changes, {report.count('skipped')} skipped, {written} rosters written"

            first = _timed(f"sync, {args.tenants} new tenants (HTTP)", rows, sync, changes)
            stages[f"{args.tenants}"] = _cells(first)
            _timed("sync again, no change (HTTP)", rows, sync, changes)

            # The phases on one snapshot, in memory: from empty rosters, then from the written ones.
            snapshot = _timed("  fetch the snapshot alone (HTTP)", rows, lambda: fetch_snapshot(client))
            empty = [ShardSpace(f.stack, f.capacity, frozenset()) for f in shards.shards]
            tenants, _ = _timed(
                "  reconcile the union, from empty", rows, lambda: reconcile([], snapshot, now=NOW, plans=DEFAULT_PLANS)
            )
            placed = _timed(
                f"  place {len(tenants)} new tenants", rows, lambda: place(empty, tenants), lambda p: f"{len(p.placed)}"
            )
            _timed("  check the placed rosters", rows, lambda: check_placed(shards, placed.rosters))
            current = {f.stack: load_roster(f.roster) for f in shards.shards}
            union = [t for roster in current.values() for t in roster]
            held = [ShardSpace(f.stack, f.capacity, frozenset(t.id for t in current[f.stack])) for f in shards.shards]
            steady, _ = _timed(
                "  reconcile the union, steady", rows, lambda: reconcile(union, snapshot, now=NOW, plans=DEFAULT_PLANS)
            )
            _timed(f"  place {len(steady)} existing tenants", rows, lambda: place(held, steady))

            child.stdin.write(f"grow {args.grow}\n")
            child.stdin.flush()
            child.stdout.readline()
            grown = _timed(f"sync, +{args.grow} customers, {args.shards} shards (HTTP)", rows, sync, changes)
            stages[f"+{args.grow}"] = _cells(grown)
            refusals = [n for n in grown.run.report.notices if n.kind == "skipped"]
            more = ShardSyncSettings(shards=tuple(files), plans=DEFAULT_PLANS)
            added = _timed(f"sync, shard-{args.shards + 1:02d} added (HTTP)", rows, lambda: sync(more), changes)
            stages[f"+shard-{args.shards + 1:02d}"] = _cells(added)
            over = [s.stack for s in added.shards if s.tenants > s.capacity]
            landed = {s.stack: s.added for s in grown.shards if s.added}
            landed_last = {s.stack: s.added for s in added.shards if s.added}
    finally:
        if child.stdin:
            child.stdin.close()
        child.wait(timeout=30)

    print(f"Stripe sync over {args.shards} shards of capacity {args.capacity} (fake Stripe on 127.0.0.1)")
    for label, seconds, note in rows:
        print(f"  {label:<44} {seconds * 1000:9.1f} ms  {note}".rstrip())
    print("\nTenants per shard (folded where equal):")
    print(f"  {'stage':<14} shards")
    for stage, values in stages.items():
        cells = ", ".join(f"{span} {value}" for span, value in _spans(stacks, values))
        print(f"  {stage:<14} {cells}")
    print(f"\n  +{args.grow}: landed {landed}; refused {len(refusals)}")
    if refusals:
        print(f"    e.g. tenant {refusals[0].tenant_id} [{refusals[0].customer}]: {refusals[0].message[:90]}...")
    print(f"  with shard-{args.shards + 1:02d} listed: landed {landed_last}")
    print(f"  shards over capacity: {over or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
