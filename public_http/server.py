"""uvicorn for a public endpoint, plus the two connection rules uvicorn does not have.

uvicorn's h11 server parses and answers bad framing itself (400), bounds the request head
(`h11_max_incomplete_event_size`), closes idle keep-alive connections (`timeout_keep_alive`) and
answers 503 past `limit_concurrency` (connections plus running requests). It has no per-client cap
and no deadline for the request head: a connection that never finishes its head is kept for ever, and
one address could hold every connection uvicorn allows. `GuardedProtocol`, a small subclass of its
h11 protocol, adds both:

- at most `peer_connections` open connections per socket peer (an IPv6 peer by its /64): the next one
  gets 429 at once and is closed, so one address never holds every slot;
- the request line and headers must arrive within `head_timeout_s` of the connection opening (or of
  the previous answer on a kept-alive connection), however slowly the bytes trickle: then 408, closed.

The body's own deadline and the per-client request slots are the ASGI guard's (public_http/guard.py).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any, ClassVar

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from public_http.clients import client_key
from public_http.guard import MAX_HEAD_BYTES

_LOGGER = "uvicorn.error"


@dataclass(frozen=True)
class ServerLimits:
    """The connection-level limits; each is explained in docs/design.md (the signup site)."""

    max_connections: int = 512  # uvicorn's limit_concurrency: open connections + running requests, 503 beyond
    # Per socket peer, 429 beyond. Fly's proxy is one peer for every client behind it, so this is above the
    # machine's hard limit of requests (components/signup.py); per-client limits behind it are the guard's.
    peer_connections: int = 128
    head_timeout_s: float = 10.0  # the whole request line and headers, from connect or the previous answer
    keep_alive_s: int = 5  # uvicorn's timeout_keep_alive: an idle kept-alive connection is closed
    max_head_bytes: int = MAX_HEAD_BYTES  # h11's cap on a head still arriving (400 beyond); the guard's on any
    backlog: int = 128
    shutdown_s: float = 10.0  # requests still running at shutdown get this long


class PeerTable:
    """Open connections per peer key. The protocol runs on the event loop; tests wait on it from theirs."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._counts: dict[str, int] = {}
        self._changed = threading.Condition()

    def take(self, key: str) -> bool:
        with self._changed:
            if self._counts.get(key, 0) >= self.cap:
                return False
            self._counts[key] = self._counts.get(key, 0) + 1
            self._changed.notify_all()
            return True

    def give_back(self, key: str) -> None:
        with self._changed:
            left = self._counts.get(key, 0) - 1
            if left > 0:
                self._counts[key] = left
            else:
                self._counts.pop(key, None)
            self._changed.notify_all()

    def count(self, key: str | None = None) -> int:
        with self._changed:
            return sum(self._counts.values()) if key is None else self._counts.get(key, 0)

    def wait_for(self, predicate: Callable[[PeerTable], bool], timeout: float) -> bool:
        """Blocks until `predicate(self)` holds (True) or `timeout` passes (False); for tests."""
        with self._changed:
            return self._changed.wait_for(lambda: predicate(self), timeout)


def _raw_answer(status: int, reason: str, message: str, *extra: str) -> bytes:
    body = message.encode("ascii")
    head = [f"HTTP/1.1 {status} {reason}", "content-type: text/plain; charset=utf-8", *extra]
    head += [f"content-length: {len(body)}", "connection: close"]
    return ("\r\n".join(head) + "\r\n\r\n").encode("ascii") + body


TOO_MANY_CONNECTIONS = _raw_answer(429, "Too Many Requests", "too many connections from your address", "retry-after: 1")
HEAD_TIMEOUT = _raw_answer(408, "Request Timeout", "the request head did not arrive in time")


