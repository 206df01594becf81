"""A Fly token or API URL that cannot work is one FlyConfigError naming where it came from, never quoting the token."""

from __future__ import annotations

import pytest

from providers.fly import settings
from providers.fly.client import FlyClient, open_client
from providers.fly.errors import FlyConfigError

BAD_TOKENS = {
    "non-ASCII": ("tok\u00e9n-value", "non-ASCII"),
    "typographic quote": ("\u201ctoken-value\u201d", "non-ASCII"),
    "newline": ("token\nvalue", "line break"),
    "header injection": ("token\r\nX-Evil: 1", "line break"),
    "tab": ("tok\ten", "control character"),
    "NUL": ("tok\x00en", "control character"),
    "DEL": ("tok\x7fen", "control character"),
    "empty": ("", None),
    "blank": ("   ", None),
}
BAD_URLS = ["api.machines.dev", "ftp://api.machines.dev", "http://", "http://h:99999", "http://h:port", "http://a b",
            "https://api.mach\tines.dev", "http://h\u00e9st", "http://h:0"]  # fmt: skip


@pytest.mark.parametrize(("token", "why"), BAD_TOKENS.values(), ids=BAD_TOKENS.keys())
def test_fly_client_refuses_a_token_that_cannot_be_a_header(token, why):
    with pytest.raises(FlyConfigError) as caught:
        FlyClient(base_url="http://127.0.0.1:9", token=token)
    assert why is None or why in str(caught.value)
    assert "\n" not in str(caught.value) and (not token.strip() or token not in str(caught.value))


# An environment variable cannot hold NUL, so that case comes only through stack config.
SOURCES_OF_BAD_TOKENS = [
    pytest.param(token, why, source, id=f"{name}-{source}")
    for name, (token, why) in BAD_TOKENS.items()
    for source in ("env", "config")
    if not (source == "env" and "\x00" in token)
]


@pytest.mark.parametrize(("token", "why", "source"), SOURCES_OF_BAD_TOKENS)
def test_settings_name_the_source_of_a_bad_token(monkeypatch, token, why, source):
    monkeypatch.setenv(settings.URL_ENV, "http://127.0.0.1:9")
    if source == "env":
        monkeypatch.setenv(settings.TOKEN_ENV, token)
    else:
        monkeypatch.delenv(settings.TOKEN_ENV, raising=False)
        settings.remember_config({settings.TOKEN_CONFIG: token})
    with pytest.raises(FlyConfigError) as caught:
        open_client()
    message = str(caught.value)
    if token.strip():
        assert why in message and (settings.TOKEN_ENV if source == "env" else settings.TOKEN_CONFIG) in message
    assert "\n" not in message and (not token.strip() or token not in message)


@pytest.mark.parametrize("url", BAD_URLS)
@pytest.mark.parametrize("source", ["env", "config"])
def test_settings_name_the_source_of_a_malformed_api_url(monkeypatch, url, source):
    monkeypatch.setenv(settings.TOKEN_ENV, "good-token")
    if source == "env":
        monkeypatch.setenv(settings.URL_ENV, url)
        where = settings.URL_ENV
    else:
        monkeypatch.delenv(settings.URL_ENV, raising=False)
        settings.remember_config({settings.URL_CONFIG: url})
        where = settings.URL_CONFIG
    with pytest.raises(FlyConfigError) as caught:
        open_client()
    assert where in str(caught.value) and "\n" not in str(caught.value)


def test_settings_keep_a_good_url_and_strip_v1(monkeypatch):
    monkeypatch.setenv(settings.URL_ENV, "http://127.0.0.1:4280/v1/")
    assert settings.api_url() == "http://127.0.0.1:4280"
