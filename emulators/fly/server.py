"""FlyEmulator: the Fly Machines REST API served over real HTTP on 127.0.0.1 (see state.py for the model).

Each request: record it -> injected fault? -> auth (401) -> route (404) -> rate limits (429, see
`_buckets`) -> JSON (400) -> handler under the world lock. Every answer carries a unique `fly-request-id`
(docs/reference/fly-machines-api.md §1.1).
"""

from __future__ import annotations

import json
import sys
import threading
import traceback
from collections.abc import Iterable, Mapping
from http.server import BaseHTTPRequestHandler
from secrets import token_hex
from typing import Any, Self
from urllib.parse import parse_qsl, unquote, urlsplit

from emulators.clock import Clock, RealClock
from emulators.faults import Fault, FaultsAndLog
from emulators.fly.api import ApiError, Request, Response, Route
from emulators.fly.faults import ORG_LIMITS, Bucket, RateLimiter, RecordedRequest, fault_body
from emulators.fly.proxy import FlyProxy
from emulators.fly.routes import ROUTES
from emulators.fly.speeds import REFERENCE
from emulators.fly.state import CHECK_STATUSES, FlyState, Machine, iso
from emulators.fly.world import OrgSettings, Settings, World
from emulators.serving import ServerThread, ThreadedService, send_answer

_NO_BODY = object()  # marks a request body that is not valid JSON


