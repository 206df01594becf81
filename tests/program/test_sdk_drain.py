"""components.sdk_drain: the SDK's wait on pending outputs at the end of the program, in one pass.

Pending outputs are released one at a time, as the engine answers registrations; the SDK as shipped
makes a pass over every pending output each time one finishes (quadratic: bench.sdk_drain), the linear
drain waits once. The same outputs are awaited either way, and a failed one still fails the program.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest
from pulumi.runtime import stack as sdk_stack
from pulumi.runtime.settings import SETTINGS

from components import program
from components.sdk_drain import linear_output_drain

T = TypeVar("T")

RELEASED = 400


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Each asyncio.wait call made while draining, by its return_when; the SDK's module restored after."""
    monkeypatch.setattr(sdk_stack, "asyncio", asyncio)
    calls: list[str] = []
    real_wait = asyncio.wait

    async def counting_wait(fs: Any, **kwargs: Any) -> Any:
        calls.append(kwargs.get("return_when", asyncio.ALL_COMPLETED))
        return await real_wait(fs, **kwargs)

    monkeypatch.setattr(asyncio, "wait", counting_wait)
    return calls


async def drain(count: int, failing: int | None = None) -> list[asyncio.Task[None]]:
    gates = [asyncio.Event() for _ in range(count)]

    async def output(index: int) -> None:
        await gates[index].wait()
        if index == failing:
            raise RuntimeError(f"output {index} failed")

    tasks = [asyncio.ensure_future(output(i)) for i in range(count)]
    with SETTINGS.lock:
        SETTINGS.outputs.update(tasks)

    async def release() -> None:
        for gate in gates:
            gate.set()
            await asyncio.sleep(0)

    releaser = asyncio.ensure_future(release())
    try:
        await sdk_stack.wait_for_rpcs()
    finally:
        await releaser
        with SETTINGS.lock:
            SETTINGS.outputs.clear()
    return tasks


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """asyncio.run without its last step: it leaves the thread with no event loop at all, and the Pulumi
    mocks of the program tests that share this worker ask for the current one."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()


def test_the_sdk_still_drains_with_first_completed_as_the_patch_assumes() -> None:
    source = inspect.getsource(sdk_stack.wait_for_rpcs)
    assert "asyncio.wait(" in source and "asyncio.FIRST_COMPLETED" in source


def test_outputs_released_one_by_one_are_drained_in_one_wait(waits) -> None:
    linear_output_drain()
    tasks = run(drain(RELEASED))
    assert all(t.done() and t.exception() is None for t in tasks)
    assert waits == [asyncio.FIRST_EXCEPTION]


def test_the_sdk_as_shipped_waits_once_per_released_output(waits) -> None:
    # What the patch removes: the measure of the test above, on the SDK's own loop.
    run(drain(RELEASED))
    assert len(waits) >= RELEASED / 2 and set(waits) == {asyncio.FIRST_COMPLETED}


def test_a_failed_output_still_fails_the_drain(waits) -> None:
    linear_output_drain()
    with pytest.raises(RuntimeError, match="output 7 failed"):
        run(drain(RELEASED, failing=7))


def test_installing_twice_keeps_one_layer_and_the_rest_of_asyncio(waits) -> None:
    linear_output_drain()
    installed = sdk_stack.asyncio  # type: ignore[attr-defined]
    linear_output_drain()
    assert sdk_stack.asyncio is installed  # type: ignore[attr-defined]
    assert installed.sleep is asyncio.sleep and installed.FIRST_COMPLETED == asyncio.FIRST_COMPLETED


def test_the_program_installs_it_before_declaring_anything() -> None:
    body = inspect.getsource(program.run)
    assert body.index("linear_output_drain()") < body.index("pulumi.get_stack()")
