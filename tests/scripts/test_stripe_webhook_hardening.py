"""The webhook server over raw sockets: stalled clients are dropped, the caps hold, every malformed request
gets an HTTP error (and the log no traceback), events coalesce into few syncs, and the CLI refuses a bad
or busy port in one line."""

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
from public_http.server import PublicServer, ServerLimits
from scripts.stripe_webhook import POOL, main, make_server
from tests.billing.support import API_KEY
from tests.support.public_http import (
    connect,
    exchange,
    first_status,
    guard_cases,
    parser_cases,
    running,
    status_of,
    trickle_bodies,
)

SECRET = "whsec_hardening_fixture"
TIMEOUT = 0.5


class Syncs:
    def __init__(self, gate: threading.Event | None = None) -> None:
        self.calls = 0
        self.gate = gate  # when given, each run waits for it: a slow sync
        self.handler: WebhookHandler | None = None

    def __call__(self) -> RunSummary:
        if self.gate is not None:
            self.gate.wait(10)
        self.calls += 1
        return RunSummary(Report(), "roster.yaml", "2026-11-26T00:00:00+00:00", False, False)


def serve(
    limits: ServerLimits,
    syncs: Syncs | None = None,
    debounce_s: float = 0.0,
    body_timeout_s: float = TIMEOUT,
) -> Iterator[tuple[PublicServer, Syncs, WebhookHandler]]:
    syncs = syncs or Syncs()
    handler = WebhookHandler(SECRET, syncs, debounce_s=debounce_s)
    syncs.handler = handler
    with running(make_server(handler, limits=limits, body_timeout_s=body_timeout_s, pool=POOL)) as server:
        yield server, syncs, handler
    handler.close()


LIMITS = ServerLimits(head_timeout_s=TIMEOUT, max_connections=64, peer_connections=16, shutdown_s=1.0)


@pytest.fixture
def server() -> Iterator[tuple[PublicServer, Syncs]]:
    for srv, syncs, handler in serve(LIMITS):
        yield srv, syncs
        assert handler.runs.wait_idle(5)


def valid_get(server: PublicServer, source: str = "127.0.0.1") -> int:
    return status_of(exchange(server.port, b"GET /webhook HTTP/1.1\r\nHost: x\r\n\r\n", source))


