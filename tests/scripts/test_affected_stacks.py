"""scripts.affected_stacks: which stacks a change touches, from --paths or from a local git history."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from scripts.affected_stacks import main


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A checkout with two stacks, dev and prod."""
    (tmp_path / "stacks").mkdir()
    (tmp_path / "tenants").mkdir()
    for stack in ("dev", "prod"):
        (tmp_path / "stacks" / f"Pulumi.{stack}.yaml").write_text("config: {}\n")
        (tmp_path / "tenants" / f"{stack}.yaml").write_text("[]\n")
    return tmp_path


def stacks_of(result) -> list[str]:
    assert result.code == 0, result
    stacks: list[str] = json.loads(result.out)
    return stacks


@pytest.mark.parametrize(
    ("paths", "expected"),
    [
        (["tenants/dev.yaml"], ["dev"]),
        (["stacks/Pulumi.prod.yaml"], ["prod"]),
        (["tenants/prod.yaml", "stacks/Pulumi.dev.yaml"], ["dev", "prod"]),
        (["components/tenant.py"], ["dev", "prod"]),
        (["providers/fly/machine.py"], ["dev", "prod"]),  # the program spans components/ and what it imports
        (["config/stack_config.py"], ["dev", "prod"]),
        (["common/redact.py"], ["dev", "prod"]),
        (["ops/collector.py"], []),  # the operator side changes no resource
        (["providers/fly/client.py"], ["dev", "prod"]),
        (["tenants/roster.py"], ["dev", "prod"]),
        (["__main__.py"], ["dev", "prod"]),
        (["Pulumi.yaml"], ["dev", "prod"]),
        (["requirements.txt"], ["dev", "prod"]),
        (["README.md", "tests/test_x.py", "image/Dockerfile", "scripts/status.py"], []),
        (["tenants/staging.yaml"], []),  # no such stack file: nothing to preview
        (["docs/tenants/dev.yaml", "stacks/old/Pulumi.dev.yaml"], []),
        ([], []),
    ],
)
def test_affected_stacks_from_paths(repo, run_cli, paths, expected):
    assert stacks_of(run_cli(main, ["--root", str(repo), "--paths", *paths])) == expected


def git(repo: Path, *args: str) -> str:
    command = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false", *args]
    return subprocess.run(command, cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def history(repo: Path) -> tuple[Path, str]:
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    return repo, git(repo, "rev-parse", "HEAD")


def test_affected_stacks_from_git_diff_against_base(history, run_cli):
    repo, base = history
    (repo / "tenants" / "prod.yaml").write_text("# changed\n[]\n")
    git(repo, "commit", "-q", "-am", "roster change")

    assert stacks_of(run_cli(main, ["--root", str(repo), "--base", base])) == ["prod"]


def test_affected_stacks_null_base_means_every_stack(history, run_cli):
    repo, _ = history

    assert stacks_of(run_cli(main, ["--root", str(repo), "--base", "0" * 40])) == ["dev", "prod"]


def test_affected_stacks_unknown_base_exits_2(history, run_cli):
    repo, _ = history

    result = run_cli(main, ["--root", str(repo), "--base", "no-such-ref"])

    assert result.code == 2, result
    assert "git diff --name-only no-such-ref...HEAD failed" in result.error
    assert result.out == ""


def test_affected_stacks_needs_base_or_paths(repo, run_cli):
    result = run_cli(main, ["--root", str(repo)])

    assert result.code == 2, result
    assert "--base" in result.err
