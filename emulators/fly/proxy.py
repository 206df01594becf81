"""FlyProxy: Fly's HTTP edge over real HTTP on 127.0.0.1, sharing the emulator's world (lock, clock, machines).

Each request: read and buffer the whole body -> route the Host header to an app (proxy_routing.app_for_host) ->
choose or autostart a machine -> deliver it to the app's upstream (`serve_app`) or the built-in responder ->
if the answer carries `fly-replay`, check it and deliver the same request again, up to `max_replays` times.
The choices where Fly's docs are silent are listed in emulators/fly/__init__.py.
"""

from __future__ import annotations

import http.client
import json
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from emulators.faults import Fault, FaultBook
from emulators.fly.faults import fault_body
from emulators.fly.proxy_routing import (
    PUBLIC_IP_TYPES,
    ProxyError,
    Target,
    app_for_host,
    check_replay_target,
    claim_machine,
)
from emulators.fly.replay import REPLAY_BODY_LIMIT, Replay, ReplayError, parse_replay, replay_src
from emulators.fly.state import new_instance_id
from emulators.fly.world import DEFAULT_REGION, World
from emulators.serving import ServerThread, ThreadedService, send_answer

# Never passed on from one hop to the next (RFC 9110 §7.6.1), plus the headers the proxy itself sets.
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "host"}
)
_PROXY_SET = frozenset(
    {
        "content-length",
        "fly-client-ip",
        "fly-forwarded-port",
        "fly-region",
        "fly-request-id",
        "fly-replay-src",
        "x-forwarded-proto",
        "x-forwarded-port",
        "x-forwarded-ssl",
        "via",
    }
)
Headers = list[tuple[str, str]]


@dataclass
class ProxyHop:
    """One delivery of a proxied request to a machine."""

    app: str
    machine_id: str
    started: bool  # the proxy started this machine for the request
    status: int = 0  # what the machine answered; 0 if it never answered
    replay: str | None = None  # its fly-replay header, if any


@dataclass
class ProxiedRequest:
    """One request through the proxy, as `FlyProxy.log` keeps it."""

    method: str
    host: str
    path: str  # with the query string
    body_bytes: int
    client_ip: str
    hops: list[ProxyHop] = field(default_factory=list)
    status: int = 0  # what the client got; 0 while in flight
    error: str | None = None  # the proxy's error code when the proxy answered by itself

    @property
    def apps(self) -> list[str]:
        return [hop.app for hop in self.hops]

    @property
    def started(self) -> list[str]:
        """Ids of the machines the proxy started for this request."""
        return [hop.machine_id for hop in self.hops if hop.started]


@dataclass
class _Answer:
    status: int
    headers: Headers
    body: bytes


