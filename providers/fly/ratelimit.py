"""Client-side token buckets, one per (action, app): Fly publishes 1 req/s per action per app, burst 3.

An app create is keyed on the new app's name (its path names no app), so creates never wait on each other
here; Fly limits them org-wide at a rate it does not publish, and the client retries its 429s.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    """Classic token bucket: `rate` tokens per second, holding at most `burst`."""

    def __init__(
        self,
        rate: float,
        burst: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"token bucket needs rate > 0 and burst >= 1, got rate={rate} burst={burst}")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._tokens = burst
        self._stamp = clock()
        self._lock = threading.Lock()

    def _reserve(self) -> float:
        """Take one token (possibly going negative) and return how long the caller must wait for it."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= 1
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def acquire(self) -> float:
        """Block until a request may go out; returns the seconds slept."""
        delay = self._reserve()
        if delay > 0:
            self._sleep(delay)
        return delay


class RateLimiter:
    """A bucket per key, created on first use. Thread-safe (the provider server runs 4 workers)."""

    def __init__(
        self,
        rate: float = 1.0,
        burst: float = 3.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._buckets: dict[tuple[str, str], TokenBucket] = {}
        self._lock = threading.Lock()

    def acquire(self, action: str, app: str) -> float:
        with self._lock:
            bucket = self._buckets.get((action, app))
            if bucket is None:
                bucket = TokenBucket(self.rate, self.burst, clock=self._clock, sleep=self._sleep)
                self._buckets[(action, app)] = bucket
        return bucket.acquire()


_shared: dict[tuple[float, float, Callable[[], float], Callable[[float], None]], RateLimiter] = {}
_shared_lock = threading.Lock()


def shared_limiter(
    rate: float,
    burst: float,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> RateLimiter:
    """The provider process's limiter, so that limits hold across the clients built per call."""
    key = (rate, burst, clock, sleep)
    with _shared_lock:
        limiter = _shared.get(key)
        if limiter is None:
            _shared.clear()  # settings changed (or a test's clock): the old buckets no longer apply
            limiter = _shared[key] = RateLimiter(rate, burst, clock=clock, sleep=sleep)
        return limiter
