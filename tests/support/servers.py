"""Local servers for the tests: a free 127.0.0.1 port, and moto's S3 server standing in for R2."""

from __future__ import annotations

import socket

from moto.server import ThreadedMotoServer


def free_port() -> int:
    """A 127.0.0.1 port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_moto(port: int = 0) -> tuple[ThreadedMotoServer, str]:
    """moto's S3 server on 127.0.0.1 and its endpoint. moto keeps one in-process store, so every server
    started in this process (a restart on the same port, too) sees the same buckets."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    host, real_port = server.get_host_and_port()
    return server, f"http://{host}:{real_port}"