class FlyProxy(ThreadedService):
    """`FlyEmulator.proxy`; started and stopped with the emulator."""

    def __init__(self, world: World, port: int = 0, region: str = DEFAULT_REGION) -> None:
        self._world = world
        self.region = region  # the edge region: `fly-region` on every request
        self.max_replays = 5  # replays per request; one more fly-replay answer is a loop (508)
        self.start_timeout = 10.0  # emulator-clock seconds the proxy waits for a machine it starts
        self.upstream_timeout = 30.0  # real seconds it waits for an upstream's answer
        # Real seconds it keeps connecting to a machine it just started whose port is not listening yet.
        self.listen_timeout = 10.0
        self._upstreams: dict[str, str] = {}
        self._faults: dict[str, FaultBook] = {}
        self._lock = threading.Lock()
        self._log: list[ProxiedRequest] = []
        self._server = ServerThread(self._serve, port=port, name="fly-proxy")

    @property
    def url(self) -> str:
        return self._server.root_url

    # -- test controls -----------------------------------------------------------------------------
    def serve_app(self, app: str, upstream: str | None) -> None:
        """Every machine of `app` answers through `upstream` (a base URL on 127.0.0.1); None: the built-in
        responder again."""
        with self._lock:
            if upstream is None:
                self._upstreams.pop(app, None)
                return
            parts = urlsplit(upstream)
            if parts.scheme != "http" or parts.hostname not in ("127.0.0.1", "localhost") or parts.port is None:
                raise ValueError(f"upstream must be http://127.0.0.1:PORT, got {upstream!r}")
            self._upstreams[app] = upstream.rstrip("/")

    def inject(self, app: str, fault: Fault) -> None:
        """A machine of `app` misbehaves (`fault.path` is matched against the request path): `before_work` answers
        the fault's status instead of the upstream, `after_work` replaces the upstream's answer, `drop` is a machine
        that closes the connection (the proxy answers 502), `delay` waits on the emulator clock first."""
        with self._lock:
            self._faults.setdefault(app, FaultBook()).add(fault)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def log(self) -> list[ProxiedRequest]:
        with self._lock:
            return list(self._log)

    def reset_log(self) -> None:
        with self._lock:
            self._log.clear()

    # -- the pipeline ------------------------------------------------------------------------------
    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        body = _read_body(h)
        host_header = h.headers.get("host", "")
        host = host_header.rsplit(":", 1)[0] if not host_header.startswith("[") else host_header
        host = host.strip().rstrip(".").lower()
        entry = ProxiedRequest(h.command.upper(), host, h.path, len(body), h.client_address[0])
        with self._lock:
            self._log.append(entry)
        request_id = f"{new_instance_id()}-{self.region}"
        try:
            answer = self._proxy(h, entry, host, body, request_id)
        except ProxyError as err:
            entry.error = err.code
            answer = _json_answer(err.status, err.body())
        except Exception as err:  # an emulator bug: answer 500 and show it on stderr
            traceback.print_exc(file=sys.stderr)
            entry.error = "internal"
            text = f"internal emulator error: {type(err).__name__}"
            answer = _json_answer(500, {"error": text, "status": "internal"})
        entry.status = answer.status
        headers = [(k, v) for k, v in answer.headers if k.lower() not in _HOP_BY_HOP and k.lower() != "content-length"]
        headers += [("fly-request-id", request_id), ("via", "1.1 fly.io")]
        send_answer(h, answer.status, headers, b"" if h.command.upper() == "HEAD" else answer.body, len(answer.body))

    def _proxy(
        self, h: BaseHTTPRequestHandler, entry: ProxiedRequest, host: str, body: bytes, request_id: str
    ) -> _Answer:
        if not host:
            raise ProxyError(400, "bad_request", "request has no Host header")
        client_ip = h.client_address[0]
        base = [(k, v) for k, v in h.headers.items() if k.lower() not in _HOP_BY_HOP | _PROXY_SET]
        forwarded_for = ", ".join(v for k, v in base if k.lower() == "x-forwarded-for")
        base = [(k, v) for k, v in base if k.lower() != "x-forwarded-for"]
        world = self._world
        with world.cond:
            world.tick()
            app = app_for_host(world, host)
            if app is None:
                raise ProxyError(404, "unknown_host", f"no app is reachable at {host}")
            entry_ip = next(ip.ip for ip in world.state.ips[app] if ip.type in PUBLIC_IP_TYPES)
            target = claim_machine(world, app, timeout=self.start_timeout)
        src: str | None = None
        replay: Replay | None = None
        replays = 0
        while True:
            hop = ProxyHop(target.app, target.machine_id, target.started)
            entry.hops.append(hop)
            headers = [
                *base,
                *_fly_headers(target, client_ip, forwarded_for, entry_ip, self.region, request_id),
                *([("fly-replay-src", src)] if src is not None else []),
            ]
            answer = self._deliver(target, h.command.upper(), h.path, host, headers, body, src)
            hop.status = answer.status
            raw = next((v for k, v in answer.headers if k.lower() == "fly-replay"), None)
            if raw is None:
                return answer
            hop.replay = raw
            try:
                replay = parse_replay(raw)
            except ReplayError as err:
                raise ProxyError(502, "bad_replay", str(err)) from None
            if replays >= self.max_replays:
                raise ProxyError(
                    508,
                    "replay_loop",
                    f"fly-replay loop: {' -> '.join(entry.apps)} answered fly-replay again after "
                    f"{self.max_replays} replays",
                )
            if len(body) > REPLAY_BODY_LIMIT:
                raise ProxyError(
                    413,
                    "replay_body_too_large",
                    f"request body of {len(body)} bytes cannot be replayed: fly-replay takes at most "
                    f"{REPLAY_BODY_LIMIT} bytes",
                )
            replays += 1
            with world.cond:
                world.tick()
                src = replay_src(target.machine_id, target.region, world.clock.time(), replay.state)
                app = check_replay_target(world, target.app, replay)
                target = claim_machine(
                    world,
                    app,
                    instance=replay.instance,
                    prefer_instance=replay.prefer_instance,
                    replay=replay,
                    exclude=frozenset({target.machine_id}) if replay.elsewhere else frozenset(),
                    timeout=self.start_timeout,
                )

    def _deliver(
        self, target: Target, method: str, path: str, host: str, headers: Headers, body: bytes, src: str | None
    ) -> _Answer:
        with self._lock:
            book = self._faults.get(target.app)
            upstream = self._upstreams.get(target.app)
        fault = book.take(method, urlsplit(path).path) if book is not None else None
        if fault is not None and fault.delay:
            self._world.clock.sleep(fault.delay)
        if fault is not None and fault.when == "before_work" and fault.replaces_answer():
            return _fault_answer(fault)
        if upstream is None:
            answer = _json_answer(
                200,
                {
                    "app": target.app,
                    "machine_id": target.machine_id,
                    "instance_id": target.instance_id,
                    "method": method,
                    "path": path,
                    "host": host,
                    "body_bytes": len(body),
                    "replay_src": src,
                },
            )
        else:
            answer = self._forward(upstream, method, path, host, headers, body, just_started=target.started)
        if fault is not None and fault.replaces_answer():
            return _fault_answer(fault)
        return answer

    def _forward(
        self, upstream: str, method: str, path: str, host: str, headers: Headers, body: bytes, *, just_started: bool
    ) -> _Answer:
        """A machine the proxy just started may not listen yet: a refused connection (nothing was sent) is
        tried again for `listen_timeout` real seconds. A machine that was already running gets no second try."""
        deadline = time.monotonic() + self.listen_timeout
        while True:
            try:
                return self._forward_once(upstream, method, path, host, headers, body)
            except ConnectionRefusedError as err:
                if not just_started or time.monotonic() >= deadline:
                    raise ProxyError(
                        502, "upstream_unreachable", f"could not reach the machine's service at {upstream}: {err}"
                    ) from None
                time.sleep(0.02)

    def _forward_once(self, upstream: str, method: str, path: str, host: str, headers: Headers, body: bytes) -> _Answer:
        parts = urlsplit(upstream)
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=self.upstream_timeout)
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            conn.putheader("host", host)
            for name, value in headers:
                conn.putheader(name, value)
            conn.putheader("content-length", str(len(body)))
            conn.endheaders(body)
            response = conn.getresponse()
            return _Answer(response.status, response.getheaders(), response.read())
        except ConnectionRefusedError:
            raise
        except OSError as err:
            raise ProxyError(
                502, "upstream_unreachable", f"could not reach the machine's service at {upstream}: {err}"
            ) from None
        finally:
            conn.close()


