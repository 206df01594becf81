"""The fake Stripe API's request log and fault answers; faults are the shared `emulators.faults.Fault`."""

from __future__ import annotations

from typing import Any

from emulators.faults import Fault, LoggingFaultBook, RecordedRequest

# The bodies Stripe really sends (docs/reference/stripe.md §1.6; docs.stripe.com/error-codes).
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


def error_body(fault: Fault) -> dict[str, Any]:
    """Stripe's real error body for the fault's status (429 or 5xx), unless the fault brings its own."""
    if fault.body is not None:
        return fault.body
    return RATE_LIMIT_BODY if fault.status == 429 else SERVER_ERROR_BODY


class FaultBook(LoggingFaultBook[RecordedRequest]):
    """The shared fault book plus the log of every request."""

    def __init__(self) -> None:
        super().__init__("fake Stripe (it is socket-free)")

    def count(self, path_prefix: str = "/v1/") -> int:
        with self._log_lock:
            return sum(1 for r in self.log if r.path.startswith(path_prefix))
