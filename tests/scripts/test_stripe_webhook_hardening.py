"""The webhook server over raw sockets: stalled clients are dropped, a cap holds, every malformed request
gets an HTTP error (and the log no traceback), and the CLI refuses a bad or busy port in one line."""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import stripe

from billing.report import Report, RunSummary
from billing.webhook import WebhookHandler
from scripts.stripe_webhook import Limits, WebhookServer, main, make_server
from tests.billing.support import API_KEY

SECRET = "whsec_hardening_fixture"
TIMEOUT = 0.5


class Syncs:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> RunSummary:
        self.calls += 1
        return RunSummary(Report(), "roster.yaml", "2026-11-26T00:00:00+00:00", False, False)


def serve(limits: Limits) -> Iterator[tuple[WebhookServer, Syncs]]:
    syncs = Syncs()
    server = make_server(WebhookHandler(SECRET, syncs), limits=limits)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server, syncs
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def server() -> Iterator[tuple[WebhookServer, Syncs]]:
    yield from serve(Limits(read_timeout_s=TIMEOUT, max_connections=8))


def connect(server: WebhookServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=5)
    return sock


def exchange(server: WebhookServer, raw: bytes) -> str:
    """Send raw bytes, return everything the server answers before it closes."""
    with connect(server) as sock:
        sock.sendall(raw)
        with sock.makefile("rb") as answer:
            return answer.read().decode("utf-8", "replace")


def status_of(answer: str) -> int:
    assert answer.startswith("HTTP/1."), repr(answer)
    return int(answer.split()[1])


