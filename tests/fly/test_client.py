"""FlyClient against httpx.MockTransport: auth, retries, error shape, rate limiting."""

from __future__ import annotations

import httpx
import pytest

from providers.fly import client as client_mod
from providers.fly import settings
from providers.fly.client import FlyClient
from providers.fly.errors import FlyConfigError, FlyNotFoundError, FlyRequestError, FlyStatusError
from providers.fly.ratelimit import RateLimiter
from tests.fly.clock import FakeTime

TOKEN = "secret-token-value"


def make_client(handler, **kwargs) -> FlyClient:
    kwargs.setdefault("sleep", lambda _s: None)
    return FlyClient(base_url="http://fly.test", token=TOKEN, transport=httpx.MockTransport(handler), **kwargs)


def scripted(*statuses: int, body=None):
    """A handler answering the given statuses in turn (the last one repeats), recording requests."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        status = statuses[min(len(seen) - 1, len(statuses) - 1)]
        payload = body if status < 400 else {"error": f"boom {status}", "status": "internal"}
        return httpx.Response(status, json=payload, headers={"fly-request-id": f"req-{len(seen)}"})

    return handler, seen


@pytest.mark.parametrize(
    ("token", "header"),
    [("plain-token", "Bearer plain-token"), ("FlyV1 fm2_abc,fm2_def", "FlyV1 fm2_abc,fm2_def")],
)
def test_client_auth_header_flyv1_sent_as_is_others_bearer(token, header):
    handler, seen = scripted(200, body={})
    FlyClient(base_url="http://fly.test", token=token, transport=httpx.MockTransport(handler)).call(
        "GET", "/v1/apps/a", action="get_app", app="a"
    )
    assert seen[0].headers["authorization"] == header


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503])
def test_client_get_retries_transient_status_then_succeeds(status):
    handler, seen = scripted(status, status, 200, body={"ok": True})
    assert make_client(handler).call("GET", "/v1/apps/a", action="get_app", app="a") == {"ok": True}
    assert len(seen) == 3


def test_client_post_not_retried_unless_declared_idempotent():
    handler, seen = scripted(500, 200, body={})
    with pytest.raises(FlyStatusError):
        make_client(handler).call("POST", "/v1/apps/a/machines", action="create_machine", app="a", json={})
    assert len(seen) == 1
    handler, seen = scripted(500, 200, body={})
    make_client(handler).call("POST", "/v1/apps/a/secrets", action="set", app="a", json={}, retry=True)
    assert len(seen) == 2


def test_client_persistent_500_error_has_status_message_request_id_and_no_token():
    handler, seen = scripted(500)
    with pytest.raises(FlyStatusError) as info:
        make_client(handler, retries=2).call("GET", "/v1/apps/a", action="get_app", app="a")
    text = str(info.value)
    assert len(seen) == 3
    assert info.value.status == 500 and info.value.request_id == "req-3"
    assert "HTTP 500" in text and "boom 500" in text and "req-3" in text and "/v1/apps/a" in text
    assert TOKEN not in text and TOKEN not in repr(info.value.args)


def test_client_404_raises_not_found_without_retry():
    handler, seen = scripted(404)
    with pytest.raises(FlyNotFoundError):
        make_client(handler).call("GET", "/v1/apps/a", action="get_app", app="a")
    assert len(seen) == 1


def test_client_dropped_connection_retried_for_get_and_reported_without_token():
    calls = []

    def handler(request):
        calls.append(request)
        raise httpx.RemoteProtocolError("server disconnected", request=request)

    with pytest.raises(FlyRequestError) as info:
        make_client(handler, retries=1).call("GET", "/v1/apps/a", action="get_app", app="a")
    assert len(calls) == 2
    assert "RemoteProtocolError" in str(info.value) and TOKEN not in str(info.value)


def test_client_expected_status_returned_not_raised():
    handler, seen = scripted(408)
    response = make_client(handler).request("GET", "/w", action="wait", app="a", retry=False, expect=frozenset({408}))
    assert response.status_code == 408 and len(seen) == 1


def test_client_backoff_has_full_jitter_and_cap():
    fly = make_client(scripted(200)[0], retry_base_s=1.0, jitter=lambda: 1.0)
    assert [fly.backoff(n) for n in range(5)] == [1.0, 2.0, 4.0, 8.0, 8.0]
    assert make_client(scripted(200)[0], jitter=lambda: 0.0).backoff(3) == 0.0


def test_client_rate_limiter_keyed_by_action_and_app():
    slept: list[float] = []
    now = [0.0]
    limiter = RateLimiter(1.0, 3, clock=lambda: now[0], sleep=slept.append)
    handler, _ = scripted(200, body={})
    fly = make_client(handler, limiter=limiter)
    for _ in range(4):
        fly.call("GET", "/v1/apps/a", action="get_app", app="a")
    fly.call("GET", "/v1/apps/b", action="get_app", app="b")
    fly.call("GET", "/v1/apps/a/machines", action="list_machines", app="a")
    assert slept == [1.0]  # only the 4th call on (get_app, a) waited


def test_open_client_paces_and_waits_on_the_clock_it_is_given(monkeypatch):
    """The process's limiter and the call deadline run on the caller's clock, with the tunables as set."""
    monkeypatch.setenv("FLY_API_URL", "http://fly.test")
    monkeypatch.setenv("FLY_API_TOKEN", TOKEN)
    monkeypatch.setenv("ALEX_FLY_RATE_PER_S", "1")
    monkeypatch.setenv("ALEX_FLY_BURST", "3")
    monkeypatch.setenv("ALEX_FLY_CALL_DEADLINE_S", "10")
    monkeypatch.setenv("ALEX_FLY_RETRIES", "1")
    t = FakeTime()
    handler, seen = scripted(200, 200, 200, 200, 429, body={})
    with client_mod.open_client(transport=httpx.MockTransport(handler), clock=t.clock, sleep=t.sleep) as fly:
        for _ in range(4):
            fly.call("GET", "/v1/apps/a", action="get_app", app="a")
        assert t.slept == [1.0]  # the 4th call on (get_app, a) waited for a token
        with pytest.raises(FlyStatusError):
            fly.call("POST", "/v1/apps/a/machines", action="create_machine", app="a", json={})
    # 429s are retried past ALEX_FLY_RETRIES, until the next backoff (at most 8 s) would pass the 10 s
    # deadline; the limiter's own pacing (1 s) may come on top of the last wait.
    posts = [r for r in seen if r.method == "POST"]
    assert len(posts) >= 4 and 10.0 - 8.0 <= t.now - 1.0 <= 10.0 + 1.0


def test_open_client_missing_token_names_env_and_config(monkeypatch):
    settings.forget_config()
    with pytest.raises(FlyConfigError) as info:
        client_mod.open_client()
    assert "FLY_API_TOKEN" in str(info.value) and "alex-hosted:flyApiToken" in str(info.value)


def test_settings_env_wins_over_configure_and_default(monkeypatch):
    class Cfg:
        def get(self, key):
            return {"alex-hosted:flyApiUrl": "http://cfg.test/v1/", "alex-hosted:flyApiToken": "cfg-token"}.get(key)

    settings.forget_config()
    assert settings.api_url() == "https://api.machines.dev"
    settings.remember_config(Cfg())
    try:
        assert settings.api_url() == "http://cfg.test" and settings.api_token() == "cfg-token"
        monkeypatch.setenv("FLY_API_URL", "http://env.test")
        monkeypatch.setenv("FLY_API_TOKEN", "env-token")
        assert settings.api_url() == "http://env.test" and settings.api_token() == "env-token"
    finally:
        settings.forget_config()


def test_settings_bad_tunable_names_the_variable(monkeypatch):
    monkeypatch.setenv("ALEX_FLY_WAIT_DEADLINE_S", "soon")
    with pytest.raises(FlyConfigError, match="ALEX_FLY_WAIT_DEADLINE_S"):
        settings.tunables()
