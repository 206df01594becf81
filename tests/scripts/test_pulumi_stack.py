"""scripts.pulumi_stack: the one place the workflows and the e2e lane run the engine from.

The real engine runs it in tests/e2e; here a stand-in `pulumi` (ALEX_PULUMI) records the arguments it is
given, so each command's exact invocation, the validation before `up` and the exit codes are pinned."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.pulumi_stack import pulumi_args
from tenants.roster import REPO_ROOT


@pytest.fixture
def fake_pulumi(tmp_path: Path) -> tuple[Path, Path]:
    """A `pulumi` that writes its arguments to a file and exits with FAKE_EXIT (0 by default)."""
    record = tmp_path / "args.json"
    binary = tmp_path / "pulumi"
    binary.write_text(
        f"#!{sys.executable}\nimport json, os, sys\n"
        f"open({str(record)!r}, 'w').write(json.dumps(sys.argv[1:]))\n"
        "sys.exit(int(os.environ.get('FAKE_EXIT', '0')))\n",
        encoding="utf-8",
    )
    binary.chmod(0o755)
    return binary, record


def run(args: list[str], binary: Path | None, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {"PATH": "/usr/bin:/bin", "HOME": str(REPO_ROOT), **env}
    if binary is not None:
        environ["ALEX_PULUMI"] = str(binary)
    return subprocess.run(
        [sys.executable, "-m", "scripts.pulumi_stack", *args],
        cwd=REPO_ROOT, env=environ, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("preview", ["preview", "--stack", "dev", "--non-interactive", "--diff"]),
        ("drift", ["preview", "--stack", "dev", "--non-interactive", "--diff", "--refresh", "--expect-no-changes"]),
        (
            "up",
            ["up", "--stack", "dev", "--non-interactive", "--diff", "--yes", "--skip-preview", "--continue-on-error"],
        ),
    ],
)
def test_each_command_runs_exactly_one_pulumi_invocation(command, expected, fake_pulumi) -> None:
    binary, record = fake_pulumi
    done = run([command, "--stack", "dev"], binary)
    assert done.returncode == 0, done.stderr
    assert json.loads(record.read_text()) == expected == pulumi_args(command, "dev")


def test_arguments_after_a_double_dash_go_to_pulumi_and_no_changes_is_expected_when_asked(fake_pulumi) -> None:
    binary, record = fake_pulumi
    assert run(["preview", "--stack", "dev", "--no-changes", "--", "--json"], binary).returncode == 0
    assert json.loads(record.read_text())[-2:] == ["--expect-no-changes", "--json"]


def test_a_failed_engine_run_is_exit_1(fake_pulumi) -> None:
    binary, _ = fake_pulumi
    assert run(["up", "--stack", "dev"], binary, FAKE_EXIT="255").returncode == 1


def test_up_refuses_an_unusable_stack_before_any_engine_run(fake_pulumi) -> None:
    binary, record = fake_pulumi
    done = run(["up", "--stack", "nosuch"], binary)
    assert done.returncode == 2
    assert done.stderr.startswith("pulumi_stack: error: stack 'nosuch'"), done.stderr
    assert not record.exists()


def test_no_pulumi_anywhere_is_exit_2_with_the_way_to_install_it() -> None:
    done = run(["preview", "--stack", "dev"], None)
    assert done.returncode == 2
    assert "no `pulumi` on PATH" in done.stderr and "installer" in done.stderr
