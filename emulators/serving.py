"""Runs a stand-in's HTTP handler on 127.0.0.1 in a daemon thread, for tests and benchmarks."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class OwnedServer(ThreadingHTTPServer):
    """A threaded server that carries the object answering its requests (`owner`, for the handler to
    call) and stays quiet about clients that hang up, which is normal under drop and delay faults."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], owner: Any) -> None:
        super().__init__(address, handler)
        self.owner = owner

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


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
