"""Every operator script of this suite answers --help with exit 0 and names itself."""

from __future__ import annotations

import importlib

import pytest

SCRIPTS = ["affected_stacks", "export", "status", "storage"]


@pytest.mark.parametrize("name", SCRIPTS)
def test_cli_help_exits_0_and_shows_usage(name, run_cli):
    module = importlib.import_module(f"scripts.{name}")

    result = run_cli(module.main, ["--help"])

    assert result.code == 0, result
    assert f"usage: python -m scripts.{name}" in result.out
    assert "--" in result.out


@pytest.mark.parametrize("name", SCRIPTS)
def test_cli_usage_error_exits_2(name, run_cli):
    module = importlib.import_module(f"scripts.{name}")

    result = run_cli(module.main, ["--no-such-flag"])

    assert result.code == 2, result
    assert "unrecognized arguments" in result.err or "required" in result.err