def signed_post(body: bytes, *, extra: str = "") -> bytes:
    header = stripe.WebhookSignature.generate_signature_header(body.decode("utf-8", "replace"), SECRET)
    head = (
        f"POST /webhook HTTP/1.1\r\nHost: x\r\nStripe-Signature: {header}\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    )
    return head.encode("latin-1") + body


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
    with connect(srv.port) as sock:
        sock.sendall(sent)
        sock.settimeout(5)
        leftover = sock.recv(65536)  # b"" (closed) or an error answer; never a hang
    assert time.monotonic() - started < TIMEOUT + 2.0
    assert not leftover or status_of(leftover.decode()) >= 400
    assert syncs.calls == 0
    assert "Traceback" not in capfd.readouterr().err


def test_webhook_server_drops_a_client_that_trickles_bytes(server):
    """A byte every 50 ms beats a per-read timeout for ever; the whole request head has the deadline."""
    srv, _ = server
    started = time.monotonic()
    dropped_after = None
    with connect(srv.port) as sock:
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
    stalled = [connect(srv.port) for _ in range(5)]
    try:
        for sock, sent in zip(stalled, [*STALLS.values(), b"POST"], strict=False):
            sock.sendall(sent)
        started = time.monotonic()
        assert valid_get(srv) == 405
        assert time.monotonic() - started < TIMEOUT  # not after the stalled ones time out
    finally:
        for sock in stalled:
            sock.close()


def test_webhook_server_answers_503_beyond_its_connection_cap_without_blocking():
    for srv, _, _ in serve(ServerLimits(head_timeout_s=3.0, max_connections=2, shutdown_s=1.0)):
        held = [connect(srv.port) for _ in range(2)]
        try:
            assert srv.peers.wait_for(lambda peers: peers.count() == 2, 3), "both connections to hold a slot"
            started = time.monotonic()
            assert valid_get(srv) == 503
            assert time.monotonic() - started < 1.0
        finally:
            for sock in held:
                sock.close()
        assert srv.peers.wait_for(lambda peers: peers.count() == 0, 3), "the held slots to come back"
        assert valid_get(srv) == 405


def test_webhook_server_caps_connections_per_address_and_serves_the_others(server):
    """uvicorn alone lets one address hold every connection it allows; the hook answers 429 past 16."""
    srv, _ = server
    held = [connect(srv.port, "127.0.0.2") for _ in range(LIMITS.peer_connections)]
    try:
        assert srv.peers.wait_for(lambda peers: peers.count("127.0.0.2") == LIMITS.peer_connections, 3)
        started = time.monotonic()
        assert valid_get(srv, "127.0.0.2") == 429
        assert valid_get(srv, "127.0.0.1") == 405
        assert time.monotonic() - started < TIMEOUT  # at once, not after the held ones time out
    finally:
        for sock in held:
            sock.close()
    assert srv.peers.wait_for(lambda peers: peers.count("127.0.0.2") == 0, 3)
    assert valid_get(srv, "127.0.0.2") == 405


def test_webhook_server_survives_32_slow_bodies_from_one_address():
    """Each one-byte body holds a request slot until its deadline: one address gets 8, the rest 429 at once,
    and a signed event from anywhere else is acknowledged meanwhile (before: 503 for as long as they trickle)."""
    limits = ServerLimits(head_timeout_s=3.0, max_connections=128, peer_connections=64, shutdown_s=1.0)
    for srv, syncs, handler in serve(limits, body_timeout_s=2.0):
        slots = srv.app.slots
        held = trickle_bodies(srv.port, ["127.0.0.2"] * 32, "/webhook")
        try:
            assert slots.wait_for(lambda s: s.in_use("webhook") == POOL.per_client, 5)
            body = json.dumps({"id": "evt_during", "type": "customer.updated"}).encode()
            assert status_of(exchange(srv.port, signed_post(body))) == 200
            # answered while the slow bodies held their slots (the answer's own slot is given back just after)
            assert slots.wait_for(lambda s: s.in_use("webhook") == POOL.per_client, 5)
            assert sorted(first_status(sock) for sock in held) == [408] * 8 + [429] * 24
            assert handler.runs.wait_runs(1, 5) and syncs.calls == 1
        finally:
            for sock in held:
                sock.close()


def test_webhook_server_answers_408_to_a_body_that_does_not_arrive_in_time(server):
    srv, _ = server
    (sock,) = trickle_bodies(srv.port, ["127.0.0.3"], "/webhook")
    with sock:
        started = time.monotonic()
        assert first_status(sock) == 408
        assert time.monotonic() - started < TIMEOUT + 1.0


def test_webhook_server_acknowledges_40_events_at_once_and_coalesces_them_into_two_syncs():
    """A sync takes as long as it takes; before, each event waited for its own run (40 events: 32 runs back
    to back, 8 refused, 16 s answers). Now each is answered at once and the events share runs: the
    first run, and one for everything that arrived while it ran."""
    gate = threading.Event()
    for srv, syncs, handler in serve(LIMITS, syncs=Syncs(gate)):
        answers = []
        started = time.monotonic()
        for n in range(40):
            body = json.dumps({"id": f"evt_{n}", "type": "customer.subscription.updated"}).encode()
            answers.append(status_of(exchange(srv.port, signed_post(body))))
        elapsed = time.monotonic() - started
        gate.set()
        assert answers == [200] * 40
        assert elapsed < 5.0, elapsed
        assert handler.runs.wait_idle(10)
        assert syncs.calls == 2


def head(lines: str, body: bytes = b"") -> bytes:
    return f"POST /webhook HTTP/1.1\r\nHost: x\r\n{lines}\r\n".encode() + body


# uvicorn's h11 parser now answers the framing it owns (400 for any Content-Length that is not one plain
# number, an oversized head, a garbled request line); the app's own rules answer the rest.
MALFORMED_FRAMING: dict[str, tuple[bytes, int | tuple[int, ...]]] = {
    "Arabic-Indic digits": (head("Content-Length: \u0661\u0662\r\n".encode().decode("latin-1")), 400),
    "plus sign": (head("Content-Length: +5\r\n", b"{}{}{"), 400),
    "two numbers": (head("Content-Length: 5 5\r\n", b"{}{}{"), 400),
    "hex": (head("Content-Length: 0x10\r\n"), 400),
    "negative": (head("Content-Length: -1\r\n"), 400),
    "underscore": (head("Content-Length: 1_0\r\n"), 400),
    "superscript two": (head("Content-Length: \u00b2\r\n"), 400),
    "empty": (head("Content-Length: \r\n"), 400),
    "huge": (head("Content-Length: 99999999999999999999999999\r\n"), 400),
    "5000 digits": (head(f"Content-Length: {'9' * 5000}\r\n"), 400),
    "over the cap": (head(f"Content-Length: {2 * 1024 * 1024}\r\n"), 413),
    "duplicated": (head("Content-Length: 2\r\nContent-Length: 2\r\n", b"{}"), 400),
    "conflicting": (head("Content-Length: 2\r\nContent-Length: 3\r\n", b"{}"), 400),
    "missing": (head(""), 411),
    "chunked": (head("Transfer-Encoding: chunked\r\n", b"2\r\n{}\r\n0\r\n\r\n"), 411),
    "chunked with length": (head("Transfer-Encoding: chunked\r\nContent-Length: 2\r\n", b"{}"), 411),
    "gzip transfer coding": (head("Transfer-Encoding: gzip\r\n", b"{}"), 400),
    # h11 refuses a head a read leaves incomplete past 16 KiB (400), the guard one that came whole (431)
    "header line too long": (head(f"X-Long: {'a' * 70000}\r\nContent-Length: 0\r\n"), (400, 431)),
    "too many headers": (head("".join(f"X-{i}: v\r\n" for i in range(2000)) + "Content-Length: 0\r\n"), (400, 431)),
    "unsupported method": (b"BREW /webhook HTTP/1.1\r\nHost: x\r\n\r\n", 405),
    "GET": (b"GET /webhook HTTP/1.1\r\nHost: x\r\n\r\n", 405),
    "a garbled request line": (b"POST /webhook HTTP/1.1 \x00\x01 extra\r\n\r\n", 400),
    "an unknown HTTP version": (b"POST /webhook HTTP/9.9\r\n\r\n", 400),
    **parser_cases("/webhook"),
    **guard_cases("/webhook"),
}


@pytest.mark.parametrize(("raw", "status"), MALFORMED_FRAMING.values(), ids=MALFORMED_FRAMING.keys())
def test_webhook_server_answers_malformed_framing_with_an_http_error(server, capfd, raw, status):
    srv, syncs = server
    assert status_of(exchange(srv.port, raw)) in (status if isinstance(status, tuple) else (status,))
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
    answer = exchange(srv.port, signed_post(body))
    assert status_of(answer) == 400, answer
    assert syncs.calls == 0
    assert "Traceback" not in capfd.readouterr().err


def test_webhook_server_still_syncs_a_good_event(server):
    srv, syncs = server
    body = json.dumps({"id": "evt_ok", "type": "customer.updated"}).encode()
    assert status_of(exchange(srv.port, signed_post(body))) == 200
    assert syncs.handler is not None and syncs.handler.runs.wait_runs(1, 5)
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
