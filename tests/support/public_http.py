"""A public_http server in a thread, and raw-socket clients for it (other loopback addresses included).

Every 127.x.y.z address is the loopback on Linux: a client bound to 127.0.0.2 is another address to
the server's per-address limits, and its traffic never leaves the machine.

    with running(make_server(app)) as server:
        assert status_of(exchange(server.port, b"GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")) == 200
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from public_http.server import PublicServer

WAIT_S = 10.0


@contextmanager
def running(server: PublicServer) -> Iterator[PublicServer]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    assert server.ready.wait(WAIT_S), "the server did not start"
    try:
        yield server
    finally:
        server.stop()
        thread.join(WAIT_S + server.limits.shutdown_s)


def connect(port: int, source: str = "127.0.0.1", timeout: float = WAIT_S) -> socket.socket:
    """A TCP connection to 127.0.0.1:port from `source` (any 127.x.y.z)."""
    return socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(source, 0))


def read_answer(sock: socket.socket) -> bytes:
    """One answer: its head and as many body bytes as its Content-Length says (everything until the
    server closes when it sends none), or what arrived before the server closed or the socket timed out."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
            head, found, body = data.partition(b"\r\n\r\n")
            if found:
                length = _content_length(head)
                if length is not None and len(body) >= length:
                    break
    except (TimeoutError, ConnectionResetError):
        pass
    return data


def _content_length(head: bytes) -> int | None:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return None


def exchange(port: int, raw: bytes, source: str = "127.0.0.1") -> str:
    """Sends raw bytes and returns the first answer (uvicorn takes a half-close for a hang-up, so the
    sending side stays open)."""
    with connect(port, source) as sock:
        sock.sendall(raw)
        return read_answer(sock).decode("utf-8", "replace")


def request(
    port: int, method: str, target: str, headers: str = "", body: bytes = b"", source: str = "127.0.0.1"
) -> str:
    """One HTTP/1.1 request with Connection: close (and Content-Length when there is a body)."""
    length = f"Content-Length: {len(body)}\r\n" if body or method == "POST" else ""
    head = f"{method} {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{length}{headers}\r\n"
    return exchange(port, head.encode("latin-1") + body, source)


def trickle_bodies(port: int, sources: list[str], path: str, headers: str = "") -> list[socket.socket]:
    """One connection per source that sends a whole head announcing 100 bytes of body, and one byte of it."""
    held = []
    for source in sources:
        sock = connect(port, source)
        head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n{headers}\r\n{{"
        sock.sendall(head.encode("latin-1"))
        held.append(sock)
    return held


def trickle_heads(port: int, sources: list[str], path: str) -> list[socket.socket]:
    """One connection per source that sends the start of a request head, and no more."""
    held = []
    for source in sources:
        sock = connect(port, source)
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nX-Slow: a".encode("latin-1"))
        held.append(sock)
    return held


def first_status(sock: socket.socket) -> int:
    """The status of the first answer on a connection (blocks until one comes, or the socket's timeout)."""
    return status_of(read_answer(sock).decode("latin-1"))


def status_of(answer: str) -> int:
    assert answer.startswith("HTTP/1."), repr(answer[:200])
    return int(answer.split()[1])


def body_of(answer: str) -> str:
    return answer.split("\r\n\r\n", 1)[1] if "\r\n\r\n" in answer else ""


def parser_cases(path: str) -> dict[str, tuple[bytes, int]]:
    """Bad requests uvicorn's h11 parser answers itself (400), whatever the app behind it, against `path`."""
    get = f"GET {path}"
    return {
        "request line garbage": (f"{get} HTTP/1.1 \x00\x01 extra\r\n\r\n".encode("latin-1"), 400),
        "request line without a version": (f"{get}\r\n\r\n".encode(), 400),
        "bad HTTP version": (f"{get} HTTP/1.x\r\nHost: x\r\n\r\n".encode(), 400),
        "no Host": (f"{get} HTTP/1.1\r\n\r\n".encode(), 400),
        "two Hosts": (f"{get} HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n".encode(), 400),
        "space in a header name": (f"{get} HTTP/1.1\r\nHost: x\r\nBad Header: v\r\n\r\n".encode(), 400),
        "NUL in a header value": (f"{get} HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n".encode("latin-1"), 400),
        "raw UTF-8 in the target": (f"{get}?\u00e9 HTTP/1.1\r\nHost: x\r\n\r\n".encode(), 400),
        "raw Latin-1 in the target": (f"{get}?\u00e9 HTTP/1.1\r\nHost: x\r\n\r\n".encode("latin-1"), 400),
    }


def guard_cases(path: str) -> dict[str, tuple[bytes, int]]:
    """Bad requests public_http's guard answers (400 for a version that is not HTTP/1.x), against `path`."""
    get = f"GET {path}"
    return {
        "unknown HTTP version": (f"{get} HTTP/9.9\r\nHost: x\r\n\r\n".encode(), 400),
        "HTTP/2 on HTTP/1": (f"{get} HTTP/2.0\r\nHost: x\r\n\r\n".encode(), 400),
        "CONNECT": (b"CONNECT elsewhere:443 HTTP/1.1\r\nHost: x\r\n\r\n", 404),
        "absolute-form target": (b"GET http://elsewhere/ HTTP/1.1\r\nHost: x\r\n\r\n", 404),
        "asterisk-form target": (b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", 404),
    }