def _fly_headers(
    target: Target, client_ip: str, forwarded_for: str, entry_ip: str, region: str, request_id: str
) -> Headers:
    """The headers Fly's http handler adds (Fly docs: networking/request-headers)."""
    xff = ", ".join(part for part in (forwarded_for, client_ip, entry_ip) if part)
    return [
        ("fly-client-ip", client_ip),
        ("fly-forwarded-port", str(target.port)),
        ("fly-region", region),
        ("fly-request-id", request_id),
        ("x-forwarded-for", xff),
        ("x-forwarded-proto", "https" if target.tls else "http"),
        ("x-forwarded-port", str(target.port)),
        ("x-forwarded-ssl", "on" if target.tls else "off"),
        ("via", "1.1 fly.io"),
    ]


def _json_answer(status: int, body: dict[str, Any]) -> _Answer:
    return _Answer(status, [("content-type", "application/json")], json.dumps(body).encode())


def _fault_answer(fault: Fault) -> _Answer:
    if fault.drop:
        raise ProxyError(502, "upstream_unreachable", "the machine closed the connection without answering")
    headers = [("content-type", "application/json"), *fault.headers.items()]
    return _Answer(fault.status or 500, headers, json.dumps(fault_body(fault)).encode())


def _read_body(h: BaseHTTPRequestHandler) -> bytes:
    """The whole body, buffered: the proxy must hold it to be able to replay it."""
    if "chunked" in h.headers.get("transfer-encoding", "").lower():
        chunks: list[bytes] = []
        while True:
            size = int(h.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while h.rfile.readline().strip():  # trailers
                    pass
                return b"".join(chunks)
            chunks.append(h.rfile.read(size))
            h.rfile.readline()
    length = int(h.headers.get("content-length") or 0)
    return h.rfile.read(length) if length else b""
