"""FlyClient honours Retry-After on 429 and 503 (seconds and HTTP-date), capped, within the call's deadline."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from components.fly.client import MAX_RETRY_AFTER_S, FlyClient
from components.fly.errors import FlyStatusError
from components.retry_after import retry_after_s

NOW = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)
JITTERED = 0.25  # base 0.5 * 2**0 * jitter 0.5: what the backoff gives when no usable Retry-After came


def client_for(statuses: list[tuple[int, dict[str, str]]], slept: list[float], **kwargs) -> FlyClient:
    """Answers each scripted (status, headers) in turn, then 200; the sleeps are recorded, not slept."""
    calls = iter(statuses)

    def handler(_request: httpx.Request) -> httpx.Response:
        status, headers = next(calls, (200, {}))
        raw = [(k.encode(), v.encode()) for k, v in headers.items()]  # bytes: non-ASCII values as a server may send
        return httpx.Response(status, json={} if status < 400 else {"error": "slow down"}, headers=raw)

    return FlyClient(
        base_url="http://fly.test",
        token="retry-after-token",
        transport=httpx.MockTransport(handler),
        sleep=slept.append,
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
    client = client_for([(429, {"Retry-After": "30"})], slept, **({"deadline_s": 10.0} if where == "client" else {}))
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
