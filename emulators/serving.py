"""Runs a stand-in's HTTP handler on 127.0.0.1 in a daemon thread, for tests and benchmarks."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self, cast


class OwnedServer(ThreadingHTTPServer):
    """A threaded server whose every request goes to `serve(handler)` (OwnedHandler), and that stays
    quiet about clients that hang up, which is normal under drop and delay faults."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], serve: Callable[[BaseHTTPRequestHandler], None]) -> None:
        super().__init__(address, OwnedHandler)
        self.serve = serve

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class OwnedHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in one buffered write, without Nagle: otherwise each answer waits ~40 ms
    # for a delayed ACK.
    wbufsize = 64 * 1024
    disable_nagle_algorithm = True

    def _serve(self) -> None:
        cast(OwnedServer, self.server).serve(self)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: each owner keeps its own request log."""


def send_answer(
    h: BaseHTTPRequestHandler, status: int, headers: Iterable[tuple[str, str]], data: bytes, length: int | None = None
) -> None:
    """One answer; `length` is the Content-Length when it is not len(data) (a HEAD). A client that
    gave up (a delay fault outlived its timeout) only closes the connection."""
    try:
        h.send_response(status)
        for name, value in headers:
            h.send_header(name, value)
        h.send_header("content-length", str(len(data) if length is None else length))
        h.end_headers()
        h.wfile.write(data)
        h.wfile.flush()
    except OSError:
        h.close_connection = True


class ServerThread:
    """An OwnedServer on 127.0.0.1 in a daemon thread: `start()` is idempotent, `stop()` joins the thread."""

    def __init__(self, serve: Callable[[BaseHTTPRequestHandler], None], *, port: int = 0, name: str) -> None:
        self._serve = serve
        self._port = port
        self._name = name
        self._server: OwnedServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._server is None:
            self._server = OwnedServer(("127.0.0.1", self._port), self._serve)
            # A short poll interval keeps shutdown (once per test) quick.
            self._thread = threading.Thread(
                target=self._server.serve_forever, args=(0.05,), name=self._name, daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    @property
    def root_url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"{self._name} is not running; start it first")
        return f"http://127.0.0.1:{self._server.server_address[1]}"


class ThreadedService:
    """`start()`, `stop()` and `with` for a stand-in whose HTTP side is `self._server` (a ServerThread)."""

    _server: ServerThread

    def start(self) -> Self:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def serve_until_interrupted(
    start: Callable[[], object], stop: Callable[[], object], banner: Callable[[], Iterable[str]]
) -> int:
    """`python -m emulators.<name>`: start, print the banner's lines (it may read the bound port), serve
    until Ctrl-C, then stop."""
    start()
    for line in banner():
        print(line, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        stop()
    return 0


@contextmanager
def serve_in_thread(handler: type[BaseHTTPRequestHandler], *, port: int = 0, name: str) -> Iterator[str]:
    """Yields the base URL while the server runs; shuts it down (and joins its thread) on exit."""
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    # A short poll interval keeps shutdown (once per test) quick.
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name=name, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
