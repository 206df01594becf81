"""scripts.status never prints a secret an echoing endpoint hands back, and a token or URL that cannot
work is one stderr line with exit 2, never a traceback."""

from __future__ import annotations

from datetime import date

import pytest

from scripts.status import main
from tenants.roster import RosterEntry
from tests.support.servers import EchoServer, leaked

from .conftest import STACK

TENANT = RosterEntry("echouser001", "echo", "echo@example.com", "free", "active", created_at=date(2026, 9, 1))
TOKEN = "fly-status/tok+en=secret_0123456789"


def args(roster, *extra: str) -> list[str]:
    return ["--stack", STACK, "--roster", str(roster), *extra]


@pytest.fixture
def fast(monkeypatch):
    monkeypatch.setenv("ALEX_FLY_RETRIES", "0")
    monkeypatch.setenv("ALEX_FLY_RATE_PER_S", "0")


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422, 500, 502, 503, 200])
@pytest.mark.parametrize("output", [[], ["--json"]], ids=["table", "json"])
def test_status_never_prints_the_token_an_endpoint_echoes(fast, make_roster, run_cli, monkeypatch, status, output):
    with EchoServer(status) as echo:
        monkeypatch.setenv("FLY_API_URL", echo.url)
        monkeypatch.setenv("FLY_API_TOKEN", TOKEN)
        result = run_cli(main, args(make_roster([TENANT]), *output))
        assert echo.seen  # the token went out and came back
    everything = result.out + result.err
    assert leaked(everything, [TOKEN]) == [], result
    assert "Traceback" not in result.err
    assert result.code in (1, 2), result  # a problem on the tenant, or could not run


@pytest.mark.parametrize(
    "body", [b"[1, 2]", b'{"machines": []}', b'"text"', b"[[]]", b"<html>proxy</html>", b"[" * 50_000]
)
def test_status_a_body_of_the_wrong_shape_is_one_line_exit_2(fast, make_roster, run_cli, monkeypatch, body):
    with EchoServer(200) as echo:
        monkeypatch.setattr("tests.support.servers.echo_forms", lambda *_a: body)
        monkeypatch.setenv("FLY_API_URL", echo.url)
        monkeypatch.setenv("FLY_API_TOKEN", TOKEN)
        result = run_cli(main, args(make_roster([TENANT])))
    assert result.code == 2, result
    assert "Fly API GET" in result.error and "Traceback" not in result.err


BAD_TOKENS = {
    "non-ASCII": ("tok\u00e9n", "non-ASCII"),
    "typographic quotes": ("\u201ctoken\u201d", "non-ASCII"),
    "newline": ("tok\nen", "line break"),
    "carriage return": ("tok\r\nX-Evil: 1", "line break"),
    "empty": ("", "no Fly API token"),
    "blank": ("  ", "no Fly API token"),
}


@pytest.mark.parametrize(("token", "expected"), BAD_TOKENS.values(), ids=BAD_TOKENS.keys())
def test_status_unusable_token_is_one_line_exit_2(
    fast, make_roster, run_cli, monkeypatch, closed_port, token, expected
):
    monkeypatch.setenv("FLY_API_URL", f"http://127.0.0.1:{closed_port}")
    monkeypatch.setenv("FLY_API_TOKEN", token)
    result = run_cli(main, args(make_roster([TENANT])))
    assert result.code == 2, result
    assert expected in result.error and "Traceback" not in result.err
    if token.strip():
        assert token.strip() not in result.err and "FLY_API_TOKEN" in result.error


@pytest.mark.parametrize(
    "url", ["127.0.0.1:4280", "ftp://127.0.0.1", "http://127.0.0.1:99999", "http://a b", "http://"]
)
def test_status_malformed_fly_api_url_is_one_line_exit_2(fast, make_roster, run_cli, monkeypatch, url):
    monkeypatch.setenv("FLY_API_URL", url)
    monkeypatch.setenv("FLY_API_TOKEN", TOKEN)
    result = run_cli(main, args(make_roster([TENANT])))
    assert result.code == 2, result
    assert "FLY_API_URL" in result.error and "Traceback" not in result.err
