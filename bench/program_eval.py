"""Program evaluation time and peak memory at 100, 1,000 and 5,000 tenants, under mocks.

Each measurement runs in a fresh process: the program (every tenant's component and children), and
as the floor the same SDK registering the same number of bare custom resources with no inputs. The
ratio is what our code costs on top of Pulumi's own per-resource work.

    .venv/bin/python -m bench.program_eval [--sizes 100 1000 5000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from typing import Any

RESOURCES_PER_TENANT = 11  # the component and its 10 children (tests/program/test_tenant.py)
# The edge of the harness's stack: component, app, IPs, two routers, the wildcard certificate, two records.
EDGE_RESOURCES = 8


def roster(count: int) -> list[Any]:
    from tenants.roster import RosterEntry

    plans = ("free", "reader", "library")
    return [
        RosterEntry(f"tenant{i:06d}", f"user{i:06d}", f"user{i}@example.org", plans[i % 3], "active")
        for i in range(count)
    ]


def _measure_program(count: int) -> dict[str, Any]:
    """The program's own work: settings, tenants, the stack outputs (no recording of registrations)."""
    import pulumi
    from pulumi.runtime import settings as pulumi_settings

    from components.program import declare_edge, declare_tenants, outputs
    from tests.program.harness import TenantMocks, settings

    tenants_roster = roster(count)
    pulumi_settings.ROOT.set(None)
    pulumi.runtime.set_mocks(TenantMocks(), project="alex-hosted", stack="bench", preview=False)

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def body() -> pulumi.Output[Any]:
        tenants = declare_tenants(settings(), tenants_roster)
        edge = declare_edge(settings(), tenants_roster)  # its map holds every tenant's hostname
        exported = pulumi.Output.from_input(outputs(tenants_roster, tenants, edge))
        return pulumi.Output.all(exported, *(t.urn for t in tenants.values()))

    started = time.perf_counter()
    body()
    return {"seconds": time.perf_counter() - started, "resources": count * RESOURCES_PER_TENANT + EDGE_RESOURCES}


def _measure_floor(count: int) -> dict[str, Any]:
    import pulumi
    from pulumi.runtime import settings as pulumi_settings

    class Bare(pulumi.CustomResource):
        def __init__(self, name: str) -> None:
            super().__init__("bench:index:Bare", name, {})

    class Mocks(pulumi.runtime.Mocks):
        def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
            return f"{args.name}-id", dict(args.inputs)

        def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], None]:
            return {}, None

    pulumi_settings.ROOT.set(None)
    pulumi.runtime.set_mocks(Mocks(), project="alex-hosted", stack="bench", preview=False)
    resources = count * RESOURCES_PER_TENANT

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def body() -> pulumi.Output[Any]:
        return pulumi.Output.all(*(Bare(f"bare{i}").urn for i in range(resources)))

    started = time.perf_counter()
    body()
    return {"seconds": time.perf_counter() - started, "resources": resources}


def _child(kind: str, count: int) -> None:
    result = (_measure_program if kind == "program" else _measure_floor)(count)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def _run(kind: str, count: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.program_eval", "--child", kind, str(count)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 5000])
    parser.add_argument("--child", nargs=2, metavar=("KIND", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child[0], int(args.child[1]))
        return 0
    columns = ("tenants", "resources", "program s", "peak MB", "floor s", "floor MB", "ratio")
    print(" ".join(f"{c:>10}" for c in columns))
    for count in args.sizes:
        program = _run("program", count)
        floor = _run("floor", count)
        ratio = program["seconds"] / floor["seconds"]
        print(
            f"{count:>10} {program['resources']:>10} {program['seconds']:>10.1f} {program['peak_rss_mb']:>10.0f}"
            f" {floor['seconds']:>10.1f} {floor['peak_rss_mb']:>10.0f} {ratio:>10.2f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
