"""A token bucket per client address, in bounded memory.

Each address gets `burst` tokens, refilled at `per_minute / 60` a second; a request takes one. With none
left the answer is the seconds until one is back (the 429's Retry-After). At most `max_addresses`
buckets are kept: the least recently seen goes first, which forgets a full bucket or a nearly full one,
so an attacker cycling addresses gains nothing it would not get from fresh addresses anyway.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

MAX_ADDRESSES = 10_000


class RateLimiter:
    def __init__(
        self,
        per_minute: float,
        *,
        burst: int | None = None,
        max_addresses: int = MAX_ADDRESSES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rate = per_minute / 60.0
        self._burst = float(burst if burst is not None else max(1, int(per_minute)))
        self._max = max_addresses
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # address -> (tokens, at)

    def take(self, address: str) -> int | None:
        """None when the request may go ahead; else the whole seconds to wait (at least 1)."""
        with self._lock:
            now = self._clock()
            tokens, at = self._buckets.pop(address, (self._burst, now))
            tokens = min(self._burst, tokens + (now - at) * self._rate)
            wait: int | None = None
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait = max(1, math.ceil((1.0 - tokens) / self._rate))
            self._buckets[address] = (tokens, now)
            while len(self._buckets) > self._max:
                self._buckets.popitem(last=False)
            return wait

    def __len__(self) -> int:
        with self._lock:
            return len(self._buckets)
