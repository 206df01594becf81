"""The Cloudflare emulator's request log and its fault answers; faults are the shared `emulators.faults.Fault`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from emulators.cloudflare import api
from emulators.cloudflare.api import Response, failure
from emulators.faults import Fault

# The request headers a test may need to see; the Authorization header is never kept, only whether it passed.
LOGGED_HEADERS = ("content-type", "cf-r2-jurisdiction", "cf-r2-storage-class", "user-agent")
DEFAULT_RETRY_AFTER = "1"  # seconds; Cloudflare sends Retry-After with every 429


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any  # parsed JSON, None for an empty body, the raw text when it is not JSON
    authorized: bool
    route: str | None = None  # the route's name; None: a request Cloudflare has no route for
    status: int = 0  # 0 while in flight and for dropped connections
    faulted: bool = False

    @property
    def unknown(self) -> bool:
        return self.route is None

    @property
    def writes(self) -> bool:
        return self.method in ("POST", "PUT", "PATCH", "DELETE")


def fault_error(status: int) -> api.ApiError:
    """Cloudflare's error for a status: 429 is code 971, a 5xx is R2's 10001 internal error."""
    if status == 429:
        return api.rate_limited()
    if status >= 500:
        return api.internal_error(status)
    if status == 403:
        return api.auth_error()
    return api.ApiError(status, 1000, f"injected fault: HTTP {status}")


def fault_response(fault: Fault) -> Response:
    status = fault.status or 500
    headers = {name.lower(): value for name, value in fault.headers.items()}
    if status == 429:
        headers.setdefault("retry-after", DEFAULT_RETRY_AFTER)
    body = fault.body if fault.body is not None else failure(fault_error(status).errors())
    return Response(status, body, headers)


@dataclass
class Quirks:
    """Deliberate departures from Cloudflare, for tests that show what the program would do if the API changed."""

    spaced_json: bool = False  # answer `{"k": "v"}` instead of Cloudflare's compact `{"k":"v"}`
