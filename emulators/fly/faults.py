"""The Fly emulator's request log, its fault answers and the published rate limit.

Faults themselves are the shared `emulators.faults.Fault`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from emulators.clock import Clock
from emulators.faults import Fault


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    status: int  # 0 while in flight and for dropped requests
    body: Any  # parsed JSON, or None


_STATUS_TEXT = {
    400: ("invalid_argument: injected bad request", "invalid_argument"),
    404: ("not_found: injected", "not_found"),
    408: ("deadline_exceeded: request timed out", "deadline_exceeded"),
    409: ("aborted: injected conflict", "aborted"),
    412: ("failed_precondition: injected", "failed_precondition"),
    429: ("rate limit exceeded", "resource_exhausted"),
    500: ("internal: injected server error", "internal"),
    503: ("unavailable: injected", "unavailable"),
}


def fault_body(fault: Fault) -> dict[str, Any]:
    """Fly's error body for the fault's status, unless the fault brings its own."""
    if fault.body is not None:
        return fault.body
    text, code = _STATUS_TEXT.get(fault.status or 500, (f"injected fault {fault.status}", "unknown"))
    return {"error": text, "status": code}


# Org-wide limits per action, for the calls whose limit is not (only) per app or machine
# (docs/reference/fly-machines-api.md §0). App deletes: Fly publishes 100/min. App creates: Fly publishes no
# number; the emulator applies the published per-action limit (1 req/s, burst 3) with the organization as
# the subject, since `POST /v1/apps` names no app or machine. `FlyEmulator(org_limits=...)` overrides either.
ORG_LIMITS: dict[str, tuple[float, int]] = {
    "apps.create": (1.0, 3),
    "apps.delete": (100 / 60, 100),
}

Bucket = tuple[tuple[str, ...], float, int]  # (key, requests per second, burst)


class RateLimiter:
    """Token buckets (docs/reference/fly-machines-api.md §0: 1 req/s, burst 3, per action per app or machine),
    on the emulator's clock. A request passes only if every bucket it counts against has a token; a refused
    request takes none."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, ...], tuple[float, float]] = {}  # key -> (tokens, at)

    def allow(self, buckets: list[Bucket]) -> tuple[str, ...] | None:
        """Take a token from each bucket and return None; or the key of the first empty one, taking none."""
        now = self._clock.monotonic()
        with self._lock:
            refilled = []
            for key, rate, burst in buckets:
                tokens, at = self._buckets.get(key, (float(burst), now))
                refilled.append((key, min(float(burst), tokens + (now - at) * rate)))
            empty = next((key for key, tokens in refilled if tokens < 1.0), None)
            for key, tokens in refilled:
                self._buckets[key] = (tokens if empty else tokens - 1.0, now)
            return empty
