"""stripe-mock (Stripe's own API mock, pinned in tools/gotools/stripe-mock/go.mod) as a local peer.

`run_stripe_mock` starts the built binary on two free 127.0.0.1 ports and stops it afterwards. Both
listeners are bound explicitly: with `-http-addr` alone stripe-mock v0.203.0 still opens HTTPS on
`:12112`, every interface (its default HTTPS listener is only suppressed by `-http`, `-http-port`,
`-http-unix` or `-port`, not by `-http-addr`), which would also collide between concurrent runs.
Readiness is its own "Listening for HTTP at address" line, then a TCP connect.

`Wire` records (and, for the tests that prove the peer validates, rewrites) what stripe-python sends
through `stripe.RequestsClient.request`, which is where `billing.stripe_source.make_client`'s client
hands every request to `requests`.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import stripe

from tests.support.servers import free_port

# Any "valid looking" test-mode key passes stripe-mock's Authorization check (else 401).
STRIPE_MOCK_KEY = "sk_test_51StripeMockFixtureKey0000"
_READY = re.compile(r"Listening for HTTP at address: (127\.0\.0\.1:\d+)")


@dataclass(frozen=True)
class StripeMock:
    url: str  # the HTTP API base, http://127.0.0.1:PORT
    https_addr: str
    log: Path
    args: tuple[str, ...]

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def _two_ports() -> tuple[int, int]:
    first = free_port()
    second = free_port()
    while second == first:
        second = free_port()
    return first, second


@contextmanager
def run_stripe_mock(binary: Path, *extra: str, timeout: float = 60.0, attempts: int = 3) -> Iterator[StripeMock]:
    """stripe-mock on 127.0.0.1 only; retried on fresh ports when a port was taken in between."""
    with tempfile.TemporaryDirectory(prefix="stripe-mock-") as tmp:
        for attempt in range(1, attempts + 1):
            http_port, https_port = _two_ports()
            args = (
                "-http-addr", f"127.0.0.1:{http_port}", "-https-addr", f"127.0.0.1:{https_port}", *extra,
            )  # fmt: skip
            log = Path(tmp) / f"stripe-mock-{attempt}.log"
            with log.open("wb") as sink:
                process = subprocess.Popen([str(binary), *args], stdin=subprocess.DEVNULL, stdout=sink, stderr=sink)
            try:
                if _wait_ready(process, log, http_port, timeout):
                    yield StripeMock(f"http://127.0.0.1:{http_port}", f"127.0.0.1:{https_port}", log, args)
                    return
            finally:
                _stop(process)
            if attempt == attempts:
                raise RuntimeError(f"stripe-mock did not start: {' '.join(args)}\n{log.read_text(errors='replace')}")


def _wait_ready(process: subprocess.Popen[bytes], log: Path, port: int, timeout: float) -> bool:
    """True once stripe-mock listens on `port`; False if it exited (e.g. the port was taken)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        match = _READY.search(log.read_text(encoding="utf-8", errors="replace"))
        if match and match.group(1) == f"127.0.0.1:{port}":
            with socket.create_connection(("127.0.0.1", port), timeout=5):
                return True
        time.sleep(0.05)
    raise TimeoutError(f"stripe-mock not listening on 127.0.0.1:{port} after {timeout} s:\n{log.read_text()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@dataclass(frozen=True)
class Sent:
    method: str
    path: str
    query: dict[str, list[str]]
    status: int
    body: bytes

    def error(self) -> str:
        """stripe-mock's error message for a refused request ('' when it was accepted)."""
        if self.status < 400:
            return ""
        try:
            return str(json.loads(self.body)["error"]["message"])
        except (ValueError, KeyError, TypeError):
            return self.body.decode(errors="replace")


Rewrite = Callable[[str], str]


@dataclass
class Wire:
    """Every request stripe-python made through RequestsClient while installed, with stripe-mock's answer."""

    sent: list[Sent] = field(default_factory=list)
    rewrite_url: Rewrite | None = None  # changes a URL before it is sent (to prove a bad one is refused)
    rewrite_body: Callable[[Sent], bytes] | None = None  # changes an answer before stripe-python parses it

    def install(self, monkeypatch: pytest.MonkeyPatch) -> Wire:
        original = stripe.RequestsClient.request
        wire = self

        def request(
            client: stripe.RequestsClient,
            method: str,
            url: str,
            headers: Mapping[str, str] | None,
            post_data: Any = None,
        ) -> tuple[bytes, int, Mapping[str, str]]:
            if wire.rewrite_url is not None:
                url = wire.rewrite_url(url)
            body, status, response_headers = original(client, method, url, headers, post_data)
            parts = urlsplit(url)
            sent = Sent(method.upper(), parts.path, parse_qs(parts.query, keep_blank_values=True), status, body)
            wire.sent.append(sent)
            if wire.rewrite_body is not None:
                body = wire.rewrite_body(sent)
            return body, status, response_headers

        monkeypatch.setattr(stripe.RequestsClient, "request", request)
        return self

    def to(self, path: str) -> list[Sent]:
        return [s for s in self.sent if s.path == path]
