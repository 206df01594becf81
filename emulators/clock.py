"""The emulators' one source of time, so tests can move it instead of sleeping.

`RealClock` (the default, and what `python -m emulators.fly` runs on) reads the system clocks.
`FakeClock` stands still until a test calls `advance()`: every delay the emulators model (app
visibility, volume unbinding, machine transitions, lease expiry, the rate limiter's refill, /wait
deadlines, "delay" faults) then happens exactly when the test says.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

_POLL = 0.01  # real seconds a waiter sleeps between looks at the world (transitions are lazy)


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never goes back: for delays and deadlines."""
        ...

    def time(self) -> float:
        """Epoch seconds: for timestamps and lease expiry the API shows."""
        ...

    def wait(self, cond: threading.Condition, seconds: float) -> None:
        """With `cond` held: release it until notified or about `seconds` of this clock passed."""
        ...

    def sleep(self, seconds: float) -> None:
        """Block the calling request for `seconds` of this clock."""
        ...


class RealClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    def wait(self, cond: threading.Condition, seconds: float) -> None:
        cond.wait(min(seconds, _POLL))

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class FakeClock:
    """Time moves only by `advance()`; `blocked()` tells a test how many requests wait on it."""

    def __init__(self, start: float = 1_000.0, epoch: float = 1_800_000_000.0) -> None:
        self._start = start
        self._epoch = epoch
        self._now = start
        self._blocked = 0
        self._changed = threading.Condition()

    def monotonic(self) -> float:
        with self._changed:
            return self._now

    def time(self) -> float:
        with self._changed:
            return self._epoch + (self._now - self._start)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock does not go back")
        with self._changed:
            self._now += seconds
            self._changed.notify_all()

    def blocked(self) -> int:
        with self._changed:
            return self._blocked

    def until_blocked(self, count: int = 1, timeout: float = 10.0) -> None:
        """Return once `count` requests are blocked on this clock (a test's handshake, not a guess)."""
        with self._changed:
            if not self._changed.wait_for(lambda: self._blocked >= count, timeout):
                raise TimeoutError(f"{self._blocked} requests blocked on the clock, expected {count}")

    def wait(self, cond: threading.Condition, seconds: float) -> None:
        self._enter()
        try:
            # Polls in real time only to notice advance(); how long it waits is decided by the caller's
            # deadline on this clock, never by the real one.
            cond.wait(_POLL)
        finally:
            self._leave()

    def sleep(self, seconds: float) -> None:
        self._enter()
        try:
            with self._changed:
                until = self._now + seconds
                self._changed.wait_for(lambda: self._now >= until)
        finally:
            self._leave()

    def _enter(self) -> None:
        with self._changed:
            self._blocked += 1
            self._changed.notify_all()

    def _leave(self) -> None:
        with self._changed:
            self._blocked -= 1
            self._changed.notify_all()
