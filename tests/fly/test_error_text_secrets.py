"""No error text built from a Fly exchange holds a secret the call sent, whatever an echoing endpoint returns.

An EchoServer on 127.0.0.1 reflects the whole request (Authorization header, secrets body) raw, JSON-escaped,
URL-encoded, repr-escaped and base64, at an error status or as a 200 with a garbage body.
"""

from __future__ import annotations

import logging

import pytest

from common.redact import scrub
from providers.fly.client import FlyClient, open_client
from providers.fly.errors import FlyError
from providers.fly.secrets import SecretsProvider
from tests.support.servers import EchoServer
from tests.support.servers import leaked as find_leaks

TOKEN = "fly-tok/with+odd=chars&more_0123456789"
FLYV1 = "FlyV1 fm2_lJPECAAAAAAAAfake+/=,fm2_second/part+x"
VALUES = {
    "OWNER_INITIAL_PASSWORD": "pässwörd with spaces/and\"quotes'",
    "NEXTAUTH_SECRET": "nextauth+secret/value==",
    "R2_SECRET_ACCESS_KEY": "r2-secret-\u00e9\u4e2d-key",
}
SECRETS = [TOKEN, FLYV1, *VALUES.values()]
ECHO_STATUSES = [400, 401, 404, 409, 422, 500, 503]


def leaked(text: str) -> list[str]:
    """The secrets still found in `text`, in any form the echo used."""
    return find_leaks(text, SECRETS)


def fly(url: str, token: str = TOKEN) -> FlyClient:
    return FlyClient(base_url=url, token=token, retries=1, sleep=lambda _s: None)


@pytest.mark.parametrize("token", [TOKEN, FLYV1])
@pytest.mark.parametrize("status", [*ECHO_STATUSES, 200])
@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_fly_client_errors_never_quote_the_token(token, status, method):
    with EchoServer(status) as echo:
        with pytest.raises(FlyError) as caught:
            fly(echo.url, token).call(method, "/v1/apps/a/machines", action="x", app="a", json={"k": "v"})
        assert echo.seen and token.split()[-1] in echo.seen[0].decode("utf-8", "replace")  # it was echoed
    text = f"{caught.value!s} {caught.value!r} {vars(caught.value)}"
    assert "[redacted]" in text or status == 200
    assert leaked(text) == []


@pytest.mark.parametrize("status", [*ECHO_STATUSES, 200])
def test_fly_client_errors_never_quote_values_marked_secret(status):
    with EchoServer(status) as echo, pytest.raises(FlyError) as caught:
        fly(echo.url).call(
            "POST", "/v1/apps/a/secrets", action="set_secrets", app="a",
            json={"values": VALUES}, secrets=VALUES.values(),
        )  # fmt: skip
    assert leaked(f"{caught.value!s} {vars(caught.value)}") == []


@pytest.mark.parametrize("status", [*ECHO_STATUSES, 200])
@pytest.mark.parametrize("operation", ["create", "update", "delete"])
def test_secrets_provider_errors_never_quote_token_or_values(monkeypatch, caplog, status, operation):
    """The provider's own write path marks every value it sends as secret."""
    caplog.set_level(logging.DEBUG)
    provider = SecretsProvider()
    with EchoServer(status) as echo:
        monkeypatch.setenv("FLY_API_URL", echo.url)
        monkeypatch.setenv("FLY_API_TOKEN", TOKEN)
        monkeypatch.setenv("ALEX_FLY_RETRIES", "0")
        monkeypatch.setenv("ALEX_FLY_RATE_PER_S", "0")
        props = {"app": "a", "values": VALUES}
        run = {
            "create": lambda: provider.create(props),
            "update": lambda: provider.update("a", {"app": "a", "values": {"OLD": "old-secret-value"}}, props),
            "delete": lambda: provider.delete("a", props),
        }[operation]
        try:
            run()
            text = ""  # delete of a missing app (404) is a success
        except FlyError as exc:
            text = f"{exc!s} {vars(exc)}"
    assert text or (operation, status) == ("delete", 404)
    assert leaked(f"{text} {caplog.text}") == []


def test_open_client_scrubs_the_token_from_settings(monkeypatch):
    with EchoServer(500) as echo:
        monkeypatch.setenv("FLY_API_URL", echo.url)
        monkeypatch.setenv("FLY_API_TOKEN", f"  {TOKEN}  ")
        monkeypatch.setenv("ALEX_FLY_RETRIES", "0")
        monkeypatch.setenv("ALEX_FLY_RATE_PER_S", "0")
        with open_client() as client, pytest.raises(FlyError) as caught:
            client.call("GET", "/v1/apps/a", action="get_app", app="a")
    assert leaked(str(caught.value)) == []


@pytest.mark.parametrize(
    "form",
    [
        lambda s: s,
        lambda s: s.replace("/", "\\/"),
        lambda s: "".join(c if c.isalnum() else f"\\u{ord(c):04X}" for c in s),
        lambda s: "".join(c if c.isalnum() else f"%{ord(c):02x}" for c in s if ord(c) < 128),
    ],
)
def test_scrub_removes_every_encoding_of_a_secret(form):
    secret = "abc/def+ghi=jkl"
    assert "abc" not in scrub(f"before {form(secret)} after", [secret])


@pytest.mark.parametrize("status", [400, 500, 200])
def test_provider_process_errors_never_quote_token_or_values(status):
    """Through the real provider server (as Pulumi runs it): its error details and stderr hold no secret."""
    from providers.fly.app import AppProvider
    from tests.fly.conftest import FAST_ENV
    from tests.support.engine import ProviderCallError, ProviderHost

    with EchoServer(status) as echo:
        env = {"FLY_API_URL": echo.url, "FLY_API_TOKEN": TOKEN, **FAST_ENV, "ALEX_FLY_RETRIES": "0"}
        with ProviderHost(env=env) as host:
            secrets = host.bind(SecretsProvider())
            details = []
            with pytest.raises(ProviderCallError) as caught:
                secrets.create(secrets.check({}, {"app": "echo-app", "values": VALUES}).inputs)
            details.append(caught.value.details)
            apps = host.bind(AppProvider())
            with pytest.raises(ProviderCallError) as caught:
                apps.create(apps.check({}, {"name": "echo-app", "org": "personal"}).inputs)
            details.append(caught.value.details)
            stderr = host.stderr()
        assert echo.seen
    assert all("Fly API" in d for d in details)
    assert leaked(" ".join(details) + stderr) == []
