"""SIGTERM and SIGINT stop accepting, let requests in flight finish, close idle keep-alive connections
and exit 0, within EDGE_STOP_MS at most."""

from __future__ import annotations

import signal
import socket
import subprocess
import time

import httpx
import pytest

from tests.router.conftest import StartRouter
from tests.router.harness import wait_read
from tests.support.poll import wait_until


def exit_status(proc: subprocess.Popen[bytes], timeout: float) -> int | None:
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        return None


def refused(url: str) -> bool:
    try:
        httpx.get(url, timeout=2)
    except httpx.ConnectError:
        return True
    return False


def test_sigterm_lets_a_request_in_flight_finish_then_exits_0(start: StartRouter) -> None:
    router = start()
    with socket.create_connection(("127.0.0.1", router.port), timeout=5) as sock:
        # Half a request: the router has begun reading it, so it is in flight, not idle.
        sock.sendall(b"GET /books HTTP/1.1\r\nHost: alice.example.com\r\n")
        wait_read(sock, router.port)
        router.signal(signal.SIGTERM)
        assert exit_status(router.proc, 0.5) is None, "exited with a request in flight"

        sock.sendall(b"X-Late: 1\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk

    assert answer.startswith(b"HTTP/1.1 200 OK\r\n"), answer
    assert b"\r\nfly-replay: app=ah-t0000001\r\n" in answer
    assert exit_status(router.proc, 5) == 0
    assert router.output().splitlines()[-1] == "edge: stopped"


def test_new_connections_are_refused_once_stopping(start: StartRouter) -> None:
    router = start()
    with socket.create_connection(("127.0.0.1", router.port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: alice.example.com\r\n")
        wait_read(sock, router.port)
        router.signal(signal.SIGTERM)

        wait_until(lambda: refused(f"{router.url}/_edge/health"), "new connections to be refused")
        sock.sendall(b"\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 OK")
    assert exit_status(router.proc, 5) == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_an_idle_keep_alive_connection_does_not_hold_up_the_stop(start: StartRouter, sig: signal.Signals) -> None:
    router = start()
    with httpx.Client(base_url=router.url, timeout=5) as http:
        assert http.get("/", headers={"Host": "alice.example.com"}).status_code == 200
        started = time.monotonic()

        router.signal(sig)

        assert exit_status(router.proc, 5) == 0
        assert time.monotonic() - started < 1


def test_a_request_that_never_finishes_is_cut_off_at_the_stop_bound(start: StartRouter) -> None:
    router = start(EDGE_STOP_MS="300")
    with socket.create_connection(("127.0.0.1", router.port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: alice.example.com\r\n")
        wait_read(sock, router.port)
        started = time.monotonic()

        router.signal(signal.SIGTERM)

        assert exit_status(router.proc, 5) == 0
        assert 0.25 < time.monotonic() - started < 2
    assert "still busy after 300 ms" in router.output()
