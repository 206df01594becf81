"""Injected faults, the request log and the published rate limit."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Literal

FaultKind = Literal["status", "after", "drop", "drop_after", "delay"]
_KINDS = ("status", "after", "drop", "drop_after", "delay")


@dataclass
class Fault:
    """One injected misbehaviour for requests matching `method` ("*" = any) and `path` (re.search).

    kinds: "status" answers `status` without doing the work; "after" does the work, then answers
    `status`; "drop" closes the connection without doing the work; "drop_after" does the work, then
    closes the connection; "delay" sleeps `seconds`, then handles normally. `times` matching requests
    are hit. `body` optionally replaces the default ``{"error": ...}`` body.
    """

    method: str
    path: str
    kind: FaultKind
    status: int = 500
    times: int = 1
    seconds: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"Fault.kind must be one of {_KINDS}, got {self.kind!r}")
        re.compile(self.path)

    def matches(self, method: str, path: str) -> bool:
        return (self.method == "*" or self.method.upper() == method) and re.search(self.path, path) is not None


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    status: int  # 0 while in flight and for dropped requests
    body: Any  # parsed JSON, or None


class FaultBook:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, method: str, path: str) -> Fault | None:
        """The first armed fault matching the request, with one of its `times` used up."""
        with self._lock:
            for fault in self._faults:
                if fault.times > 0 and fault.matches(method, path):
                    fault.times -= 1
                    return fault
            return None


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
    if fault.body is not None:
        return fault.body
    text, code = _STATUS_TEXT.get(fault.status, (f"injected fault {fault.status}", "unknown"))
    return {"error": text, "status": code}


class RateLimiter:
    """Token buckets per (action, app or machine) (reference §0: 1 req/s, burst 3)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}  # key -> (tokens, at)

    def allow(self, action: str, subject: str, rate: float, burst: int) -> bool:
        now = time.monotonic()
        with self._lock:
            tokens, at = self._buckets.get((action, subject), (float(burst), now))
            tokens = min(float(burst), tokens + (now - at) * rate)
            if tokens < 1.0:
                self._buckets[(action, subject)] = (tokens, now)
                return False
            self._buckets[(action, subject)] = (tokens - 1.0, now)
            return True
