"""Cloudflare's v4 envelope, its errors and the route plumbing the route modules share.

Every answer is the v4 envelope (docs/reference/cloudflare.md §7): `{"success", "errors": [{code, message}],
"messages", "result"}`, plus `result_info` on lists. Errors carry Cloudflare's own codes; `errors()` below
names each one the emulator can answer, with the status it comes with.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from emulators.cloudflare.state import World

V4 = "/client/v4"
ID = "[0-9a-f]{32}"
_ID_PARAMS = ("account", "zone", "token", "record")


class ApiError(Exception):
    """An error answer: HTTP `status` with the envelope's `errors` [{code, message}]."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        *,
        chain: list[tuple[int, str]] | None = None,
        more: list[tuple[int, str]] | None = None,
    ) -> None:
        super().__init__(f"{code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.chain = chain or []  # the first error's `error_chain`
        self.more = more or []  # further entries of `errors`

    def errors(self) -> list[dict[str, Any]]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.chain:
            error["error_chain"] = [{"code": code, "message": message} for code, message in self.chain]
        return [error, *({"code": code, "message": message} for code, message in self.more)]


def success(result: Any, result_info: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"result": result, "success": True, "errors": [], "messages": []}
    if result_info is not None:
        body["result_info"] = result_info
    return body


def failure(errors: list[dict[str, Any]]) -> dict[str, Any]:
    return {"result": None, "success": False, "errors": errors, "messages": []}


# -- the errors Cloudflare answers, by name (codes and texts: docs/reference/cloudflare.md §7) ---------------
def no_route(path: str) -> ApiError:
    text = f"Could not route to {path}, perhaps your object identifier is invalid?"
    return ApiError(404, 7003, text, more=[(7000, "No route for that URI")])


def missing_auth() -> ApiError:
    return ApiError(400, 9106, "Missing X-Auth-Key, X-Auth-Email or Authorization headers")


def malformed_auth() -> ApiError:
    return ApiError(400, 6003, "Invalid request headers", chain=[(6111, "Invalid format for Authorization header")])


def auth_error() -> ApiError:
    return ApiError(403, 10000, "Authentication error")


def invalid_body(detail: str) -> ApiError:
    return ApiError(400, 9207, f"Request body is invalid. {detail}".strip())


def rate_limited() -> ApiError:
    return ApiError(429, 971, "Please wait and consider throttling your request speed")


def internal_error(status: int = 500) -> ApiError:
    return ApiError(status, 10001, "We encountered an internal error. Please try again.")


def bucket_exists() -> ApiError:
    return ApiError(409, 10004, "The bucket you tried to create already exists, and you own it.")


def bucket_name_invalid(name: str) -> ApiError:
    return ApiError(400, 10005, f"The specified bucket name is not valid: {name!r}")


def bucket_not_found() -> ApiError:
    return ApiError(404, 10006, "The specified bucket does not exist.")


def bucket_not_empty(name: str, account: str) -> ApiError:
    return ApiError(409, 10008, f"The bucket you tried to delete ({name}) is not empty (account {account})")


def cors_not_found() -> ApiError:
    return ApiError(404, 10059, "The CORS configuration does not exist.")


def r2_invalid(detail: str) -> ApiError:
    return ApiError(400, 10040, f"The request is not valid: {detail}")


def token_not_found() -> ApiError:
    return ApiError(404, 1000, "not found")


def token_invalid(detail: str) -> ApiError:
    return ApiError(400, 1001, detail)


def record_not_found() -> ApiError:
    return ApiError(404, 81044, "Record does not exist.")


def record_exists() -> ApiError:
    return ApiError(400, 81057, "The record already exists.")


def cname_conflict() -> ApiError:
    return ApiError(400, 81053, "An A, AAAA, or CNAME record with that host already exists.")


def dns_invalid(code: int, detail: str) -> ApiError:
    return ApiError(400, code, detail)


@dataclass
class Response:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: Any  # parsed JSON, or None for an empty body
    params: dict[str, str]

    def json_object(self) -> dict[str, Any]:
        if not isinstance(self.body, dict):
            raise invalid_body("A JSON object is expected.")
        return self.body

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def int_arg(self, name: str, default: int, low: int, high: int) -> int:
        """A whole-number query argument within [low, high]; anything else is a 400 naming it."""
        raw = self.arg(name)
        if raw is None:
            return default
        if not re.fullmatch(r"\d{1,9}", raw):
            raise invalid_body(f"{name} must be a whole number, got {raw!r}.")
        value = int(raw)
        if not low <= value <= high:
            raise invalid_body(f"{name} must be between {low} and {high}, got {value}.")
        return value


Handler = Callable[["World", Request], Response]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    name: str  # what the request log and fault matching call it, e.g. "r2.buckets.create"
    handler: Handler


def route(method: str, template: str, name: str, handler: Handler) -> Route:
    """A Route from a template under /client/v4, like ``/accounts/{account}/r2/buckets/{bucket}``.

    Account, zone, token and record identifiers are Cloudflare's 32 hex digits: a path with anything else
    there is no route of Cloudflare's (`tokens/verify` is not a token), so it is an unknown request.
    """

    def group(found: re.Match[str]) -> str:
        name = found.group(1)
        return f"(?P<{name}>{ID if name in _ID_PARAMS else '[^/]+'})"

    regex = re.sub(r"\{(\w+)\}", group, template)
    return Route(method, re.compile(f"^{re.escape(V4)}{regex}$"), name, handler)


def page_info(total: int, page: int, per_page: int) -> tuple[slice, dict[str, Any]]:
    """The slice of a page-numbered list and its `result_info` (page, per_page, count, total_count, total_pages)."""
    start = (page - 1) * per_page
    count = max(0, min(per_page, total - start))
    pages = max(1, -(-total // per_page))
    info = {"page": page, "per_page": per_page, "count": count, "total_count": total, "total_pages": pages}
    return slice(start, start + count), info
