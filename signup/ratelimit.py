"""Token buckets per client, and one for all clients together, in bounded memory.

Each client gets `burst` tokens, refilled at `per_minute / 60` a second; a request takes one. A
client is an address, an IPv6 one by its /64 (public_http.clients.client_key): 200 addresses of one
/64 are one client. With `total_per_minute`, every request also takes a token from one bucket shared by
all clients, the route's ceiling, so that many addresses together cannot spend what the route costs
(Stripe calls, above all) faster than that. With no token left the answer is the seconds until one is
back (the 429's Retry-After). At most `max_addresses` client buckets are kept: the least recently seen
goes first, which forgets a full bucket or a nearly full one, so an attacker cycling addresses gains
nothing it would not get from fresh addresses anyway (and the ceiling holds whatever it cycles).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from public_http.clients import client_key

MAX_ADDRESSES = 10_000


class _Bucket:
    def __init__(self, per_minute: float, burst: float) -> None:
        self.rate = per_minute / 60.0
        self.burst = burst

    def refilled(self, state: tuple[float, float] | None, now: float) -> float:
        tokens, at = state if state is not None else (self.burst, now)
        return min(self.burst, tokens + (now - at) * self.rate)

    def wait(self, tokens: float) -> int:
        return max(1, math.ceil((1.0 - tokens) / self.rate))


class RateLimiter:
    def __init__(
        self,
        per_minute: float,
        *,
        burst: int | None = None,
        total_per_minute: float | None = None,
        max_addresses: int = MAX_ADDRESSES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = _Bucket(per_minute, float(burst if burst is not None else max(1, int(per_minute))))
        self._total = None if total_per_minute is None else _Bucket(total_per_minute, max(1.0, total_per_minute))
        self._max = max_addresses
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # client -> (tokens, at)
        self._shared: tuple[float, float] | None = None

    def take(self, address: str) -> int | None:
        """None when the request may go ahead; else the whole seconds to wait (at least 1)."""
        key = client_key(address)
        with self._lock:
            now = self._clock()
            tokens = self._client.refilled(self._buckets.pop(key, None), now)
            shared = self._total.refilled(self._shared, now) if self._total is not None else 1.0
            wait: int | None = None
            if tokens < 1.0:
                wait = self._client.wait(tokens)
            elif shared < 1.0 and self._total is not None:
                wait = self._total.wait(shared)  # the route's ceiling: the client keeps its token
            else:
                tokens -= 1.0
                shared -= 1.0
            self._buckets[key] = (tokens, now)
            if self._total is not None:
                self._shared = (shared, now)
            while len(self._buckets) > self._max:
                self._buckets.popitem(last=False)
            return wait

    def __len__(self) -> int:
        with self._lock:
            return len(self._buckets)