class FlyEmulator(FaultsAndLog[RecordedRequest], ThreadedService):
    def __init__(
        self,
        token: str = "test-fly-token",
        org: str = "personal",
        foreign_apps: Iterable[str] = ("taken",),
        app_visible_after: float = REFERENCE.app_visible_after,
        volume_unbind_after: float = REFERENCE.volume_unbind_after,
        wait_cap: float = REFERENCE.wait_cap,
        transition: float = REFERENCE.transition,
        rate_limit: bool = True,
        org_limits: Mapping[str, tuple[float, int]] | None = None,
        port: int = 0,
        clock: Clock | None = None,
        cross_network_replay: bool = False,
        proxy_port: int = 0,
    ) -> None:
        limits = {**ORG_LIMITS, **(org_limits or {})}
        for action, (rate, burst) in limits.items():
            if not rate > 0 or burst < 1:
                raise ValueError(f"org_limits[{action!r}] needs rate > 0 and burst >= 1, got ({rate}, {burst})")
        # Every modelled delay reads this clock; tests pass a FakeClock and advance it.
        self.clock: Clock = clock or RealClock()
        self._settings = Settings(
            token=token,
            org=org,
            foreign_apps=frozenset(foreign_apps),
            app_visible_after=app_visible_after,
            volume_unbind_after=volume_unbind_after,
            wait_cap=wait_cap,
            transition=transition,
            rate_limit=rate_limit,
            org_limits=limits,
        )
        self._world = World(self._settings, self.clock, OrgSettings(cross_network_replay=cross_network_replay))
        # Fly's HTTP edge (proxy.py), on its own port, over the same world; started and stopped with the API.
        self.proxy = FlyProxy(self._world, port=proxy_port)
        FaultsAndLog.__init__(self)
        self._limiter = RateLimiter(self.clock)
        self._idle = threading.Condition()
        self._in_flight = 0
        self._server = ServerThread(self._handle, port=port, name="fly-emulator")

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> Self:
        super().start()
        self.proxy.start()
        return self

    def stop(self) -> None:
        self.proxy.stop()
        super().stop()

    @property
    def url(self) -> str:
        return self._server.root_url

    @property
    def proxy_url(self) -> str:
        """Base URL of the Fly edge (FlyProxy): send requests with the Host header of the app to reach."""
        return self.proxy.url

    # -- test controls -----------------------------------------------------------------------------
    def set_org_setting(self, *, cross_network_replay: bool | None = None) -> None:
        """Change an organization setting (on Fly: dashboard or flyctl; the Machines REST API has no endpoint)."""
        with self._world.cond:
            if cross_network_replay is not None:
                self._world.org_settings.cross_network_replay = cross_network_replay

    def writes(self) -> int:
        with self._log_lock:
            return sum(1 for r in self._log if r.method not in ("GET", "HEAD"))

    @property
    def state(self) -> FlyState:
        with self._world.cond:
            self._world.tick()
            return self._world.state

    def autostop(self, app: str, machine_id: str) -> None:
        """The Fly proxy stops an idle machine: started -> stopped, config untouched
        (docs/reference/fly-machines-api.md §1.9)."""
        with self._world.cond:
            machine = self._live_machine(app, machine_id)
            if machine.state != "started":
                raise ValueError(f"machine {machine_id} is {machine.state}, autostop needs started")
            machine.go(self.clock.monotonic(), ["stopped"], self._settings.transition)
            machine.record("stop", "stopped", "flyd", self.clock.time())
            self._world.cond.notify_all()

    def crash(
        self, app: str, machine_id: str, *, restarting: bool = True, exit_code: int = 1, oom: bool = False
    ) -> None:
        """The guest exits on its own: an `exit` event (with `request.exit_event`), then, if flyd restarts it
        (`restarting`: the caller plays the restart policy), a `start` event and a fresh boot; otherwise the
        machine ends `stopped`."""
        with self._world.cond:
            machine = self._live_machine(app, machine_id)
            if machine.state not in ("started", "starting", "restarting", "updating"):
                raise ValueError(f"machine {machine_id} is {machine.state}, only a running machine can crash")
            at = self.clock.time()
            exit_event = {
                "exit_code": exit_code,
                "oom_killed": oom,
                "requested_stop": False,
                "restarting": restarting,
                "exited_at": iso(at),
            }
            machine.record("exit", "stopped", "flyd", at, {"exit_event": exit_event})
            now = self.clock.monotonic()
            if restarting:
                machine.go(now, ["starting", "started"], self._settings.transition)
                machine.boot("flyd", at)
            else:
                machine.go(now, ["stopped"], self._settings.transition)
            self._world.cond.notify_all()

    def set_check(self, app: str, machine_id: str, name: str, status: str, output: str = "") -> None:
        """What the machine's health check `name` now reports (until the machine boots again)."""
        if status not in CHECK_STATUSES:
            raise ValueError(f"check status must be one of {', '.join(CHECK_STATUSES)}, got {status!r}")
        with self._world.cond:
            machine = self._live_machine(app, machine_id)
            if name not in machine.check_names():
                raise KeyError(f"machine {machine_id} has no check named {name!r}")
            machine.check_results[name] = {"status": status, "output": output, "updated_at": iso(self.clock.time())}

    def set_boot_checks(self, app: str, machine_id: str, status: str) -> None:
        """What every check of the machine reports after each boot from now on: a guest that comes up
        unhealthy (a bad image or config) until a test sets "passing" again."""
        if status not in CHECK_STATUSES:
            raise ValueError(f"check status must be one of {', '.join(CHECK_STATUSES)}, got {status!r}")
        with self._world.cond:
            self._live_machine(app, machine_id).boot_checks = status

    def _live_machine(self, app: str, machine_id: str) -> Machine:
        """With the world lock held: a machine of `app` that is not destroyed, transitions applied."""
        self._world.tick()
        machine = self._world.state.machines.get(machine_id)
        if machine is None or machine.app != app or machine.state == "destroyed":
            raise KeyError(f"no machine {machine_id} in app {app}")
        return machine

    def set_certificate_status(self, app: str, hostname: str, status: str) -> None:
        with self._world.cond:
            cert = self._world.state.certificates.get(app, {}).get(hostname.lower())
            if cert is None:
                raise KeyError(f"no certificate for {hostname} in app {app}")
            cert.status = status

    # -- request pipeline --------------------------------------------------------------------------
    def settle(self, timeout: float = 10.0) -> None:
        """Return once no request is being handled (say, after advancing past a "delay" fault)."""
        with self._idle:
            if not self._idle.wait_for(lambda: self._in_flight == 0, timeout):
                raise TimeoutError(f"{self._in_flight} requests still in flight after {timeout} s")

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        with self._idle:
            self._in_flight += 1
        try:
            self._answer(h)
        finally:
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()

    def _answer(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("content-length") or 0)
        raw = h.rfile.read(length) if length else b""
        parts = urlsplit(h.path)
        path = parts.path
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        body = _parse_json(raw)
        method = h.command.upper()
        record = RecordedRequest(method, path, query, 0, None if body is _NO_BODY else body)
        with self._log_lock:
            self._log.append(record)
        fault = self._faults.take(method, path)
        if fault is not None and fault.delay:
            self.clock.sleep(fault.delay)
        if fault is not None and fault.when == "before_work" and fault.replaces_answer():
            if fault.drop:
                h.close_connection = True
                return
            response = _fault_response(fault)
        else:
            headers = {k.lower(): v for k, v in h.headers.items()}
            response = self._dispatch(method, path, query, headers, body)
            if fault is not None and fault.drop:
                h.close_connection = True
                return
            if fault is not None and fault.status is not None:
                response = _fault_response(fault)
        record.status = response.status
        _send(h, response)

    def _dispatch(self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: Any) -> Response:
        if not self._authorized(headers.get("authorization", "")):
            return Response(401, {"error": "unauthorized"})
        matched: tuple[Route, dict[str, str]] | None = None
        for candidate in ROUTES:
            found = candidate.pattern.match(path)
            if found and candidate.method == method:
                matched = candidate, {k: unquote(v) for k, v in found.groupdict().items()}
                break
        if matched is None:
            return Response(404, {"error": f"not found: {method} {path}", "status": "not_found"})
        route, params = matched
        if self._settings.rate_limit:
            limited = self._limiter.allow(self._buckets(route, params))
            if limited is not None:
                # No Retry-After: Fly documents none (docs/reference/fly-machines-api.md §0).
                error = f"rate limit exceeded for {route.action} on {' '.join(limited[1:])}"
                return Response(429, {"error": error, "status": "resource_exhausted"})
        if body is _NO_BODY:
            return Response(
                400, {"error": "invalid_argument: request body is not valid JSON", "status": "invalid_argument"}
            )
        request = Request(method, path, query, headers, body, params)
        with self._world.cond:
            try:
                self._world.tick()
                return route.handler(self._world, request)
            except ApiError as err:
                return Response(err.status, err.body())
            except Exception as err:  # an emulator bug: answer 500 and show it on stderr
                traceback.print_exc(file=sys.stderr)
                return Response(500, {"error": f"internal emulator error: {type(err).__name__}"})
            finally:
                self._world.cond.notify_all()

    def _buckets(self, route: Route, params: dict[str, str]) -> list[Bucket]:
        """What one request counts against: its action's bucket for the machine, else the app, in its path
        (a call with neither, such as an app create or the app list, is the organization's), and the
        organization's bucket for the actions Fly also limits org-wide (`org_limits`)."""
        org = self._settings.org
        subject = params.get("machine") or params.get("app")
        org_limit = self._settings.org_limits.get(route.action)
        buckets: list[Bucket] = []
        if subject:
            buckets.append(((route.action, subject), *route.rate))
        if org_limit is not None:
            buckets.append(((route.action, "organization", org), *org_limit))
        elif not subject:
            buckets.append(((route.action, "organization", org), *route.rate))
        return buckets

    def _authorized(self, header: str) -> bool:
        token = self._settings.token
        if token.startswith("FlyV1 "):
            return header == token  # macaroon tokens are sent as-is (docs/reference/fly-machines-api.md §0)
        return header == f"Bearer {token}"


def _fault_response(fault: Fault) -> Response:
    return Response(fault.status or 500, fault_body(fault), dict(fault.headers))


def _parse_json(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return _NO_BODY


def _send(h: BaseHTTPRequestHandler, response: Response) -> None:
    data = b"" if response.body is None else json.dumps(response.body).encode()
    headers = [("content-type", "application/json")] if response.body is not None else []
    headers += [("fly-request-id", token_hex(13)), *response.headers.items()]
    send_answer(h, response.status, headers, data)
