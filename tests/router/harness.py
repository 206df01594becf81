"""Runs the real edge router (`node image/router/server.js`) as a subprocess on 127.0.0.1.

Shared with bench/router_reload.py: `write_map(...)` writes a routing map (plain or gzipped JSON, put in
place with a rename as the program does), `start_router(...)` gives a running `Router` once its health
check answers, `run_until_exit(...)` runs one that is expected to refuse to start.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support.node_process import NodeProcess, spawn, wait_healthy
from tests.support.poll import wait_until
from tests.support.requires import missing
from tests.support.servers import free_port

REPO = Path(__file__).resolve().parents[2]
SERVER_JS = REPO / "image" / "router" / "server.js"
HEALTH_PATH = "/_edge/health"  # on the health port only (HEALTH_PORT), never on the public one

Hosts = dict[str, dict[str, str]]


def require_node() -> str:
    node = shutil.which("node")
    if node is None:
        missing("node is missing: the edge router runs on Node 20+")
    return node


def map_document(hosts: Hosts, digest: str) -> dict[str, Any]:
    return {"version": 1, "digest": digest, "hosts": hosts}


def write_map(path: Path, hosts: Hosts, digest: str, *, compress: bool = False) -> Path:
    """The map at `path`, written beside it and renamed into place, so a reader never sees half a file."""
    return write_bytes(path, json.dumps(map_document(hosts, digest)).encode(), compress=compress)


def write_bytes(path: Path, data: bytes, *, compress: bool = False) -> Path:
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_bytes(gzip.compress(data) if compress else data)
    os.replace(temp, path)
    return path


def environ(map_path: Path, port: int, health_port: int, extra: dict[str, str] | None = None) -> dict[str, str]:
    # The file watcher is off unless a test asks for it: reloads then happen only on the test's SIGHUP.
    env = {"PATH": os.environ["PATH"], "PORT": str(port), "HOST": "127.0.0.1", "EDGE_MAP": str(map_path)}
    env.update({"HEALTH_PORT": str(health_port), "EDGE_WATCH_MS": "0"})
    env.update(extra or {})
    return env


@dataclass
class Router(NodeProcess):
    """The router as a running process: NodeProcess (its public port), plus its health port, signals and reloads."""

    health_port: int = 0

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.health_port}"

    def health(self) -> dict[str, Any]:
        response = httpx.get(f"{self.health_url}{HEALTH_PATH}", timeout=5)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def reload_to(self, digest: str, timeout: float = 5) -> float:
        """SIGHUP, then wait until health reports `digest`: the seconds that took."""
        started = time.monotonic()
        self.signal(signal.SIGHUP)
        while self.health()["digest"] != digest:
            if time.monotonic() - started > timeout:
                raise AssertionError(f"no reload to {digest} in {timeout} s: {self.output()}")
            time.sleep(0.002)
        return time.monotonic() - started


def two_ports() -> tuple[int, int]:
    """Two distinct free ports: the public one and the health one (the router refuses one for both)."""
    port, health_port = free_port(), free_port()
    while health_port == port:
        health_port = free_port()
    return port, health_port


def start_router(map_path: Path, log_path: Path, extra: dict[str, str] | None = None) -> Router:
    port, health_port = two_ports()
    proc, url = spawn(require_node(), SERVER_JS, environ(map_path, port, health_port, extra), port, log_path)
    router = Router(proc=proc, url=url, port=port, log_path=log_path, health_port=health_port)
    wait_healthy(router, HEALTH_PATH, "router", base_url=router.health_url)
    return router


def run_until_exit(map_path: Path, extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """A router expected to refuse to start: its exit status and output (it must exit on its own)."""
    node = require_node()
    return subprocess.run(
        [node, str(SERVER_JS)],
        env=environ(map_path, *two_ports(), extra),
        capture_output=True,
        text=True,
        timeout=10,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def raw_exchange(port: int, request: bytes, timeout: float = 5) -> tuple[int, str]:
    """Sends bytes no HTTP client would (a Host with a control character, no Host at all) and reads the
    answer until the router closes the connection: its status and the whole answer as text."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    text = b"".join(chunks).decode("utf-8", "replace")
    match = re.match(r"HTTP/1\.[01] (\d{3}) ", text)
    assert match, f"not an HTTP answer: {text[:200]!r}"
    return int(match.group(1)), text


def _tcp_queues() -> dict[tuple[int, int], tuple[int, int]]:
    """(local port, remote port) -> (bytes not yet acknowledged, bytes not yet read), from /proc/net/tcp."""
    queues = {}
    for line in Path("/proc/net/tcp").read_text(encoding="ascii").splitlines()[1:]:
        fields = line.split()
        local, remote = (int(address.rsplit(":", 1)[1], 16) for address in fields[1:3])
        tx, rx = (int(count, 16) for count in fields[4].split(":"))
        queues[(local, remote)] = (tx, rx)
    return queues


def wait_read(sock: socket.socket, server_port: int, timeout: float = 5) -> None:
    """Until the server process has read every byte sent on `sock`: the client's send queue is acknowledged
    and the server's receive queue is empty (the kernel's counters; a request in flight, not a guess)."""
    client_port = sock.getsockname()[1]

    def read_all() -> bool:
        queues = _tcp_queues()
        sent, read = queues.get((client_port, server_port)), queues.get((server_port, client_port))
        return sent is not None and read is not None and sent[0] == 0 and read[1] == 0

    wait_until(read_all, f"the server on port {server_port} to read the request", timeout=timeout)
