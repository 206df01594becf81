"""Cloudflare's GraphQL Analytics endpoint, only as far as `r2StorageAdaptiveGroups` (docs/reference/cloudflare.md §4).

It serves `POST <url>/graphql` on 127.0.0.1 and answers the one query shape the storage script sends: the
account's storage grouped by `bucketName`, `max { payloadSize metadataSize objectCount uploadCount }`,
filtered by `datetime_geq`/`datetime_leq`. It is not a GraphQL engine: it checks the query names the
dataset and reads the account and window from the variables.

Failure shapes follow what Cloudflare sends: a malformed Authorization header gets HTTP 400 with the v4
envelope (code 6003); an unknown token gets HTTP 403 (code 10000, "Authentication error"); a valid token
asking for another account gets HTTP 200 with a GraphQL `errors` list.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

GRAPHQL_PATH = "/client/v4/graphql"


@dataclass(frozen=True)
class BucketUsage:
    """One bucket's latest storage sample; `at` None means "inside any window" (no lag)."""

    payload_size: int
    object_count: int
    metadata_size: int = 0
    upload_count: int = 0
    at: datetime | None = None


@dataclass
class RecordedRequest:
    method: str
    path: str
    authorized: bool
    body: dict[str, Any] = field(default_factory=dict)


class CloudflareEmulator:
    """`with CloudflareEmulator(token=..., account_id=..., usage={...}) as cf: cf.url` (the v4 base URL)."""

    def __init__(self, *, token: str, account_id: str, usage: dict[str, BucketUsage] | None = None) -> None:
        self.token = token
        self.account_id = account_id
        self.usage: dict[str, BucketUsage] = dict(usage or {})
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the emulator is not running; use it as a context manager")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/client/v4"

    def __enter__(self) -> CloudflareEmulator:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="cloudflare-emulator", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def answer(self, authorization: str | None, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """(status, JSON body) for one GraphQL request."""
        if not authorization or not authorization.startswith("Bearer ") or not authorization[7:].strip():
            return 400, _v4_error(6003, "Invalid request headers", 6111, "Invalid format for Authorization header")
        if authorization[7:].strip() != self.token:
            return 403, _v4_error(10000, "Authentication error")
        query = body.get("query")
        variables = body.get("variables") or {}
        if not isinstance(query, str) or "r2StorageAdaptiveGroups" not in query:
            return 200, _graphql_error("this emulator only serves r2StorageAdaptiveGroups")
        account = variables.get("accountTag")
        if account != self.account_id:
            return 200, _graphql_error(f"accounts [{account}] are not authorized")
        try:
            start = _parse_time(variables["start"])
            end = _parse_time(variables["end"])
        except (KeyError, TypeError, ValueError):
            return 200, _graphql_error("variables start and end must be RFC 3339 times")
        rows = [
            {
                "dimensions": {"bucketName": name},
                "max": {
                    "payloadSize": usage.payload_size,
                    "metadataSize": usage.metadata_size,
                    "objectCount": usage.object_count,
                    "uploadCount": usage.upload_count,
                },
            }
            for name, usage in sorted(self.usage.items())
            if usage.at is None or start <= usage.at <= end
        ]
        data = {"viewer": {"accounts": [{"r2StorageAdaptiveGroups": rows}]}}
        return 200, {"data": data, "errors": None}


def _parse_time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise TypeError(value)
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _v4_error(code: int, message: str, chain_code: int | None = None, chain: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if chain_code is not None:
        error["error_chain"] = [{"code": chain_code, "message": chain}]
    return {"success": False, "errors": [error], "messages": [], "result": None}


def _graphql_error(message: str) -> dict[str, Any]:
    return {"data": None, "errors": [{"message": message, "path": ["viewer", "accounts"], "extensions": {}}]}


def _handler_for(emulator: CloudflareEmulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                body = None
            authorization = self.headers.get("Authorization")
            authorized = authorization == f"Bearer {emulator.token}"
            emulator.record(RecordedRequest("POST", self.path, authorized, body if isinstance(body, dict) else {}))
            if self.path.split("?")[0] != GRAPHQL_PATH:
                self._send(404, _v4_error(7000, "No route for that URI"))
            elif not isinstance(body, dict):
                self._send(400, _v4_error(1001, "request body is not a JSON object"))
            else:
                self._send(*emulator.answer(authorization, body))

        def do_GET(self) -> None:  # noqa: N802
            emulator.record(RecordedRequest("GET", self.path, False))
            self._send(404, _v4_error(7000, "No route for that URI"))

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet in tests
            return

    return Handler
