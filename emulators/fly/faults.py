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


class RateLimiter:
    """Token buckets per (action, app or machine) (docs/reference/fly-machines-api.md §0: 1 req/s, burst 3), on the
    emulator's clock."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}  # key -> (tokens, at)

    def allow(self, action: str, subject: str, rate: float, burst: int) -> bool:
        now = self._clock.monotonic()
        with self._lock:
            tokens, at = self._buckets.get((action, subject), (float(burst), now))
            tokens = min(float(burst), tokens + (now - at) * rate)
            if tokens < 1.0:
                self._buckets[(action, subject)] = (tokens, now)
                return False
            self._buckets[(action, subject)] = (tokens - 1.0, now)
            return True
