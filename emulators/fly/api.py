"""Request/response plumbing shared by the route modules: errors, parsed requests, routes."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from emulators.fly.world import World


class ApiError(Exception):
    """An error answer: HTTP `status` with body ``{"error": text, "status"?: code}``
    (docs/reference/fly-machines-api.md §1.1)."""

    def __init__(self, status: int, error: str, code: str | None = None) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.code = code

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.error}
        if self.code is not None:
            out["status"] = self.code
        return out


def bad_request(error: str) -> ApiError:
    return ApiError(400, error, "invalid_argument")


def precondition(error: str) -> ApiError:
    return ApiError(412, f"failed_precondition: {error}", "failed_precondition")


@dataclass
class Response:
    status: int
    body: Any = None  # None: empty body
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: Any
    params: dict[str, str]

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object, or 400 naming what is wrong."""
        if self.body is None:
            raise bad_request("request body is required (a JSON object)")
        if not isinstance(self.body, dict):
            raise bad_request("request body must be a JSON object")
        return self.body

    def optional_object(self) -> dict[str, Any]:
        return {} if self.body is None else self.json_object()

    def flag(self, name: str) -> bool:
        return self.query.get(name, "").lower() in ("1", "true", "yes")


Handler = Callable[["World", Request], Response]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    action: str  # rate-limit bucket name, e.g. "machines.get"
    handler: Handler
    # (requests per second, burst): docs/reference/fly-machines-api.md §0 published limit
    rate: tuple[float, int] = (1.0, 3)


def route(method: str, template: str, action: str, handler: Handler, rate: tuple[float, int] = (1.0, 3)) -> Route:
    """Build a Route from a template like ``/v1/apps/{app}/machines/{machine}``."""
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
    return Route(method, re.compile(f"^{regex}$"), action, handler, rate)


def field_of(body: dict[str, Any], name: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
    """Read an optional typed field; a wrong type is a 400 naming the field."""
    value = body.get(name, default)
    if value is None:
        return default
    if kind is int and isinstance(value, bool) or not isinstance(value, kind):
        raise bad_request(f"{name}: wrong type {type(value).__name__}")
    return value
