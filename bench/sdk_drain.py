"""The SDK's end-of-program wait on pending outputs, as pulumi 3.272 ships it and made linear.

Under the real engine each resource's outputs wait on its registration, which the engine answers one
resource at a time; the program then sits in `pulumi.runtime.stack.wait_for_rpcs` with every unresolved
output pending. This reproduces that: `outputs` pending tasks, finished one after another, drained by the
SDK's own `wait_for_rpcs`, first as shipped, then with components.sdk_drain installed.

    .venv/bin/python -m bench.sdk_drain [--outputs 10000 25000 50000 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time


async def _drain(count: int) -> float:
    from pulumi.runtime import stack
    from pulumi.runtime.settings import SETTINGS

    gates = [asyncio.Event() for _ in range(count)]

    async def output(index: int) -> None:
        await gates[index].wait()

    tasks = [asyncio.ensure_future(output(i)) for i in range(count)]
    with SETTINGS.lock:
        SETTINGS.outputs.update(tasks)

    async def release() -> None:  # the engine answering one registration after another
        for gate in gates:
            gate.set()
            await asyncio.sleep(0)

    started = time.perf_counter()
    releaser = asyncio.ensure_future(release())
    await stack.wait_for_rpcs()
    await releaser
    return time.perf_counter() - started


def _child(kind: str, count: int) -> None:
    if kind == "linear":
        from components.sdk_drain import linear_output_drain

        linear_output_drain()
    print(json.dumps({"drain": kind, "outputs": count, "seconds": round(asyncio.run(_drain(count)), 2)}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--outputs", type=int, nargs="+", default=[10_000, 25_000, 50_000, 100_000])
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child[0], int(args.child[1]))
        return 0
    for count in args.outputs:
        for kind in ("sdk", "linear"):
            out = subprocess.run(
                [sys.executable, "-m", "bench.sdk_drain", "--child", kind, str(count)],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            print(out.strip().splitlines()[-1], flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
