"""Fake clocks for the Fly client, rate limiter and Deadline.

`FakeTime`: one caller; sleeping advances it, nothing waits. `SharedTime`: many threads and an emulator
on one virtual clock, moved on when every thread is asleep.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from emulators.clock import FakeClock

T = TypeVar("T")


class FakeTime:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class SharedTime:
    """One virtual clock for the Fly clients of many threads and an emulator on a FakeClock.

    A client's `sleep` blocks until the clock reaches its end; `run()` moves the clock to the earliest end
    whenever every running job is asleep, so concurrent waits overlap as in real time and nothing waits on
    the wall clock. The emulator must not wait on its clock itself (instant transitions and app
    visibility, no "delay" faults): `run()` cannot tell a request blocked there from one being served.
    """

    def __init__(self, emulator_clock: FakeClock) -> None:
        self._emulator_clock = emulator_clock
        self._cond = threading.Condition()
        self._wakes: list[float] = []  # the end of each sleep in progress
        self._running = 0
        self._finished = 0

    def clock(self) -> float:
        return self._emulator_clock.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        with self._cond:
            wake = self.clock() + seconds
            self._wakes.append(wake)
            self._cond.notify_all()
            self._cond.wait_for(lambda: self.clock() >= wake)
            self._wakes.remove(wake)
            self._cond.notify_all()

    def run(self, jobs: Sequence[Callable[[], T]], workers: int, stuck_after: float = 120.0) -> list[T]:
        """Run `jobs` on `workers` threads; their results in order (a job's exception is raised here).

        `stuck_after` bounds how long (real seconds) the jobs may go without finishing or all sleeping.
        """

        def job_of(job: Callable[[], T]) -> T:
            with self._cond:
                self._running += 1
            try:
                return job()
            finally:
                with self._cond:
                    self._running -= 1
                    self._finished += 1
                    self._cond.notify_all()

        def all_done() -> bool:
            return self._finished == len(jobs)

        def all_asleep() -> bool:
            # Every sleeper whose end has come has woken and left, so the earliest end is still ahead.
            return 0 < self._running == len(self._wakes) and min(self._wakes) > self.clock()

        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(job_of, job) for job in jobs]
            with self._cond:
                while not all_done():
                    if not self._cond.wait_for(lambda: all_done() or all_asleep(), stuck_after):
                        raise TimeoutError(f"{self._running} jobs neither finished nor all asleep")
                    if not all_done():
                        self._emulator_clock.advance(min(self._wakes) - self.clock())
                        self._cond.notify_all()
        return [future.result() for future in futures]
