"""FlyClient honours Retry-After on 429 and 503 (seconds and HTTP-date), capped, within the call's deadline;
a 429 is retried for every method until that deadline."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from common.retry_after import retry_after_s
from providers.fly.client import MAX_RETRY_AFTER_S, FlyClient
from providers.fly.errors import FlyStatusError
from tests.fly.clock import FakeTime

NOW = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)
JITTERED = 0.25  # base 0.5 * 2**0 * jitter 0.5: what the backoff gives when no usable Retry-After came


def client_for(
    statuses: list[tuple[int, dict[str, str]]],
    slept: list[float],
    *,
    seen: list[httpx.Request] | None = None,
    **kwargs: Any,
) -> FlyClient:
    """Answers each scripted (status, headers) in turn, then 200; the sleeps are recorded, not slept (unless
    `sleep=` says otherwise), and the requests go to `seen`."""
    calls = iter(statuses)

    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        status, headers = next(calls, (200, {}))
        raw = [(k.encode(), v.encode()) for k, v in headers.items()]  # bytes: non-ASCII values as a server may send
        return httpx.Response(status, json={} if status < 400 else {"error": "slow down"}, headers=raw)

    kwargs.setdefault("sleep", slept.append)
    return FlyClient(
        base_url="http://fly.test",
        token="retry-after-token",
        transport=httpx.MockTransport(handler),
        jitter=lambda: 0.5,
        wall_clock=lambda: NOW,
        **kwargs,
    )


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("7", 7.0),
        ("0", 0.0),
        (" 3 ", 3.0),
        ("Mon, 30 Nov 2026 12:00:05 GMT", 5.0),  # IMF-fixdate
        ("Monday, 30-Nov-26 12:00:09 GMT", 9.0),  # obsolete RFC 850 form
        ("Mon Nov 30 12:00:02 2026", 2.0),  # asctime form
        ("Mon, 30 Nov 2026 11:59:00 GMT", 0.0),  # a date in the past: go now
        ("86400", MAX_RETRY_AFTER_S),  # capped
        ("Wed, 30 Dec 2026 12:00:00 GMT", MAX_RETRY_AFTER_S),
    ],
)
def test_client_waits_as_retry_after_says(status, header, expected):
    slept: list[float] = []
    client_for([(status, {"Retry-After": header})], slept).call("GET", "/v1/apps/a", action="get_app", app="a")
    assert slept == [expected]


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize("header", ["soon", "-5", "+5", "1.5", "١٢", "5 5", "0x10", "", "99999999999", "Mon, 99 Foo"])
def test_client_falls_back_to_jittered_backoff_on_an_unreadable_retry_after(status, header):
    slept: list[float] = []
    client_for([(status, {"Retry-After": header})], slept).call("GET", "/v1/apps/a", action="get_app", app="a")
    assert slept == [JITTERED]


@pytest.mark.parametrize("status", [500, 502, 504, 408])
def test_client_ignores_retry_after_on_other_statuses(status):
    slept: list[float] = []
    client_for([(status, {"Retry-After": "30"})], slept).call("GET", "/v1/apps/a", action="get_app", app="a")
    assert slept == [JITTERED]


@pytest.mark.parametrize("where", ["client", "call"])
def test_client_gives_up_when_retry_after_would_pass_the_call_deadline(where):
    slept: list[float] = []
    client = client_for([(429, {"Retry-After": "30"})], slept, deadline_s=10.0 if where == "client" else None)
    kwargs = {"deadline_s": 10.0} if where == "call" else {}
    with pytest.raises(FlyStatusError) as caught:
        client.call("GET", "/v1/apps/a", action="get_app", app="a", **kwargs)
    assert caught.value.status == 429 and slept == []


def test_client_retry_after_within_the_deadline_is_honoured():
    slept: list[float] = []
    client_for([(503, {"Retry-After": "4"})], slept, deadline_s=10.0).call("GET", "/v1/a", action="a", app="a")
    assert slept == [4.0]


def test_retry_after_parser_reads_both_forms_and_refuses_the_rest():
    assert retry_after_s("120", NOW) == 120.0
    assert retry_after_s("Mon, 30 Nov 2026 12:01:00 GMT", NOW) == 60.0
    assert retry_after_s(None, NOW) is None
    assert retry_after_s("١٢", NOW) is None  # int() would read this as 12


def timed_client(
    statuses: list[tuple[int, dict[str, str]]], **kwargs: Any
) -> tuple[FlyClient, FakeTime, list[httpx.Request]]:
    """`client_for` on a FakeTime: each wait moves the client's clock, so deadlines really pass.
    Returns the client, its time (`slept` lists the waits) and the requests it sent."""
    time = FakeTime()
    seen: list[httpx.Request] = []
    return client_for(statuses, time.slept, seen=seen, clock=time.clock, sleep=time.sleep, **kwargs), time, seen


def test_a_429_on_a_post_is_retried_past_the_retry_count_until_the_deadline():
    fly, t, seen = timed_client([(429, {})] * 6, retries=2, deadline_s=120.0)
    fly.call("POST", "/v1/apps/a/machines", action="create_machine", app="a", json={}, retry=False)
    assert len(seen) == 7 and all(r.method == "POST" for r in seen)
    assert t.slept == [0.25, 0.5, 1.0, 2.0, 4.0, 4.0]  # the jittered backoff, capped at 8 s * 0.5


def test_a_429_on_a_post_gives_up_when_the_next_wait_would_pass_the_deadline():
    fly, t, seen = timed_client([(429, {"Retry-After": "4"})] * 10, deadline_s=10.0)
    with pytest.raises(FlyStatusError) as caught:
        fly.call("POST", "/v1/apps", action="create_app", app="a", json={})
    assert caught.value.status == 429 and t.slept == [4.0, 4.0] and len(seen) == 3


def test_a_429_without_a_deadline_is_retried_as_many_times_as_other_failures():
    fly, _, seen = timed_client([(429, {})] * 10, retries=3)
    with pytest.raises(FlyStatusError):
        fly.call("POST", "/v1/apps/a/volumes", action="create_volume", app="a")
    assert len(seen) == 4


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
def test_other_failures_of_a_post_are_not_retried_even_with_retry_after(status):
    fly, t, seen = timed_client([(status, {"Retry-After": "1"})], deadline_s=120.0)
    with pytest.raises(FlyStatusError):
        fly.call("POST", "/v1/apps/a/machines", action="create_machine", app="a", json={}, retry=False)
    assert len(seen) == 1 and t.slept == []


def test_429s_do_not_use_up_the_retries_of_other_failures():
    script: list[tuple[int, dict[str, str]]] = [(429, {}), (500, {}), (429, {}), (500, {}), (429, {})]
    fly, _, seen = timed_client(script, retries=2, deadline_s=120.0)
    fly.call("GET", "/v1/apps/a", action="get_app", app="a")
    assert len(seen) == 6
