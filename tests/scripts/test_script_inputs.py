"""Every script that takes an endpoint, a credential or a number from the operator answers a malformed one
with one `error` line naming it and its documented exit code, never a traceback (and never a DNS lookup)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from scripts import empty_bucket, export, migrate_selfhosted, storage, stripe_sync
from tenants.roster import RosterEntry

from .conftest import R2_KEY_ID, R2_SECRET, STACK

TENANT = RosterEntry("inputsuser1", "inputs", "inputs@example.com", "free", "active", created_at=date(2026, 9, 1))
BAD_ENDPOINTS = {
    "no scheme": "127.0.0.1:9000",
    "other scheme": "ftp://127.0.0.1:9000",
    "port out of range": "http://127.0.0.1:99999",
    "port not a number": "http://127.0.0.1:port",
    "port zero": "http://127.0.0.1:0",
    "space": "http://127.0.0.1 :9000",
    "inner space": "http://r2 endpoint.example",
    "no host": "http://",
    "non-ASCII": "http://r2.ex\u00e4mple.com",
}
BAD_CREDENTIALS = {
    "non-ASCII": "key\u00e9",
    "typographic quote": "\u201ckey\u201d",
    "newline": "key\nvalue",
}


def no_traceback(result, code: int, *names: str) -> None:
    assert result.code == code, result
    assert "Traceback" not in result.err, result
    for name in names:
        assert name in result.err, result


def empty_bucket_run(capsys, env: dict[str, str]):
    class Result:
        pass

    capsys.readouterr()
    result = Result()
    result.code = empty_bucket.main([], environ=env)  # type: ignore[attr-defined]
    captured = capsys.readouterr()
    result.out, result.err = captured.out, captured.err  # type: ignore[attr-defined]
    return result


def bucket_env(endpoint: str, **overrides: str) -> dict[str, str]:
    env = {
        "ALEX_TENANT": "t1",
        "ALEX_PURGE_CONFIRMED": "t1",
        "R2_ENDPOINT": endpoint,
        "R2_BUCKET": "alex-t1",
        "R2_ACCESS_KEY_ID": R2_KEY_ID,
        "R2_SECRET_ACCESS_KEY": R2_SECRET,
    }
    return env | overrides


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    (tmp_path / "data" / "library").mkdir(parents=True)
    (tmp_path / "data" / "library.db").write_bytes(b"")
    return tmp_path / "data"


@pytest.fixture
def r2_env(monkeypatch):
    monkeypatch.setenv("R2_ACCESS_KEY_ID", R2_KEY_ID)
    monkeypatch.setenv("R2_SECRET_ACCESS_KEY", R2_SECRET)


@pytest.mark.parametrize("endpoint", BAD_ENDPOINTS.values(), ids=BAD_ENDPOINTS.keys())
def test_export_malformed_r2_endpoint_is_one_line_exit_2(run_cli, make_roster, r2_env, monkeypatch, endpoint):
    monkeypatch.setenv("R2_ENDPOINT", endpoint)
    result = run_cli(export.main, ["--stack", STACK, "--roster", str(make_roster([TENANT])), "--tenant", TENANT.id])
    no_traceback(result, 2, "R2_ENDPOINT")
    assert result.error


@pytest.mark.parametrize("endpoint", BAD_ENDPOINTS.values(), ids=BAD_ENDPOINTS.keys())
@pytest.mark.parametrize("source", ["env", "flag"])
def test_migrate_selfhosted_malformed_endpoint_is_one_line_exit_1(
    run_cli, r2_env, monkeypatch, data_dir, endpoint, source
):
    argv = ["--data-dir", str(data_dir), "--bucket", "alex-t1"]
    if source == "flag":
        argv += ["--endpoint", endpoint]
    else:
        monkeypatch.setenv("R2_ENDPOINT", endpoint)
    result = run_cli(migrate_selfhosted.main, argv)
    no_traceback(result, 1, "--endpoint" if source == "flag" else "R2_ENDPOINT")
    assert result.error


@pytest.mark.parametrize("endpoint", BAD_ENDPOINTS.values(), ids=BAD_ENDPOINTS.keys())
def test_empty_bucket_malformed_r2_endpoint_is_one_line_exit_2(capsys, endpoint):
    result = empty_bucket_run(capsys, bucket_env(endpoint))
    no_traceback(result, 2, "R2_ENDPOINT")
    assert len(result.err.strip().splitlines()) == 1


@pytest.mark.parametrize("name", ["R2_ACCESS_KEY_ID", "R2_SECRET_ACCESS_KEY"])
@pytest.mark.parametrize("value", BAD_CREDENTIALS.values(), ids=BAD_CREDENTIALS.keys())
def test_r2_scripts_unusable_credential_is_one_line_never_quoted(
    run_cli, make_roster, r2_env, monkeypatch, capsys, data_dir, closed_port, name, value
):
    endpoint = f"http://127.0.0.1:{closed_port}"
    monkeypatch.setenv("R2_ENDPOINT", endpoint)
    monkeypatch.setenv(name, value)
    results = {
        "export": (run_cli(export.main, ["--stack", STACK, "--roster", str(make_roster([TENANT])), "--tenant", TENANT.id]), 2),
        "migrate": (run_cli(migrate_selfhosted.main, ["--data-dir", str(data_dir), "--bucket", "alex-t1"]), 1),
        "empty_bucket": (empty_bucket_run(capsys, bucket_env(endpoint, **{name: value})), 2),
    }  # fmt: skip
    for result, code in results.values():
        no_traceback(result, code, name)
        assert value not in result.err


@pytest.mark.parametrize("attempts", ["\u00b2", "\u0663", "-1", "0", "1e3", "", " 5"])
def test_empty_bucket_refuses_r2_max_attempts_that_int_would_choke_on(capsys, closed_port, attempts):
    env = bucket_env(f"http://127.0.0.1:{closed_port}", R2_MAX_ATTEMPTS=attempts)
    result = empty_bucket_run(capsys, env)
    no_traceback(result, 1, "R2_MAX_ATTEMPTS")


@pytest.mark.parametrize("url", BAD_ENDPOINTS.values(), ids=BAD_ENDPOINTS.keys())
def test_storage_malformed_cloudflare_base_url_is_one_line_exit_2(run_cli, make_roster, monkeypatch, url):
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "cf-token")
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", url)
    result = run_cli(storage.main, ["--stack", STACK, "--roster", str(make_roster([TENANT]))])
    no_traceback(result, 2, "CLOUDFLARE_BASE_URL")
    assert result.error


@pytest.mark.parametrize("value", BAD_CREDENTIALS.values(), ids=BAD_CREDENTIALS.keys())
def test_storage_unusable_cloudflare_token_is_one_line_never_quoted(run_cli, make_roster, monkeypatch, value):
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", value)
    result = run_cli(storage.main, ["--stack", STACK, "--roster", str(make_roster([TENANT]))])
    no_traceback(result, 2, "CLOUDFLARE_API_TOKEN")
    assert value not in result.err


@pytest.mark.parametrize(
    ("name", "value"), [(n, v) for n in ("--api-base", "STRIPE_API_BASE") for v in BAD_ENDPOINTS.values()]
)
def test_stripe_sync_malformed_api_base_is_one_line_exit_2(monkeypatch, capsys, tmp_path, name, value):
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_inputs")
    argv = ["--roster", str(tmp_path / "r.yaml")]
    if name.startswith("--"):
        argv += [name, value]
    else:
        monkeypatch.setenv(name, value)
    assert stripe_sync.main(argv) == 2
    err = capsys.readouterr().err
    assert name in err and "Traceback" not in err


@pytest.mark.parametrize("value", BAD_CREDENTIALS.values(), ids=BAD_CREDENTIALS.keys())
def test_stripe_sync_unusable_api_key_is_one_line_never_quoted(monkeypatch, capsys, tmp_path, value):
    monkeypatch.setenv("STRIPE_API_KEY", value)
    assert stripe_sync.main(["--roster", str(tmp_path / "r.yaml")]) == 2
    err = capsys.readouterr().err
    assert "STRIPE_API_KEY" in err and value not in err and "Traceback" not in err


NUMBER_FLAGS: dict[str, tuple[Callable[..., int], list[str], str]] = {
    "export --expires": (export.main, ["--tenant", TENANT.id, "--expires"], "--expires"),
    "export --timeout": (export.main, ["--tenant", TENANT.id, "--timeout"], "--timeout"),
    "storage --timeout": (storage.main, ["--timeout"], "--timeout"),
    "storage --suspend-after": (storage.main, ["--suspend-after"], "--suspend-after"),
}


@pytest.mark.parametrize(("main", "flag", "name"), NUMBER_FLAGS.values(), ids=NUMBER_FLAGS.keys())
@pytest.mark.parametrize("value", ["\u0661\u0662", "1_0", "nan", "inf", "-inf", "0x10", "\u00b2"])
def test_number_flags_take_plain_ascii_numbers_only(run_cli, make_roster, main, flag, name, value):
    result = run_cli(main, ["--stack", STACK, "--roster", str(make_roster([TENANT])), *flag, value])
    no_traceback(result, 2, name)


@pytest.mark.parametrize("value", ["\u0661", "1_0", "+3"])
def test_stripe_sync_grace_days_takes_plain_ascii_numbers_only(capsys, tmp_path, value):
    assert stripe_sync.main(["--roster", str(tmp_path / "r.yaml"), "--grace-days", value]) == 2
    err = capsys.readouterr().err
    assert "--grace-days" in err and "Traceback" not in err
