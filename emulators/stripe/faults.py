"""Injected faults and the request log of the fake Stripe API."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any

# The bodies Stripe really sends (reference stripe.md §1.6; docs.stripe.com/error-codes).
RATE_LIMIT_BODY: dict[str, Any] = {
    "error": {
        "code": "rate_limit",
        "doc_url": "https://stripe.com/docs/error-codes/rate-limit",
        "message": "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.",
        "type": "invalid_request_error",
    }
}
SERVER_ERROR_BODY: dict[str, Any] = {
    "error": {"message": "An unknown error occurred", "type": "api_error"},
}


@dataclass
class Fault:
    """Misbehaviour for the next `times` requests whose path matches `path` (re.search).

    A fault with `status` answers that status with `body` (the real Stripe error body for 429 and
    5xx by default) and `headers`; with `status=None` it only waits `delay` seconds, then answers
    normally. `delay` also applies before an error answer. The first `after` matching requests pass
    untouched (to fail, say, the second page of a listing).
    """

    path: str = r"^/v1/"
    status: int | None = 500
    times: int = 1
    after: int = 0
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        re.compile(self.path)

    def error_body(self) -> dict[str, Any]:
        if self.body is not None:
            return self.body
        return RATE_LIMIT_BODY if self.status == 429 else SERVER_ERROR_BODY


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    status: int


class FaultBook:
    """Faults are used up in the order they were added; the log records every request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self.log: list[RecordedRequest] = []

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.times > 0 and re.search(fault.path, path):
                    if fault.after > 0:
                        fault.after -= 1
                        continue
                    fault.times -= 1
                    return fault
            return None

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.log.append(request)

    def count(self, path_prefix: str = "/v1/") -> int:
        with self._lock:
            return sum(1 for r in self.log if r.path.startswith(path_prefix))
