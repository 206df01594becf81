"""Our own deadline for loops against an eventually consistent API, on an injectable clock.

The clock and the sleep come from the caller (the FlyClient's, see `FlyClient.deadline`), so a test
drives the loop on a fake clock instead of racing real timers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

Clock = Callable[[], float]
Sleep = Callable[[float], None]


class Deadline:
    """`seconds` from now on `clock`; `sleep` never sleeps past the end."""

    def __init__(self, seconds: float, what: str, *, clock: Clock = time.monotonic, sleep: Sleep = time.sleep) -> None:
        self.seconds = seconds
        self.what = what
        self._clock = clock
        self._sleep = sleep
        self._end = clock() + seconds

    def remaining(self) -> float:
        return self._end - self._clock()

    def passed(self) -> bool:
        return self.remaining() <= 0

    def sleep(self, seconds: float) -> None:
        self._sleep(max(0.0, min(seconds, self.remaining())))


def backoff_delays(start: float = 0.1, cap: float = 1.0) -> Iterator[float]:
    """0.1, 0.2, 0.4 ... capped: the polling rhythm for eventually consistent reads."""
    delay = start
    while True:
        yield delay
        delay = min(cap, delay * 2)