class GuardedProtocol(H11Protocol):
    """uvicorn's h11 protocol with a per-peer connection cap and a request-head deadline.

    A subclass per server sets `limits` and `peers` (make_server does)."""

    limits: ClassVar[ServerLimits] = ServerLimits()
    peers: ClassVar[PeerTable] = PeerTable(ServerLimits().peer_connections)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_timer: asyncio.TimerHandle | None = None
        self._peer_key = client_key(self.client[0]) if self.client else ""
        self._counted = self.peers.take(self._peer_key)
        if not self._counted:
            logging.getLogger(_LOGGER).warning("%s: 429: too many connections from this address", self._peer_key)
            transport.write(TOO_MANY_CONNECTIONS)
            transport.close()
            return
        self._watch_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        if getattr(self, "_counted", False):
            self._counted = False
            self.peers.give_back(self._peer_key)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if not self._counted:
            return  # refused: already answered and closing
        super().data_received(data)
        self._watch_head()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch_head()

    def _waiting_for_head(self) -> bool:
        """No request of this connection is with the app: the next head is due (or the rest of a body
        nobody reads any more, after an answer that did not wait for it)."""
        theirs, ours = self.conn.their_state, self.conn.our_state
        return theirs is h11.IDLE or (ours in (h11.DONE, h11.MUST_CLOSE) and theirs is h11.SEND_BODY)

    def _watch_head(self) -> None:
        if self.transport.is_closing():
            self._stop_head_timer()
        elif self._waiting_for_head():
            if self._head_timer is None:  # measured from when the wait began, not from the last byte
                self._head_timer = self.loop.call_later(self.limits.head_timeout_s, self._head_expired)
        else:
            self._stop_head_timer()

    def _stop_head_timer(self) -> None:
        timer = getattr(self, "_head_timer", None)
        if timer is not None:
            timer.cancel()
            self._head_timer = None

    def _head_expired(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        partial, _ = self.conn.trailing_data
        if partial or self.conn.their_state is not h11.IDLE:
            logging.getLogger(_LOGGER).warning("%s: 408: the request head did not arrive in time", self._peer_key)
            self.transport.write(HEAD_TIMEOUT)
        self.transport.close()  # a connection that never sent a byte is closed without an answer


class _LineHandler(logging.Handler):
    """uvicorn's own messages as one line on stderr (looked up at each write), never a traceback."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.prefix = "server"

    def emit(self, record: logging.LogRecord) -> None:
        sys.stderr.write(f"{self.prefix}: {record.getMessage()}\n")


_HANDLER = _LineHandler()


def _quiet_uvicorn(name: str) -> None:
    _HANDLER.prefix = name
    for logger_name in (_LOGGER, "uvicorn.access", "uvicorn.asgi"):
        logger = logging.getLogger(logger_name)
        logger.handlers = [_HANDLER]
        logger.setLevel(logging.WARNING)
        logger.propagate = False


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _stopped(_signal: int, _frame: FrameType | None) -> None:
    """The handler uvicorn re-raises a stop signal to, once it has stopped: nothing more to do."""


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.ready.set()


def _bind(host: str, port: int, backlog: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:  # closed on any failure: a host with a NUL is a ValueError, which socket.create_server would leak
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock


class PublicServer:
    """One uvicorn server on a socket bound at construction (so a bad or busy address fails there,
    as OSError, ValueError, OverflowError or TypeError, and port 0 is known at once)."""

    def __init__(self, app: Any, host: str, port: int, limits: ServerLimits, name: str) -> None:
        self.app = app
        self.limits = limits
        self.peers = PeerTable(limits.peer_connections)
        protocol = type("Protocol", (GuardedProtocol,), {"limits": limits, "peers": self.peers})
        self.socket = _bind(host, port, limits.backlog)
        _quiet_uvicorn(name)
        config = uvicorn.Config(
            app,
            http=protocol,
            ws="none",
            lifespan="off",
            loop="asyncio",
            access_log=False,  # the guard logs each request's route, never its query (it may carry an email)
            log_config=None,
            proxy_headers=False,  # Fly's proxy sets Fly-Client-IP; X-Forwarded-For is never trusted
            server_header=False,
            limit_concurrency=limits.max_connections,
            backlog=limits.backlog,
            timeout_keep_alive=limits.keep_alive_s,
            timeout_graceful_shutdown=max(1, round(limits.shutdown_s)),
            h11_max_incomplete_event_size=limits.max_head_bytes,
        )
        self._server = _Server(config)

    @property
    def port(self) -> int:
        return int(self.socket.getsockname()[1])

    @property
    def ready(self) -> threading.Event:
        """Set once the server accepts connections."""
        return self._server.ready

    def serve_forever(self) -> None:
        """Serves until stop(), or SIGINT/SIGTERM when run on the main thread: uvicorn then finishes the
        requests in flight (at most `shutdown_s`) and returns, and so does this."""
        main = threading.current_thread() is threading.main_thread()
        # uvicorn raises the signal again once it has stopped, for the handler it found: a no-op one, so
        # that a stop asked for is a normal return (exit 0), not a death by signal.
        previous = {sig: signal.signal(sig, _stopped) for sig in _STOP_SIGNALS} if main else {}
        try:
            self._server.run(sockets=[self.socket])
        finally:
            self.socket.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def stop(self) -> None:
        self._server.should_exit = True


DEFAULT_LIMITS = ServerLimits()


def make_server(
    app: Any, host: str = "127.0.0.1", port: int = 0, limits: ServerLimits = DEFAULT_LIMITS, name: str = "server"
) -> PublicServer:
    return PublicServer(app, host, port, limits, name)
