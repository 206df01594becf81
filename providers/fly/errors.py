"""Errors raised by the Fly Machines API client and the Fly dynamic providers.

The tree::

    FlyError
     ├── FlyConfigError          settings missing or malformed (e.g. no API token)
     ├── FlyRequestError         no usable answer: timeout, refused or dropped connection
     ├── FlyResponseError        Fly answered 2xx with a body that is not the JSON expected (never quoted)
     ├── FlyStatusError          Fly answered 4xx/5xx; carries status, Fly's message, fly-request-id
     │    └── FlyNotFoundError   404
     └── FlyResourceError        a provider cannot converge (name held elsewhere, deadline passed, ...)

Status errors are raised in exactly one place, :func:`raise_for_status`. No error text ever holds the
API token or a secret the call sent: messages are built from the method, path, status and Fly's own
error body, and all of it goes through `common.redact.scrub` with the call's secrets (an endpoint
that echoes the request would otherwise hand them back inside its error body).
"""

from __future__ import annotations

from collections.abc import Iterable

import httpx

from common.redact import scrub

__all__ = [
    "FlyConfigError",
    "FlyError",
    "FlyNotFoundError",
    "FlyResponseError",
    "FlyRequestError",
    "FlyResourceError",
    "FlyStatusError",
    "raise_for_status",
]

_MESSAGE_LIMIT = 500


class FlyError(Exception):
    """Base of every error this package raises."""


class FlyConfigError(FlyError):
    """A setting the client needs is missing or malformed."""


class FlyResourceError(FlyError):
    """A provider operation cannot reach the desired state."""


class FlyRequestError(FlyError):
    """The request got no HTTP answer (timeout, connection refused or dropped)."""

    def __init__(self, method: str, path: str, reason: str) -> None:
        self.method = method
        self.path = path
        self.reason = reason
        super().__init__(f"Fly API {method} {path}: no answer ({reason})")


class FlyResponseError(FlyError):
    """Fly answered 2xx with a body that is not the JSON the call expects; the body is never quoted."""

    def __init__(self, method: str, path: str, status: int, size: int, what: str = "a body that is not JSON") -> None:
        self.method = method
        self.path = path
        self.status = status
        super().__init__(f"Fly API {method} {path}: HTTP {status} with {what} ({size} bytes)")


class FlyStatusError(FlyError):
    """Fly answered with an error status."""

    def __init__(self, method: str, path: str, status: int, message: str, request_id: str | None) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.message = message
        self.request_id = request_id
        super().__init__(
            f"Fly API {method} {path} failed with HTTP {status}: {message or '(no message)'}"
            f" (fly-request-id: {request_id or 'none'})"
        )


class FlyNotFoundError(FlyStatusError):
    """404: the app, machine, volume or certificate does not exist."""


def _fly_message(response: httpx.Response, secrets: list[str]) -> str:
    """Fly's error text: `{"error": ..., "message": ..., "status": ...}` or a plain body.

    Scrubbed before it is cut, so a secret straddling the limit cannot leave its first half behind.
    """
    try:
        body = response.json()
    except ValueError:
        return scrub(response.text.strip(), secrets)[:_MESSAGE_LIMIT]
    if isinstance(body, dict):
        parts = [str(body[k]) for k in ("error", "message") if body.get(k)]
        if body.get("status") and not isinstance(body.get("status"), int):
            parts.append(f"[{body['status']}]")
        if parts:
            return scrub(" ".join(parts), secrets)[:_MESSAGE_LIMIT]
    return scrub(str(body), secrets)[:_MESSAGE_LIMIT]


def raise_for_status(response: httpx.Response, secrets: Iterable[str] = ()) -> None:
    """Raise FlyStatusError (FlyNotFoundError for 404) for a 4xx/5xx answer; the only place that does.

    Every piece of text taken from the exchange is scrubbed of `secrets` (the token, values sent).
    """
    if response.status_code < 400:
        return
    hidden = list(secrets)
    request = response.request
    cls = FlyNotFoundError if response.status_code == 404 else FlyStatusError
    request_id = response.headers.get("fly-request-id")
    raise cls(
        request.method,
        scrub(request.url.path, hidden),
        response.status_code,
        _fly_message(response, hidden),
        scrub(request_id, hidden) if request_id else None,
    )
