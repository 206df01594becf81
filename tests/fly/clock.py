"""A fake monotonic clock for the Fly client, rate limiter and Deadline: sleeping advances it, nothing waits."""

from __future__ import annotations


class FakeTime:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
