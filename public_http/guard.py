"""The ASGI guard in front of a public app: request slots per pool and per client, and the body rules.

Every request belongs to a pool (by path: the Stripe webhook, the public pages, health), and a pool
holds at most `total` requests at once (503 beyond, with Retry-After) and at most `per_client` of
one client's (429 beyond). A client is `Fly-Client-IP` when it is an address, else the socket's peer,
an IPv6 one by its /64 (public_http/clients.py). Pools never share slots: a flood of the public form
cannot take the webhook's, nor the reverse.

The body is read here, whole, before the app sees the request, by one rule: a body needs a
Content-Length (411; Transfer-Encoding is refused with 411 too, as no client of ours chunks), at most
the pool's `max_body` (413, before a byte is read), all of it within `body_timeout_s` of the head
(408). An answer sent before the body was read closes the connection. A request the app fails on gets
a 500 and one log line, never a traceback. One log line per request: client, method, raw path (never
the query, which may carry an email) and status.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from public_http.clients import client_address, client_key

BODY_TIMEOUT_S = 10.0
# The request line and headers together. h11 enforces its cap only on a head still incomplete after a read,
# so a bigger one that arrives in one read would pass: the guard measures the parsed head too.
MAX_HEAD_BYTES = 16 * 1024
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_MAX_DIGITS = 12
_VERSIONS = frozenset({"1.0", "1.1"})


@dataclass(frozen=True)
class Pool:
    name: str
    total: int  # requests in flight in the pool, every client together; 503 beyond
    per_client: int  # requests in flight of one client; 429 beyond
    max_body: int = 0  # bytes; 413 beyond (0: no body taken)


class Slots:
    """Requests in flight per pool and per (pool, client); tests wait on it from their own thread."""

    def __init__(self) -> None:
        self._pools: dict[str, int] = {}
        self._clients: dict[tuple[str, str], int] = {}
        self._changed = threading.Condition()

    def take(self, pool: Pool, client: str) -> int | None:
        """None when a slot was taken; else the status to refuse with (503 pool full, 429 client full)."""
        with self._changed:
            if self._pools.get(pool.name, 0) >= pool.total:
                return 503
            if self._clients.get((pool.name, client), 0) >= pool.per_client:
                return 429
            self._pools[pool.name] = self._pools.get(pool.name, 0) + 1
            self._clients[(pool.name, client)] = self._clients.get((pool.name, client), 0) + 1
            self._changed.notify_all()
            return None

    def give_back(self, pool: Pool, client: str) -> None:
        with self._changed:
            self._pools[pool.name] -= 1
            key = (pool.name, client)
            self._clients[key] -= 1
            if not self._clients[key]:
                del self._clients[key]
            self._changed.notify_all()

    def in_use(self, pool: str) -> int:
        with self._changed:
            return self._pools.get(pool, 0)

    def wait_for(self, predicate: Callable[[Slots], bool], timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: predicate(self), timeout)


class _Refusal(Exception):
    def __init__(self, status: int, message: str, *headers: tuple[bytes, bytes]) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers


class _Gone(Exception):
    """The client went away before its body arrived: nothing to answer."""


class RequestGuard:
    """ASGI middleware: `pool_of(path)` names the request's pool, one of `pools`."""

    def __init__(
        self,
        app: ASGIApp,
        pools: tuple[Pool, ...],
        pool_of: Callable[[str], str],
        *,
        name: str,
        body_timeout_s: float = BODY_TIMEOUT_S,
        max_head_bytes: int = MAX_HEAD_BYTES,
    ) -> None:
        self.app = app
        self.pools = {pool.name: pool for pool in pools}
        self.pool_of = pool_of
        self.name = name
        self.body_timeout_s = body_timeout_s
        self.max_head_bytes = max_head_bytes
        self.slots = Slots()

    def _log(self, message: str) -> None:
        sys.stderr.write(f"{self.name}: {message}\n")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        peer = scope["client"][0] if scope.get("client") else ""
        client = client_key(client_address(headers, peer))
        pool = self.pools[self.pool_of(scope["path"])]
        route = f'{client} "{scope["method"]} {scope["raw_path"].decode("ascii", "replace")}"'
        answer = _Answer(send)
        bad_head = self._bad_head(scope)
        if bad_head is not None:
            await answer.error(bad_head.status, str(bad_head), close=True)
            self._log(f"{route} {bad_head.status} ({bad_head})")
            return
        refused = self.slots.take(pool, client)
        if refused is not None:
            why = "too many requests from your address" if refused == 429 else "too busy; try again"
            await answer.error(refused, why, (b"retry-after", b"1"), close=True)
            self._log(f"{route} {refused} ({pool.name} slots)")
            return
        try:
            await self._serve(scope, receive, answer, headers, pool)
        except _Gone:
            answer.status = answer.status or 499
        except Exception as exc:  # a bug must still answer, in one log line
            self._log(f"{route} failed: {type(exc).__name__}")
            if not answer.started:
                await answer.error(500, "internal error", close=True)
        finally:
            self.slots.give_back(pool, client)
        self._log(f"{route} {answer.status}")

    def _bad_head(self, scope: Scope) -> _Refusal | None:
        if scope.get("http_version") not in _VERSIONS:  # h11 parses any digit.digit; only 1.x is HTTP/1
            return _Refusal(400, f"unsupported HTTP version {scope.get('http_version')}")
        size = len(scope["raw_path"]) + len(scope["query_string"])
        size += sum(len(name) + len(value) + 4 for name, value in scope["headers"])
        if size > self.max_head_bytes:
            return _Refusal(431, f"request head over {self.max_head_bytes} bytes")
        return None

    async def _serve(
        self, scope: Scope, receive: Receive, answer: _Answer, headers: dict[str, str], pool: Pool
    ) -> None:
        try:
            body = await self._body(scope["method"], headers, receive, pool)
        except _Refusal as refusal:
            await answer.error(refusal.status, str(refusal), *refusal.headers, close=True)
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body, only http.disconnect

        await self.app(scope, replay, answer.send)

    async def _body(self, method: str, headers: dict[str, str], receive: Receive, pool: Pool) -> bytes:
        if "transfer-encoding" in headers:
            raise _Refusal(411, "Transfer-Encoding is not accepted; send a Content-Length")
        raw = headers.get("content-length")
        if raw is None:
            if method in _BODY_METHODS:
                raise _Refusal(411, "Content-Length is required")
            return b""
        # h11 has checked the value is digits and that repeated values agree; a long one is over any cap
        # (and int() refuses more than 4,300 digits).
        if not raw.isdigit() or len(raw) > _MAX_DIGITS or int(raw) > pool.max_body:
            raise _Refusal(413, f"body over {pool.max_body} bytes")
        length = int(raw)
        chunks: list[bytes] = []
        received = 0
        try:
            async with asyncio.timeout(self.body_timeout_s):
                while received < length:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        raise _Gone
                    chunk = message.get("body", b"")
                    chunks.append(chunk)
                    received += len(chunk)
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            raise _Refusal(408, "the body did not arrive in time") from None
        return b"".join(chunks)


class _Answer:
    """The response side: remembers the status, and closes the connection after error answers."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.status = 0
        self.started = False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            self.status = int(message["status"])
        await self._send(message)

    async def error(self, status: int, message: str, *headers: tuple[bytes, bytes], close: bool = False) -> None:
        payload = json.dumps({"error": message}).encode("utf-8")
        extra = [*headers, (b"connection", b"close")] if close else list(headers)
        await self.send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode("ascii")),
                    (b"cache-control", b"no-store"),
                    (b"x-content-type-options", b"nosniff"),
                    *extra,
                ],
            }
        )
        await self.send({"type": "http.response.body", "body": payload, "more_body": False})
