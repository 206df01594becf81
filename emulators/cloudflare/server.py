"""CloudflareEmulator: the part of Cloudflare's v4 API the program and the scripts use, over real HTTP on
127.0.0.1 (R2 buckets with CORS and lifecycle rules, account API tokens, DNS records, GraphQL analytics).

Each request: record it -> injected fault? -> auth -> route (none: 404, logged as unknown) -> JSON body ->
handler under the world lock. Answers are Cloudflare's compact JSON in the v4 envelope.

    with CloudflareEmulator(token=TOKEN, account_id=ACCOUNT, zones={ZONE_ID: "example.com"}) as cf:
        cf.url  # the v4 base URL, http://127.0.0.1:<port>/client/v4 (the provider's `cloudflare:baseUrl`)
"""

from __future__ import annotations

import json
import re
import sys
import traceback
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from emulators.clock import Clock, RealClock
from emulators.cloudflare import api
from emulators.cloudflare.api import ApiError, Request, Response, Route, failure
from emulators.cloudflare.faults import LOGGED_HEADERS, Quirks, RecordedRequest, fault_response
from emulators.cloudflare.routes import ROUTES
from emulators.cloudflare.state import BucketUsage, ObjectStore, Settings, World
from emulators.faults import FaultsAndLog
from emulators.serving import ServerThread, ThreadedService, send_answer

# Cloudflare API tokens are 40 characters of [A-Za-z0-9_-] (the provider accepts 40-80).
_TOKEN = re.compile(r"[A-Za-z0-9_-]{40,80}")
DEFAULT_ZONE = ("0" * 31 + "1", "example.com")
_NOT_JSON = object()


class CloudflareEmulator(FaultsAndLog[RecordedRequest], ThreadedService):
    def __init__(
        self,
        *,
        token: str,
        account_id: str,
        zones: dict[str, str] | None = None,
        usage: dict[str, BucketUsage] | None = None,
        objects: ObjectStore | None = None,
        clock: Clock | None = None,
        port: int = 0,
    ) -> None:
        self.clock: Clock = clock or RealClock()
        settings = Settings(token=token, account_id=account_id, zones=dict(zones or dict([DEFAULT_ZONE])))
        self.world = World(settings, self.clock, objects=objects, usage=dict(usage or {}))
        self.quirks = Quirks()
        FaultsAndLog.__init__(self)
        self._server = ServerThread(self._handle, port=port, name="cloudflare-emulator")

    @property
    def url(self) -> str:
        """The v4 base URL (what `cloudflare:baseUrl` and CLOUDFLARE_BASE_URL take)."""
        return f"{self._server.root_url}{api.V4}"

    # -- test controls -----------------------------------------------------------------------------------
    @property
    def account_id(self) -> str:
        return self.world.settings.account_id

    @account_id.setter
    def account_id(self, value: str) -> None:
        """Which account the token may reach (another one: the token lacks access to the old one)."""
        with self.world.lock:
            self.world.settings.account_id = value

    @property
    def usage(self) -> dict[str, BucketUsage]:
        return self.world.usage

    @usage.setter
    def usage(self, samples: dict[str, BucketUsage]) -> None:
        with self.world.lock:
            self.world.usage = dict(samples)

    def use_token(self, token_id: str) -> None:
        """The token authenticated a request now (on R2's S3 side, say): Cloudflare sets its `last_used_on`."""
        with self.world.lock:
            self.world.tokens[token_id].last_used_on = self.world.now()

    def unknown_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.unknown]

    def writes(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.writes]

    # -- request pipeline --------------------------------------------------------------------------------
    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("content-length") or 0)
        raw = h.rfile.read(length) if length else b""
        parts = urlsplit(h.path)
        method = h.command.upper()
        headers = {k.lower(): v for k, v in h.headers.items()}
        body = _parse(raw)
        found = _match(method, parts.path)
        record = RecordedRequest(
            method=method,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={k: v for k, v in headers.items() if k in LOGGED_HEADERS},
            body=raw.decode("utf-8", "replace") if body is _NOT_JSON else body,
            authorized=self._authorized(headers.get("authorization")) is None,
            route=found[0].name if found else None,
        )
        with self._log_lock:
            self._log.append(record)
        fault = self._faults.take(method, parts.path)
        if fault is not None:
            record.faulted = True
            if fault.delay:
                self.clock.sleep(fault.delay)
            if fault.drop and fault.when == "before_work":
                h.close_connection = True
                return
        if fault is not None and fault.when == "before_work" and fault.status is not None:
            response = fault_response(fault)
        else:
            response = self._answer(method, parts.path, record, headers, body, found)
            if fault is not None and fault.drop:
                h.close_connection = True
                return
            if fault is not None and fault.status is not None:
                response = fault_response(fault)
        record.status = response.status
        self._send(h, response)

    def _answer(
        self,
        method: str,
        path: str,
        record: RecordedRequest,
        headers: dict[str, str],
        body: Any,
        found: tuple[Route, dict[str, str]] | None,
    ) -> Response:
        try:
            refusal = self._authorized(headers.get("authorization"))
            if refusal is not None:
                raise refusal
            if found is None:
                raise api.no_route(path)
            if body is _NOT_JSON:
                raise api.invalid_body("It is not valid JSON.")
            route, params = found
            request = Request(method, path, record.query, headers, body, params)
            with self.world.lock:
                return route.handler(self.world, request)
        except ApiError as err:
            return Response(err.status, failure(err.errors()))
        except Exception:  # an emulator bug: answer Cloudflare's 500 and show it on stderr
            traceback.print_exc(file=sys.stderr)
            bug = api.internal_error()
            return Response(bug.status, failure(bug.errors()))

    def _authorized(self, header: str | None) -> ApiError | None:
        """None when the header carries this emulator's token; otherwise the error Cloudflare answers."""
        if not header:
            return api.missing_auth()
        scheme, _, token = header.partition(" ")
        if scheme != "Bearer" or not _TOKEN.fullmatch(token):
            return api.malformed_auth()
        return None if token == self.world.settings.token else api.auth_error()

    def _send(self, h: BaseHTTPRequestHandler, response: Response) -> None:
        if self.quirks.spaced_json:
            data = json.dumps(response.body).encode()
        else:
            data = json.dumps(response.body, separators=(",", ":")).encode()
        headers = [("content-type", "application/json"), *response.headers.items()]
        send_answer(h, response.status, headers, data)


def _match(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    for candidate in ROUTES:
        found = candidate.pattern.match(path)
        if found and candidate.method == method:
            return candidate, found.groupdict()
    return None


def _parse(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return _NOT_JSON