def signed_post(body: bytes, *, extra: str = "") -> bytes:
    header = stripe.WebhookSignature.generate_signature_header(body.decode("utf-8", "replace"), SECRET)
    head = (
        f"POST /webhook HTTP/1.1\r\nHost: x\r\nStripe-Signature: {header}\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    )
    return head.encode("latin-1") + body


def valid_get(server: WebhookServer) -> int:
    return status_of(exchange(server, b"GET /webhook HTTP/1.1\r\nHost: x\r\n\r\n"))


STALLS = {
    "nothing": b"",
    "half a request line": b"POST /web",
    "headers not ended": b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Len",
    "body short": b'POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"id":',
}


@pytest.mark.parametrize("sent", STALLS.values(), ids=STALLS.keys())
def test_webhook_server_drops_a_stalled_connection_after_the_read_timeout(server, sent, capfd):
    srv, syncs = server
    started = time.monotonic()
    with connect(srv) as sock:
        sock.sendall(sent)
        sock.settimeout(5)
        leftover = sock.recv(65536)  # b"" (closed) or an error answer; never a hang
    assert time.monotonic() - started < TIMEOUT + 2.0
    assert not leftover or status_of(leftover.decode()) >= 400
    assert syncs.calls == 0
    assert "Traceback" not in capfd.readouterr().err


def test_webhook_server_drops_a_client_that_trickles_bytes(server):
    """A byte every 50 ms beats a per-read timeout for ever; the whole request has the deadline."""
    srv, _ = server
    started = time.monotonic()
    dropped_after = None
    with connect(srv) as sock:
        for byte in b"POST /webhook HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200:
            readable, _, _ = select.select([sock], [], [], 0.05)
            try:
                if readable:  # the server answered or closed: either way it let go
                    dropped_after = time.monotonic() - started
                    break
                sock.sendall(bytes([byte]))
            except OSError:
                dropped_after = time.monotonic() - started
                break
    assert dropped_after is not None and dropped_after < TIMEOUT + 1.0


def test_webhook_server_keeps_serving_while_connections_stall(server):
    srv, _ = server
    stalled = [connect(srv) for _ in range(5)]
    try:
        for sock, sent in zip(stalled, [*STALLS.values(), b"POST"], strict=False):
            sock.sendall(sent)
        started = time.monotonic()
        assert valid_get(srv) == 405
        assert time.monotonic() - started < TIMEOUT  # not after the stalled ones time out
    finally:
        for sock in stalled:
            sock.close()


def wait_for(condition, what: str, timeout: float = 3.0) -> None:
    """Polls a condition the server reports (not a timer): passes as soon as it holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        threading.Event().wait(0.01)


def test_webhook_server_answers_503_beyond_its_connection_cap_without_blocking():
    for srv, _ in serve(Limits(read_timeout_s=3.0, max_connections=2)):
        held = [connect(srv) for _ in range(2)]
        try:
            wait_for(lambda srv=srv: srv.connections_in_use == 2, "both connections to hold a slot")
            started = time.monotonic()
            assert valid_get(srv) == 503
            assert time.monotonic() - started < 1.0
        finally:
            for sock in held:
                sock.close()
        wait_for(lambda srv=srv: srv.connections_in_use == 0, "the held slots to come back")
        assert valid_get(srv) == 405


def head(lines: str, body: bytes = b"") -> bytes:
    return f"POST /webhook HTTP/1.1\r\nHost: x\r\n{lines}\r\n".encode() + body


MALFORMED_FRAMING = {
    "Arabic-Indic digits": (head("Content-Length: \u0661\u0662\r\n".encode().decode("latin-1")), 400),
    "plus sign": (head("Content-Length: +5\r\n", b"{}{}{"), 400),
    "two numbers": (head("Content-Length: 5 5\r\n", b"{}{}{"), 400),
    "hex": (head("Content-Length: 0x10\r\n"), 400),
    "negative": (head("Content-Length: -1\r\n"), 400),
    "underscore": (head("Content-Length: 1_0\r\n"), 400),
    "superscript two": (head("Content-Length: \u00b2\r\n"), 400),
    "empty": (head("Content-Length: \r\n"), 400),
    "huge": (head("Content-Length: 99999999999999999999999999\r\n"), 413),
    "over the cap": (head(f"Content-Length: {2 * 1024 * 1024}\r\n"), 413),
    "duplicated": (head("Content-Length: 2\r\nContent-Length: 2\r\n", b"{}"), 400),
    "conflicting": (head("Content-Length: 2\r\nContent-Length: 3\r\n", b"{}"), 400),
    "missing": (head(""), 411),
    "chunked": (head("Transfer-Encoding: chunked\r\n", b"2\r\n{}\r\n0\r\n\r\n"), 411),
    "chunked with length": (head("Transfer-Encoding: chunked\r\nContent-Length: 2\r\n", b"{}"), 411),
    "header line too long": (head(f"X-Long: {'a' * 70000}\r\nContent-Length: 0\r\n"), 431),
    "too many headers": (head("".join(f"X-{i}: v\r\n" for i in range(150)) + "Content-Length: 0\r\n"), 431),
    "request line garbage": (b"POST /webhook HTTP/1.1 \x00\x01 extra\r\n\r\n", 400),
    "bad HTTP version": (b"POST /webhook HTTP/1.x\r\n\r\n", 400),
    "unknown HTTP version": (b"POST /webhook HTTP/9.9\r\n\r\n", 505),
    "unsupported method": (b"BREW /webhook HTTP/1.1\r\nHost: x\r\n\r\n", 501),
}


@pytest.mark.parametrize(("raw", "status"), MALFORMED_FRAMING.values(), ids=MALFORMED_FRAMING.keys())
def test_webhook_server_answers_malformed_framing_with_an_http_error(server, capfd, raw, status):
    srv, syncs = server
    assert status_of(exchange(srv, raw)) == status
    assert syncs.calls == 0
    assert "Traceback" not in capfd.readouterr().err
    assert valid_get(srv) == 405  # and it still serves


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


MALFORMED_BODIES = {
    "deeply nested array": nested(100_000),
    "deeply nested object": b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    "invalid UTF-8": b'{"id": "evt_\xff\xfe", "type": "customer.updated"}',
    "not JSON": b"id=evt_1&type=customer.updated",
    "a list": b'[{"id": "evt_1", "type": "customer.updated"}]',
    "a string": b'"customer.updated"',
    "a number": b"42",
    "null": b"null",
    "id a number": b'{"id": 1, "type": "customer.updated"}',
    "type a list": b'{"id": "evt_1", "type": ["customer.updated"]}',
    "type an object": b'{"id": "evt_1", "type": {"customer.updated": 1}}',
    "id null": b'{"id": null, "type": "customer.updated"}',
    "id empty": b'{"id": "", "type": "customer.updated"}',
    "type missing": b'{"id": "evt_1"}',
    "integer over the digit limit": b'{"id": "evt_1", "type": "customer.updated", "n": 1' + b"0" * 5000 + b"}",
}


@pytest.mark.parametrize("body", MALFORMED_BODIES.values(), ids=MALFORMED_BODIES.keys())
def test_webhook_server_answers_400_to_a_signed_body_that_is_not_a_stripe_event(server, capfd, body):
    srv, syncs = server
    answer = exchange(srv, signed_post(body))
    assert status_of(answer) == 400, answer
    assert syncs.calls == 0
    assert "Traceback" not in capfd.readouterr().err


def test_webhook_server_still_syncs_a_good_event(server):
    srv, syncs = server
    body = json.dumps({"id": "evt_ok", "type": "customer.updated"}).encode()
    assert status_of(exchange(srv, signed_post(body))) == 200
    assert syncs.calls == 1


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("STRIPE_API_KEY", API_KEY)


@pytest.mark.parametrize("port", ["abc", "-1", "65536", "99999999999999999999", "\u0661\u0662", "+80", "80.0", ""])
def test_webhook_main_refuses_a_bad_port_in_one_line(env, capfd, tmp_path, port):
    assert main(["--roster", str(tmp_path / "r.yaml"), "--port", port]) == 2  # a usage error, returned
    err = capfd.readouterr().err
    assert "--port" in err and "Traceback" not in err


def test_webhook_main_refuses_a_busy_port_in_one_line(env, capfd, tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["--roster", str(tmp_path / "r.yaml"), "--port", str(port)]) == 2
    err = capfd.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in err and "Traceback" not in err
    assert len([line for line in err.splitlines() if "error" in line]) == 1


@pytest.mark.parametrize("host", ["127.0.0.1\x00", "999.1.1.1.1:"])
def test_webhook_main_refuses_a_host_it_cannot_bind_in_one_line(env, capfd, tmp_path, host):
    assert main(["--roster", str(tmp_path / "r.yaml"), "--port", "0", "--host", host]) == 2
    err = capfd.readouterr().err
    assert "cannot listen on" in err and "Traceback" not in err


@pytest.mark.parametrize(("name", "value"), [("--api-base", "127.0.0.1:12111"), ("STRIPE_API_BASE", "http://a b")])
def test_webhook_main_refuses_a_malformed_stripe_api_base(env, monkeypatch, capfd, tmp_path, name, value):
    argv = ["--roster", str(tmp_path / "r.yaml"), "--port", "0"]
    if name.startswith("--"):
        argv += [name, value]
    else:
        monkeypatch.setenv(name, value)
    assert main(argv) == 2
    err = capfd.readouterr().err
    assert name in err and "Traceback" not in err
