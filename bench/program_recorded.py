"""The whole program at 1,000 tenants under the test harness: every registration recorded and counted.

Was a test (70-80 s, the suite's slowest); it checks counts and reports a time, so it is a benchmark.

    .venv/bin/python -m bench.program_recorded [--tenants 1000]
"""

from __future__ import annotations

import argparse
import sys
import time

from bench.program_eval import EDGE_RESOURCES, RESOURCES_PER_TENANT, roster
from tests.program.harness import run_program


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--tenants", type=int, default=1000)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    recording = run_program(roster(args.tenants))
    elapsed = time.perf_counter() - started
    tenants = len(recording.by_type("alex-hosted:tenant:Tenant"))
    registrations = len(recording.registrations)
    expected = args.tenants * RESOURCES_PER_TENANT + EDGE_RESOURCES + 1  # and the stack
    print(f"{args.tenants:,} tenants under mocks: {elapsed:.1f} s, {registrations:,} registrations")
    if tenants != args.tenants or registrations != expected:
        print(f"expected {args.tenants} tenants and {expected} registrations, got {tenants} and {registrations}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
