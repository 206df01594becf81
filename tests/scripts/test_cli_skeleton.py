"""Every operator script is one skeleton: --help exits 0 with usage on stdout; a bad flag or flag value
exits 2 with exactly one `<script>: error: ...` line on stderr and no traceback (it used to be
SystemExit(2) from four scripts, exit 1 from migrate_selfhosted, and usage plus a second line)."""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from scripts import cli
from tenants.roster import REPO_ROOT

SCRIPTS = sorted(
    path.stem
    for path in (REPO_ROOT / "scripts").glob("*.py")
    if callable(getattr(importlib.import_module(f"scripts.{path.stem}"), "main", None))
)
# One typed flag per script given a value its type refuses (or, where a script has no typed flag, a
# flag with its value missing or a stray argument).
BAD_VALUES = {
    "affected_stacks": ["--base"],
    "alerts": ["--stack", "dev", "--timeout", "inf"],
    "changed_tenants": ["--stack", "dev", "--base", "HEAD", "--max-tenants", "many"],
    "dashboard": ["--stack", "dev", "--timeout", "0"],
    "empty_bucket": ["stray"],
    "export": ["--stack", "dev", "--tenant", "t1", "--expires", "soon"],
    "migrate_selfhosted": ["--bucket", "alex-t1", "--data-dir"],
    "plan": ["dev", "--awake-fraction", "half"],
    "pulumi_stack": ["up", "--stack"],
    "status": ["--stack"],
    "storage": ["--stack", "dev", "--timeout", "nan"],
    "stripe_sync": ["--stack", "dev", "--grace-days", "-1"],
    "stripe_webhook": ["--stack", "dev", "--port", "http"],
}


def script(name: str) -> ModuleType:
    return importlib.import_module(f"scripts.{name}")


def one_error_line(name: str, err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"{name}: error: "), err
    assert "Traceback" not in err
    return lines[0]


def test_every_script_is_listed() -> None:
    assert sorted(BAD_VALUES) == SCRIPTS


@pytest.mark.parametrize("name", SCRIPTS)
def test_help_exits_0_with_usage_on_stdout(name, run_cli) -> None:
    result = run_cli(script(name).main, ["--help"])

    assert result.code == 0, result
    assert result.out.startswith(f"usage: python -m scripts.{name}"), result
    assert result.err == ""


@pytest.mark.parametrize("name", SCRIPTS)
def test_unknown_flag_exits_2_with_one_error_line(name, run_cli) -> None:
    result = run_cli(script(name).main, ["--no-such-flag"])

    assert result.code == 2, result
    one_error_line(name, result.err)
    assert result.out == ""


@pytest.mark.parametrize("name", SCRIPTS)
def test_bad_flag_value_exits_2_with_one_error_line(name, run_cli) -> None:
    result = run_cli(script(name).main, BAD_VALUES[name])

    assert result.code == 2, result
    line = one_error_line(name, result.err)
    flag = next((arg for arg in reversed(BAD_VALUES[name]) if arg.startswith("--")), None)
    assert flag is None or flag in line, line


def test_migrate_selfhosted_bad_flag_is_a_usage_error_not_a_user_error(run_cli) -> None:
    # It answered 1 ("wrong input") with its usage printed first; a bad flag is exit 2 everywhere.
    result = run_cli(script("migrate_selfhosted").main, ["--data-dir", "d", "--bucket", "b", "--forse"])

    assert result.code == 2, result
    assert "--forse" in one_error_line("migrate_selfhosted", result.err)


@pytest.mark.parametrize("name", ["stripe_sync", "stripe_webhook", "plan", "export"])
def test_usage_errors_return_instead_of_raising_system_exit(name) -> None:
    # argparse used to run outside the error handler in these: a caller got SystemExit(2).
    main: Callable[[list[str]], int] = script(name).main
    assert main(["--no-such-flag"]) == 2


def test_plan_invalid_roster_is_one_error_line(run_cli, tmp_path: Path) -> None:
    # It printed `error: ` and the problems on several lines, unlike every other script.
    roster = tmp_path / "dev.yaml"
    roster.write_text("- id: acme000001\n  username: www\n  email: nope\n  plan: gold\n  state: active\n")

    result = run_cli(script("plan").main, ["dev", "--roster", str(roster)])

    assert result.code == 1, result
    assert "unknown plan 'gold'" in one_error_line("plan", result.err)


def test_error_lines_never_show_a_secret_read_from_the_environment(run_cli, monkeypatch) -> None:
    secret = "sk_test_never_in_an_error_line"
    monkeypatch.setenv("STRIPE_API_KEY", secret)

    def body(argv: object) -> int:
        key = cli.stripe_api_key()
        raise cli.CliError(f"Stripe echoed {key} back")

    result = run_cli(lambda argv: cli.run("demo", body, argv), [])

    assert result.code == 2
    assert secret not in result.err and one_error_line("demo", result.err)


@pytest.mark.parametrize("name", ["export", "migrate_selfhosted", "plan"])
def test_module_run_with_a_bad_flag_exits_2_with_one_line(name) -> None:
    done = subprocess.run(
        [sys.executable, "-m", f"scripts.{name}", "--no-such-flag"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 2, done
    one_error_line(name, done.stderr)
    assert done.stdout == ""
