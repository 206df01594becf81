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


@pytest.fixture
def logging_pulumi(tmp_path: Path) -> tuple[Path, Path]:
    """A `pulumi` that appends each invocation (arguments, PULUMI_SKIP_CHECKPOINTS) to a JSON-lines log and
    answers `stack export` with the file FAKE_EXPORT names (exit FAKE_EXPORT_EXIT)."""
    log = tmp_path / "runs.jsonl"
    binary = tmp_path / "pulumi"
    binary.write_text(
        f"#!{sys.executable}\nimport json, os, sys\n"
        f"with open({str(log)!r}, 'a') as f:\n"
        "    f.write(json.dumps([sys.argv[1:], os.environ.get('PULUMI_SKIP_CHECKPOINTS')]) + '\\n')\n"
        "if sys.argv[1:3] == ['stack', 'export']:\n"
        "    sys.stdout.write(open(os.environ['FAKE_EXPORT']).read())\n"
        "    sys.stderr.write('export failed: state unreadable\\n')\n"
        "    sys.exit(int(os.environ.get('FAKE_EXPORT_EXIT', '0')))\n",
        encoding="utf-8",
    )
    binary.chmod(0o755)
    return binary, log


def invocations(log: Path) -> list[tuple[list[str], str | None]]:
    return [tuple(json.loads(line)) for line in log.read_text().splitlines()] if log.exists() else []


def export_of(tmp_path: Path, *types: str) -> str:
    path = tmp_path / "export.json"
    resources = [{"urn": f"urn:pulumi:dev::alex-hosted::{t}::x{i}", "type": t} for i, t in enumerate(types)]
    path.write_text(json.dumps({"version": 3, "deployment": {"resources": resources}}))
    return str(path)


@pytest.mark.parametrize(
    "types",
    [(), ("pulumi:pulumi:Stack",), ("pulumi:pulumi:Stack", "alex-hosted:edge:Edge")],
    ids=["no state", "only the stack", "only the edge"],
)
def test_bulk_up_of_a_new_stack_skips_the_checkpoint_after_each_step(types, logging_pulumi, tmp_path) -> None:
    binary, log = logging_pulumi
    done = run(["up", "--stack", "dev", "--bulk"], binary, FAKE_EXPORT=export_of(tmp_path, *types))
    assert done.returncode == 0, done.stderr
    export, up = invocations(log)
    assert export[0][:4] == ["stack", "export", "--stack", "dev"]
    assert up == (pulumi_args("up", "dev"), "true")
    assert "bulk, the state is written at the end" in done.stderr


def test_a_plain_up_records_every_step(logging_pulumi, tmp_path) -> None:
    binary, log = logging_pulumi
    assert run(["up", "--stack", "dev"], binary, PULUMI_SKIP_CHECKPOINTS="true").returncode == 0
    assert invocations(log) == [(pulumi_args("up", "dev"), "true")]  # the caller's own setting passes through
    log.unlink()
    assert run(["up", "--stack", "dev"], binary).returncode == 0
    assert invocations(log) == [(pulumi_args("up", "dev"), None)]


def test_bulk_is_refused_for_a_stack_that_already_has_tenants(logging_pulumi, tmp_path) -> None:
    binary, log = logging_pulumi
    export = export_of(tmp_path, "pulumi:pulumi:Stack", "alex-hosted:tenant:Tenant")
    done = run(["up", "--stack", "dev", "--bulk"], binary, FAKE_EXPORT=export)
    assert done.returncode == 2
    assert "stack dev: --bulk is for a new stack's first up, and this one already has tenants" in done.stderr
    assert [args[0] for args, _ in invocations(log)] == ["stack"]  # no `up`


def test_bulk_is_refused_when_the_state_cannot_be_read(logging_pulumi, tmp_path) -> None:
    binary, log = logging_pulumi
    done = run(["up", "--stack", "dev", "--bulk"], binary, FAKE_EXPORT=export_of(tmp_path), FAKE_EXPORT_EXIT="255")
    assert done.returncode == 2
    assert "stack dev: could not read its state: export failed: state unreadable" in done.stderr
    assert [args[0] for args, _ in invocations(log)] == ["stack"]


@pytest.mark.parametrize("command", ["preview", "drift"])
def test_bulk_is_for_up_only(command, logging_pulumi) -> None:
    binary, log = logging_pulumi
    done = run([command, "--stack", "dev", "--bulk"], binary)
    assert done.returncode == 2
    assert "--bulk is for `up` only" in done.stderr
    assert invocations(log) == []


@pytest.mark.parametrize("command", ["preview", "drift"])
def test_previews_skip_the_snapshot_they_would_never_persist(command, logging_pulumi) -> None:
    binary, log = logging_pulumi
    assert run([command, "--stack", "dev"], binary).returncode == 0
    assert invocations(log) == [(pulumi_args(command, "dev"), "true")]
