"""providers.fly.endpoints: one path per endpoint, escaped segments, and each call's request semantics."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from providers.fly import endpoints
from providers.fly.client import FlyClient
from providers.fly.errors import FlyRequestError, FlyResourceError, FlyResponseError, FlyStatusError

NOW = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)


class Recorder:
    """A MockTransport answering every request with one (status, body); keeps what was sent."""

    def __init__(
        self, status: int = 200, body: Any = None, first: list[tuple[int, dict[str, str]]] | None = None
    ) -> None:
        self.status = status
        self.body = {} if body is None else body
        self.first = list(first or [])  # (status, headers) answered, in turn, before `status`
        self.seen: list[httpx.Request] = []
        self.actions: list[tuple[str, str]] = []
        self.slept: list[float] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        if self.first:
            status, headers = self.first.pop(0)
            return httpx.Response(status, json={"error": f"scripted {status}"}, headers=headers)
        return httpx.Response(self.status, json=self.body)

    def client(self) -> FlyClient:
        recorder = self

        class Limiter:  # records the rate-limit key each request is paced under
            def acquire(self, action: str, app: str) -> float:
                recorder.actions.append((action, app))
                return 0.0

        return FlyClient(
            base_url="http://fly.test",
            token="endpoint-token",
            transport=httpx.MockTransport(self.handler),
            limiter=Limiter(),  # type: ignore[arg-type]
            sleep=self.slept.append,
            jitter=lambda: 0.5,
            wall_clock=lambda: NOW,
            retries=2,
        )

    @property
    def last(self) -> httpx.Request:
        return self.seen[-1]


Call = Callable[[FlyClient], object]

# (call, method, raw path, query, rate-limit action)
ENDPOINTS: list[tuple[str, Call, str, str, str, str]] = [
    ("get_app", lambda f: endpoints.get_app(f, "a"), "GET", "/v1/apps/a", "", "get_app"),
    ("create_app", lambda f: endpoints.create_app(f, "a", "o", "a"), "POST", "/v1/apps", "wait=true", "create_app"),
    ("delete_app", lambda f: endpoints.delete_app(f, "a"), "DELETE", "/v1/apps/a", "force=true", "delete_app"),
    ("list_ips", lambda f: endpoints.list_ips(f, "a"), "GET", "/v1/apps/a/ip_assignments", "", "list_ips"),
    (
        "allocate_ip",
        lambda f: endpoints.allocate_ip(f, "a", "v6"),
        "POST",
        "/v1/apps/a/ip_assignments",
        "",
        "allocate_ip",
    ),
    (
        "release_ip",
        lambda f: endpoints.release_ip(f, "a", "2a09:8280::1"),
        "DELETE",
        "/v1/apps/a/ip_assignments/2a09:8280::1",
        "",
        "release_ip",
    ),
    ("list_secrets", lambda f: endpoints.list_secrets(f, "a"), "GET", "/v1/apps/a/secrets", "", "list_secrets"),
    (
        "set_secrets",
        lambda f: endpoints.set_secrets(f, "a", {"K": "v"}),
        "POST",
        "/v1/apps/a/secrets",
        "",
        "set_secrets",
    ),
    ("list_volumes", lambda f: endpoints.list_volumes(f, "a"), "GET", "/v1/apps/a/volumes", "", "list_volumes"),
    (
        "get_volume",
        lambda f: endpoints.get_volume(f, "a", "vol_1"),
        "GET",
        "/v1/apps/a/volumes/vol_1",
        "",
        "get_volume",
    ),
    ("create_volume", lambda f: endpoints.create_volume(f, "a", {}), "POST", "/v1/apps/a/volumes", "", "create_volume"),
    (
        "extend_volume",
        lambda f: endpoints.extend_volume(f, "a", "vol_1", 2),
        "PUT",
        "/v1/apps/a/volumes/vol_1/extend",
        "",
        "extend_volume",
    ),
    (
        "delete_volume",
        lambda f: endpoints.delete_volume(f, "a", "vol_1"),
        "DELETE",
        "/v1/apps/a/volumes/vol_1",
        "",
        "delete_volume",
    ),
    ("list_machines", lambda f: endpoints.list_machines(f, "a"), "GET", "/v1/apps/a/machines", "", "list_machines"),
    (
        "list_machines_by_metadata",
        lambda f: endpoints.list_machines(f, "a", {"k": "v 1"}),
        "GET",
        "/v1/apps/a/machines",
        "metadata.k=v+1",
        "list_machines",
    ),
    ("get_machine", lambda f: endpoints.get_machine(f, "a", "m1"), "GET", "/v1/apps/a/machines/m1", "", "get_machine"),
    (
        "create_machine",
        lambda f: endpoints.create_machine(f, "a", {}),
        "POST",
        "/v1/apps/a/machines",
        "",
        "create_machine",
    ),
    (
        "update_machine",
        lambda f: endpoints.update_machine(f, "a", "m1", {}, "n"),
        "POST",
        "/v1/apps/a/machines/m1",
        "",
        "update_machine",
    ),
    (
        "stop_machine",
        lambda f: endpoints.stop_machine(f, "a", "m1", "n"),
        "POST",
        "/v1/apps/a/machines/m1/stop",
        "",
        "stop",
    ),
    (
        "restart_machine",
        lambda f: endpoints.restart_machine(f, "a", "m1"),
        "POST",
        "/v1/apps/a/machines/m1/restart",
        "",
        "restart",
    ),
    (
        "wait_machine",
        lambda f: endpoints.wait_machine(f, "a", "m1", "started", 30, "i1"),
        "GET",
        "/v1/apps/a/machines/m1/wait",
        "state=started&timeout=30&instance_id=i1",
        "wait",
    ),
    (
        "delete_machine",
        lambda f: endpoints.delete_machine(f, "a", "m1"),
        "DELETE",
        "/v1/apps/a/machines/m1",
        "force=true",
        "delete_machine",
    ),
    (
        "acquire_lease",
        lambda f: endpoints.acquire_lease(f, "a", "m1", 120),
        "POST",
        "/v1/apps/a/machines/m1/lease",
        "ttl=120",
        "acquire_lease",
    ),
    (
        "release_lease",
        lambda f: endpoints.release_lease(f, "a", "m1", "n"),
        "DELETE",
        "/v1/apps/a/machines/m1/lease",
        "",
        "release_lease",
    ),
    (
        "get_certificate",
        lambda f: endpoints.get_certificate(f, "a", "r.example.com"),
        "GET",
        "/v1/apps/a/certificates/r.example.com",
        "",
        "get_certificate",
    ),
    (
        "request_acme_certificate",
        lambda f: endpoints.request_acme_certificate(f, "a", "r.example.com"),
        "POST",
        "/v1/apps/a/certificates/acme",
        "",
        "create_certificate",
    ),
    (
        "delete_certificate",
        lambda f: endpoints.delete_certificate(f, "a", "r.example.com"),
        "DELETE",
        "/v1/apps/a/certificates/r.example.com",
        "",
        "delete_certificate",
    ),
]


@pytest.mark.parametrize(
    ("call", "method", "path", "query", "action"), [e[1:] for e in ENDPOINTS], ids=[e[0] for e in ENDPOINTS]
)
def test_endpoint_sends_its_method_path_query_and_rate_limit_action(call, method, path, query, action):
    rec = Recorder(body=[] if "list_machines" in action or "list_volumes" in action else {})
    call(rec.client())
    assert (rec.last.method, rec.last.url.raw_path.decode().split("?")[0]) == (method, path)
    assert rec.last.url.query.decode() == query
    assert rec.actions == [(action, "a")]


def test_each_endpoint_is_its_own_rate_limit_action():
    """Fly counts requests per action: two endpoints sharing a bucket would pace each other for nothing."""
    endpoints_of: dict[str, set[tuple[str, str]]] = {}
    for _name, _call, method, path, _query, action in ENDPOINTS:
        endpoints_of.setdefault(action, set()).add((method, path))
    assert {a: e for a, e in endpoints_of.items() if len(e) > 1} == {}


def test_app_creates_are_keyed_on_the_new_app_name_so_they_never_pace_each_other():
    rec = Recorder()
    fly = rec.client()
    for name in ("alex-a", "alex-b", "alex-c"):
        endpoints.create_app(fly, name, "personal", name)
    assert rec.actions == [("create_app", "alex-a"), ("create_app", "alex-b"), ("create_app", "alex-c")]


POSTS = [e for e in ENDPOINTS if e[2] == "POST"]


@pytest.mark.parametrize(
    ("header", "waited"),
    [
        (None, 0.25),  # no Retry-After (as Fly documents): the jittered backoff, base 0.5 * jitter 0.5
        ("3", 3.0),
        ("Mon, 30 Nov 2026 12:00:05 GMT", 5.0),
    ],
    ids=["backoff", "seconds", "http-date"],
)
@pytest.mark.parametrize("call", [e[1] for e in POSTS], ids=[e[0] for e in POSTS])
def test_every_post_is_retried_after_a_429_and_sent_once_more(call, header, waited):
    """A 429 was not processed, so every POST (creates included) is sent again, after Retry-After if given."""
    rec = Recorder(first=[(429, {"Retry-After": header} if header else {})])
    call(rec.client())
    assert len(rec.seen) == 2 and rec.slept == [waited]
    assert rec.seen[0].content == rec.seen[1].content


def test_machine_writes_under_a_lease_send_the_nonce():
    rec = Recorder()
    fly = rec.client()
    endpoints.update_machine(fly, "a", "m1", {"config": {}}, "nonce-1")
    endpoints.stop_machine(fly, "a", "m1", "nonce-2")
    endpoints.release_lease(fly, "a", "m1", "nonce-3")
    assert [r.headers["fly-machine-lease-nonce"] for r in rec.seen] == ["nonce-1", "nonce-2", "nonce-3"]


@pytest.mark.parametrize(
    ("call", "sent"),
    [
        (lambda f: endpoints.create_machine(f, "a", {}), 1),
        (lambda f: endpoints.create_volume(f, "a", {}), 1),
        (lambda f: endpoints.allocate_ip(f, "a", "v6"), 1),
        (lambda f: endpoints.request_acme_certificate(f, "a", "r.example.com"), 1),
        (lambda f: endpoints.create_app(f, "a", "o", "a"), 3),  # names are unique: repeatable
        (lambda f: endpoints.set_secrets(f, "a", {"K": "v"}), 3),  # the same write twice is harmless
        (lambda f: endpoints.update_machine(f, "a", "m1", {}, "n"), 3),
        (lambda f: endpoints.acquire_lease(f, "a", "m1", 120), 3),
    ],
)
@pytest.mark.parametrize(
    ("status", "headers"), [(500, {}), (502, {}), (503, {"Retry-After": "1"}), (504, {}), (408, {})]
)
def test_creates_that_are_not_repeatable_are_posted_once_on_a_5xx(call, sent, status, headers):
    """A 5xx/408 may come after the work was done: a create is not sent again blind (its provider looks first)."""
    rec = Recorder(first=[(status, headers)] * 3)
    with pytest.raises(FlyStatusError) as caught:
        call(rec.client())
    assert caught.value.status == status and len(rec.seen) == sent


@pytest.mark.parametrize(
    "call",
    [
        lambda f: endpoints.create_machine(f, "a", {}),
        lambda f: endpoints.create_volume(f, "a", {}),
        lambda f: endpoints.allocate_ip(f, "a", "v6"),
        lambda f: endpoints.request_acme_certificate(f, "a", "r.example.com"),
    ],
)
def test_creates_that_are_not_repeatable_are_posted_once_on_a_dropped_connection(call):
    seen: list[httpx.Request] = []

    def drop(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        raise httpx.RemoteProtocolError("server disconnected", request=request)

    rec = Recorder()
    rec.handler = drop  # type: ignore[method-assign]
    with pytest.raises(FlyRequestError):
        call(rec.client())
    assert len(seen) == 1


def test_set_secrets_marks_the_values_secret_for_error_text():
    rec = Recorder(status=400, body={"error": "bad value hunter2-secret"})
    with pytest.raises(FlyStatusError) as caught:
        endpoints.set_secrets(rec.client(), "a", {"K": "hunter2-secret", "GONE": None})
    assert "hunter2-secret" not in str(caught.value)
    assert json.loads(rec.last.content) == {"values": {"K": "hunter2-secret", "GONE": None}}


@pytest.mark.parametrize(
    ("call", "raw"),
    [
        (lambda f: endpoints.get_machine(f, "a", "m1/../../other"), "/v1/apps/a/machines/m1%2F..%2F..%2Fother"),
        (lambda f: endpoints.get_app(f, "a/b"), "/v1/apps/a%2Fb"),
        (lambda f: endpoints.delete_volume(f, "a", "vol?x=1#y"), "/v1/apps/a/volumes/vol%3Fx%3D1%23y"),
        (
            lambda f: endpoints.get_certificate(f, "a", "r.example.com/../x"),
            "/v1/apps/a/certificates/r.example.com%2F..%2Fx",
        ),
        (lambda f: endpoints.release_ip(f, "a", "1.2.3.4/32"), "/v1/apps/a/ip_assignments/1.2.3.4%2F32"),
        (lambda f: endpoints.get_volume(f, "a", "%2e%2e"), "/v1/apps/a/volumes/%252e%252e"),
    ],
)
def test_path_segments_are_escaped_so_no_value_reaches_another_endpoint(call, raw):
    rec = Recorder()
    call(rec.client())
    assert rec.last.url.raw_path.decode().split("?")[0] == raw


@pytest.mark.parametrize("bad", ["", ".", ".."])
@pytest.mark.parametrize(
    "call",
    [
        lambda f, v: endpoints.get_app(f, v),
        lambda f, v: endpoints.get_machine(f, "a", v),
        lambda f, v: endpoints.delete_machine(f, "a", v),
        lambda f, v: endpoints.delete_volume(f, "a", v),
        lambda f, v: endpoints.get_certificate(f, "a", v),
        lambda f, v: endpoints.release_ip(f, "a", v),
    ],
)
def test_dot_and_empty_segments_are_refused_before_any_request(call, bad):
    rec = Recorder()
    with pytest.raises(FlyResourceError, match="refusing"):
        call(rec.client(), bad)
    assert rec.seen == []


@pytest.mark.parametrize(
    "call",
    [
        lambda f: endpoints.get_app(f, "a"),
        lambda f: endpoints.get_volume(f, "a", "vol_1"),
        lambda f: endpoints.get_machine(f, "a", "m1"),
        lambda f: endpoints.get_certificate(f, "a", "r.example.com"),
    ],
)
def test_get_answers_none_on_404(call):
    assert call(Recorder(status=404, body={"error": "not found"}).client()) is None


@pytest.mark.parametrize(
    ("call", "body"),
    [
        (lambda f: endpoints.list_machines(f, "a"), {"echo": "not a list"}),
        (lambda f: endpoints.list_volumes(f, "a"), ["not an object"]),
        (lambda f: endpoints.get_certificate(f, "a", "r.example.com"), ["a", "list"]),
        (lambda f: endpoints.list_ips(f, "a"), "a string"),
    ],
)
def test_an_answer_of_the_wrong_shape_is_a_response_error_that_does_not_quote_it(call, body):
    with pytest.raises(FlyResponseError) as caught:
        call(Recorder(body=body).client())
    assert "a body that is not" in str(caught.value)
    assert "echo" not in str(caught.value) and "a string" not in str(caught.value)
