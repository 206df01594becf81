"""A broken roster file is one clear error through every entry point, with the documented exit code.

README "Operator scripts": plan exits 1 for an invalid roster, the others exit 2 (could not run); the
Pulumi program fails with a RunError, never a traceback. The family: every way a file can be wrong
before its entries are even looked at, and the values YAML builds that are not text.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pulumi
import pytest

from components.program import run as run_program
from scripts import export, plan, status, storage, stripe_sync
from tests.program.harness import SETTINGS_VALUES

ENTRY = "- id: acme000001\n  username: alice\n  email: a@example.org\n  plan: reader\n  state: active\n"


def _bomb() -> str:
    lines = ['  a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"  a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 9)}]" for n in range(1, 9)]
    return ENTRY + "\n".join(lines) + "\n"


# name -> (how to make the roster at `path`, what the one error says)
BROKEN: dict[str, tuple[Callable[[Path], object], str]] = {
    "missing": (lambda p: None, "file not found"),
    "directory": (lambda p: p.mkdir(), "is a directory, not a file"),
    "not UTF-8": (lambda p: p.write_bytes(b"- id: caf\xe9\n"), "is not UTF-8 text (byte 9"),
    "BOM": (lambda p: p.write_text("\ufeff" + ENTRY, encoding="utf-8"), "starts with a byte-order mark"),
    "empty": (lambda p: p.write_text(""), "an empty roster is written as []"),
    "a scalar": (lambda p: p.write_text("tenants\n"), "expected a list of tenant entries at the top level, got the str"),
    "a mapping": (lambda p: p.write_text("id: acme000001\n"), "expected a list of tenant entries at the top level, got a mapping"),
    "list of scalars": (lambda p: p.write_text("- acme000001\n"), "entry 1: (entry): expected a mapping of field: value"),
    "impossible date": (lambda p: p.write_text(ENTRY + "  created_at: 2026-02-30\n"), "created_at: expected a date YYYY-MM-DD, got '2026-02-30' (no such day)"),
    "list for a scalar": (lambda p: p.write_text(ENTRY.replace("alice", "[al, ice]")), "username: expected text, got a list"),
    "mapping for a scalar": (lambda p: p.write_text(ENTRY.replace("reader", "{a: 1}")), "plan: expected text, got a mapping"),
    "not YAML": (lambda p: p.write_text("- id: [\n"), "not valid YAML"),
    "alias bomb": (lambda p: p.write_text(_bomb()), "YAML anchors and aliases are not allowed"),
}  # fmt: skip


@pytest.fixture(params=list(BROKEN))
def broken(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "dev.yaml"
    make, message = BROKEN[request.param]
    make(path)
    return path, message


def assert_one_clear_error(result, path: Path, message: str, code: int) -> None:
    assert result.code == code, result
    assert "Traceback" not in result.err, result
    assert str(path) in result.err and message in result.err, result
    assert result.out == "", result


def test_plan_broken_roster_exits_1_with_one_error(run_cli, broken) -> None:
    path, message = broken
    assert_one_clear_error(run_cli(plan.main, ["dev", "--roster", str(path)]), path, message, 1)


def test_stripe_sync_broken_roster_exits_2_with_one_error(run_cli, broken, closed_port, monkeypatch) -> None:
    path, message = broken
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_never_used")
    argv = ["--roster", str(path), "--api-base", f"http://127.0.0.1:{closed_port}", "--now", "2026-11-26"]
    result = run_cli(stripe_sync.main, argv)
    assert_one_clear_error(result, path, message, 2)
    assert len([line for line in result.err.splitlines() if line.strip()]) == 1, result


@pytest.mark.parametrize("script", [storage, export, status], ids=["storage", "export", "status"])
def test_operator_scripts_broken_roster_exit_2_with_one_error(run_cli, broken, script) -> None:
    path, message = broken
    argv = ["--stack", "dev", "--roster", str(path)] + (["--tenant", "acme000001"] if script is export else [])
    result = run_cli(script.main, argv)
    assert_one_clear_error(result, path, message, 2)
    assert len([line for line in result.err.splitlines() if line.strip()]) == 1, result


def test_program_broken_roster_is_a_run_error(broken, monkeypatch) -> None:
    path, message = broken
    pulumi.runtime.set_all_config({**SETTINGS_VALUES, "alex-hosted:roster": str(path)})
    monkeypatch.setattr(pulumi, "get_stack", lambda: "prod")
    try:
        with pytest.raises(pulumi.RunError) as caught:
            run_program()
    finally:
        pulumi.runtime.set_all_config({})
    assert str(path) in str(caught.value) and message in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
