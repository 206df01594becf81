"""The Python SDK's end-of-program wait on pending outputs, made linear in their number.

pulumi 3.272's `runtime.stack.wait_for_rpcs` drains the program's pending outputs with
`asyncio.wait(pending, return_when=FIRST_COMPLETED)` in a loop, putting the unfinished ones back each
time: every output that completes costs a pass over all the others. Under the real engine every
resource's outputs wait on its registration, so at 400 tenants (about 100,000 outputs) that loop was
96% of the program's main thread (py-spy) and most of a `preview`'s wall time (bench.engine). Waiting
with FIRST_EXCEPTION instead returns when all are done or the first one fails, which is what the loop
needs: the same outputs are awaited and a failure is raised as early, in one pass.

Only that module's view of asyncio changes; tests/program/test_sdk_drain.py pins the SDK code this
relies on, so an SDK upgrade that rewrites the loop fails there first.
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import Awaitable, Iterable
from typing import Any

from pulumi.runtime import stack as sdk_stack


class _DrainAsyncio(types.ModuleType):
    """asyncio as `pulumi.runtime.stack` sees it: the same module, but `wait` never FIRST_COMPLETED."""

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    @staticmethod
    async def wait(
        fs: Iterable[Awaitable[Any]], *, timeout: float | None = None, return_when: str = asyncio.ALL_COMPLETED
    ) -> tuple[set[Any], set[Any]]:
        if return_when == asyncio.FIRST_COMPLETED:
            return_when = asyncio.FIRST_EXCEPTION
        return await asyncio.wait(fs, timeout=timeout, return_when=return_when)


def linear_output_drain() -> None:
    """Install the linear wait into the SDK's stack module (idempotent)."""
    if not isinstance(getattr(sdk_stack, "asyncio", None), _DrainAsyncio):
        sdk_stack.asyncio = _DrainAsyncio("asyncio")  # type: ignore[attr-defined]
