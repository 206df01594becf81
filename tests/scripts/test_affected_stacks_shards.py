"""scripts.affected_stacks with shards: a shard's change pulls in its domain's edge host, and `--wave` splits
the affected stacks into the shards (updated first, in parallel) and the edge hosts (updated after them)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from scripts.affected_stacks import main
from tenants.roster import REPO_ROOT

# Two domains of shards (the first of each hosts the edge) and a stack alone (a domain of one).
DOMAINS = {
    "prod": ["prod", "prod-2", "prod-3"],
    "eu": ["eu", "eu-2"],
}
SOLO = "dev"
EVERY_STACK = ["dev", "eu", "eu-2", "prod", "prod-2", "prod-3"]
NON_HOSTS = ["eu-2", "prod-2", "prod-3"]
HOSTS = ["dev", "eu", "prod"]


def write_stack(root: Path, stack: str, shards: list[str] | None) -> None:
    listed = f"  alex-hosted:domainShards: [{', '.join(shards)}]\n" if shards else ""
    (root / "stacks" / f"Pulumi.{stack}.yaml").write_text(
        f"config:\n  alex-hosted:domain: {stack}.example.com\n{listed}", encoding="utf-8"
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "stacks").mkdir()
    (tmp_path / "tenants").mkdir()
    for shards in DOMAINS.values():
        for stack in shards:
            write_stack(tmp_path, stack, shards)
    write_stack(tmp_path, SOLO, None)
    for stack in EVERY_STACK:
        (tmp_path / "tenants" / f"{stack}.yaml").write_text("[]\n", encoding="utf-8")
    return tmp_path


def wave(run_cli, root: Path | None, wave: str, *source: str) -> list[str]:
    argv = [*(["--root", str(root)] if root else []), "--wave", wave, *source]
    result = run_cli(main, argv)
    assert result.code == 0, result
    stacks: list[str] = json.loads(result.out)
    return stacks


def waves(run_cli, root: Path | None, *source: str) -> tuple[list[str], list[str], list[str]]:
    return (
        wave(run_cli, root, "shards", *source),
        wave(run_cli, root, "edges", *source),
        wave(run_cli, root, "all", *source),
    )


@pytest.mark.parametrize("path", ["tenants/prod-2.yaml", "stacks/Pulumi.prod-2.yaml"])
def test_a_shard_change_updates_that_shard_then_its_edge_host(repo, run_cli, path):
    assert waves(run_cli, repo, "--paths", path) == (["prod-2"], ["prod"], ["prod", "prod-2"])


@pytest.mark.parametrize("path", ["tenants/prod.yaml", "stacks/Pulumi.prod.yaml"])
def test_a_change_to_the_edge_host_itself_is_the_edges_wave_alone(repo, run_cli, path):
    assert waves(run_cli, repo, "--paths", path) == ([], ["prod"], ["prod"])


def test_a_stack_alone_hosts_its_own_edge(repo, run_cli):
    assert waves(run_cli, repo, "--paths", "tenants/dev.yaml") == ([], ["dev"], ["dev"])


def test_shards_and_their_host_changed_together_are_each_in_one_wave(repo, run_cli):
    paths = ["tenants/prod.yaml", "tenants/prod-2.yaml", "stacks/Pulumi.prod-3.yaml"]

    assert waves(run_cli, repo, "--paths", *paths) == (["prod-2", "prod-3"], ["prod"], ["prod", "prod-2", "prod-3"])


def test_two_domains_do_not_pull_each_other(repo, run_cli):
    assert waves(run_cli, repo, "--paths", "tenants/eu-2.yaml") == (["eu-2"], ["eu"], ["eu", "eu-2"])
    assert waves(run_cli, repo, "--paths", "tenants/prod-3.yaml") == (["prod-3"], ["prod"], ["prod", "prod-3"])
    both = waves(run_cli, repo, "--paths", "tenants/eu-2.yaml", "tenants/prod-3.yaml")
    assert both == (["eu-2", "prod-3"], ["eu", "prod"], ["eu", "eu-2", "prod", "prod-3"])


@pytest.mark.parametrize("path", ["components/edge.py", "Pulumi.yaml", "tenants/roster.py", "requirements.txt"])
def test_a_program_change_updates_every_shard_then_every_edge_host(repo, run_cli, path):
    assert waves(run_cli, repo, "--paths", path) == (NON_HOSTS, HOSTS, EVERY_STACK)


def test_no_stack_change_is_two_empty_waves(repo, run_cli):
    assert waves(run_cli, repo, "--paths", "README.md", "tenants/gone.yaml") == ([], [], [])


def test_stacks_named_directly_are_split_the_same_way(repo, run_cli):
    assert waves(run_cli, repo, "--stacks", '["prod-2", "prod-2"]') == (["prod-2"], ["prod"], ["prod", "prod-2"])
    assert waves(run_cli, repo, "--stacks", '["prod"]') == ([], ["prod"], ["prod"])
    assert waves(run_cli, repo, "--stacks", "[]") == ([], [], [])


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('["prod-9"]', "--stacks: no stack file stacks/Pulumi.prod-9.yaml for 'prod-9'"),
        ("prod-2", "--stacks: expected a JSON list of stack names, got 'prod-2'"),
        ('{"prod": 1}', "--stacks: expected a JSON list of stack names"),
    ],
)
def test_stacks_named_directly_must_exist(repo, run_cli, value, message):
    result = run_cli(main, ["--root", str(repo), "--wave", "edges", "--stacks", value])

    assert result.code == 2, result
    assert message in result.error
    assert result.out == ""


BROKEN = "config:\n  alex-hosted:domain: [unclosed\n"


@pytest.mark.parametrize(
    ("broken", "source", "wave_name"),
    [
        ("prod-2", ["--paths", "tenants/prod-2.yaml"], "shards"),  # the changed shard's own file
        ("prod-2", ["--paths", "tenants/prod-2.yaml"], "all"),
        ("prod", ["--paths", "tenants/prod-2.yaml"], "edges"),  # its edge host's file
        ("prod", ["--paths", "tenants/prod-3.yaml"], "all"),
        ("eu-2", ["--paths", "components/edge.py"], "shards"),  # every file, for a program change split in waves
        ("dev", ["--stacks", '["dev"]'], "edges"),
    ],
)
def test_a_broken_stack_file_stops_the_run_naming_it(repo, run_cli, broken, source, wave_name):
    (repo / "stacks" / f"Pulumi.{broken}.yaml").write_text(BROKEN, encoding="utf-8")

    result = run_cli(main, ["--root", str(repo), "--wave", wave_name, *source])

    assert result.code == 2, result
    assert result.error.startswith(f"affected_stacks: error: stacks/Pulumi.{broken}.yaml: not valid YAML"), result
    assert result.out == ""


def test_every_stack_listed_without_reading_a_broken_file_when_no_wave_is_asked(repo, run_cli):
    """The drift check (--wave all, a program change) lists every stack: a broken file cannot hide the rest."""
    (repo / "stacks" / "Pulumi.prod-2.yaml").write_text(BROKEN, encoding="utf-8")

    assert wave(run_cli, repo, "all", "--paths", "Pulumi.yaml") == EVERY_STACK


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a list\n", "stacks/Pulumi.prod-2.yaml: expected a mapping with a 'config' mapping"),
        ("config: [a]\n", "stacks/Pulumi.prod-2.yaml: expected a mapping with a 'config' mapping"),
        (
            "config:\n  alex-hosted:domainShards: [prod, prod-3]\n",
            "stacks/Pulumi.prod-2.yaml: alex-hosted:domainShards: must list this stack (prod-2) among the domain's shards",
        ),
        (
            "config:\n  alex-hosted:domainShards: prod\n",
            "stacks/Pulumi.prod-2.yaml: alex-hosted:domainShards: expected a list of stack names",
        ),
        (
            "config:\n  alex-hosted:domainShards: [prod-9, prod-2]\n",
            "stacks/Pulumi.prod-2.yaml: its edge host 'prod-9' (the first of domainShards) has no stack file stacks/Pulumi.prod-9.yaml",
        ),
    ],
)
def test_a_stack_file_whose_edge_host_cannot_be_known_stops_the_run(repo, run_cli, text, message):
    (repo / "stacks" / "Pulumi.prod-2.yaml").write_text(text, encoding="utf-8")

    result = run_cli(main, ["--root", str(repo), "--wave", "edges", "--paths", "tenants/prod-2.yaml"])

    assert result.code == 2, result
    assert message in result.error
    assert result.out == ""


def test_an_edge_host_that_does_not_list_itself_first_stops_the_run(repo, run_cli):
    write_stack(repo, "prod", ["prod-3", "prod", "prod-2"])

    result = run_cli(main, ["--root", str(repo), "--wave", "shards", "--paths", "tenants/prod-2.yaml"])

    assert result.code == 2, result
    assert (
        "stacks/Pulumi.prod-2.yaml names prod as the domain's edge host (the first of domainShards), "
        "but stacks/Pulumi.prod.yaml lists prod-3 first"
    ) in result.error


def test_a_bad_wave_is_a_usage_error(repo, run_cli):
    result = run_cli(main, ["--root", str(repo), "--wave", "hosts", "--paths", "Pulumi.yaml"])

    assert result.code == 2, result
    assert "--wave" in result.error


def git(repo: Path, *args: str) -> str:
    command = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false", *args]
    return subprocess.run(command, cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


def test_waves_from_git_diff_against_base(repo, run_cli):
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    base = git(repo, "rev-parse", "HEAD")
    (repo / "tenants" / "prod-3.yaml").write_text("# a tenant placed here\n[]\n", encoding="utf-8")
    git(repo, "commit", "-q", "-am", "roster change")

    assert waves(run_cli, repo, "--base", base) == (["prod-3"], ["prod"], ["prod", "prod-3"])
    assert waves(run_cli, repo, "--base", "0" * 40) == (NON_HOSTS, HOSTS, EVERY_STACK)


def test_the_sample_production_shards(run_cli):
    """stacks/: prod-2 is a shard of prod's domain, prod its edge host; dev is a stack alone."""
    assert waves(run_cli, None, "--paths", "tenants/prod-2.yaml") == (["prod-2"], ["prod"], ["prod", "prod-2"])
    assert waves(run_cli, None, "--paths", "tenants/prod.yaml") == ([], ["prod"], ["prod"])
    assert waves(run_cli, None, "--paths", "tenants/dev.yaml") == ([], ["dev"], ["dev"])
    assert waves(run_cli, None, "--paths", "Pulumi.yaml") == (["prod-2"], ["dev", "prod"], ["dev", "prod", "prod-2"])


# The workflows (as tests/test_workflows.py reads them): apply runs the shards wave, then the edge hosts.

WORKFLOWS = REPO_ROOT / ".github" / "workflows"


def load(name: str) -> dict[str, Any]:
    raw: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    raw["on"] = raw.pop(True, raw.get("on"))  # YAML 1.1 reads the key `on` as True
    return {str(key): value for key, value in raw.items()}


def test_apply_updates_the_edge_hosts_after_the_shards_wave():
    jobs = load("apply.yml")["jobs"]
    affected_run = jobs["affected"]["steps"][-1]["run"]
    assert "scripts.affected_stacks --wave shards" in affected_run
    assert "scripts.affected_stacks --wave edges" in affected_run
    assert "--stacks" in affected_run  # a manual or Stripe-sync apply pulls in edge hosts too
    outputs = jobs["affected"]["outputs"]
    assert outputs["shards"] == "${{ steps.affected.outputs.shards }}"
    assert outputs["edges"] == "${{ steps.affected.outputs.edges }}"

    shards, edges = jobs["up"], jobs["up-edges"]
    assert shards["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.affected.outputs.shards) }}"
    assert edges["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.affected.outputs.edges) }}"
    assert edges["needs"] == ["affected", "up"]
    for job in (shards, edges):
        assert job["concurrency"] == {"group": "pulumi-${{ matrix.stack }}", "cancel-in-progress": False}
        assert job["strategy"]["fail-fast"] is False
        assert job["environment"] == "${{ matrix.stack }}"
    # Runs after a skipped shards wave (no shard affected), never after a failed or cancelled one.
    condition = " ".join(edges["if"].split())
    assert condition.startswith("!cancelled()") and "always()" not in condition
    assert "needs.affected.result == 'success'" in condition
    assert "(needs.up.result == 'success' || needs.up.result == 'skipped')" in condition
    assert "needs.affected.outputs.edges != '[]'" in condition
    assert [s.get("run") for s in shards["steps"]] == [s.get("run") for s in edges["steps"]]
    assert [s.get("with") for s in shards["steps"]] == [s.get("with") for s in edges["steps"]]


def test_preview_includes_the_edge_hosts_and_drift_lists_every_stack():
    preview = load("preview.yml")["jobs"]["affected"]["steps"][-1]["run"]
    assert "scripts.affected_stacks --wave all --base" in preview
    drift = load("drift.yml")["jobs"]["stacks"]["steps"][-1]["run"]
    assert "scripts.affected_stacks --wave all --paths Pulumi.yaml" in drift
    for run in (preview, drift):  # assigned first, so a failure fails the step instead of an empty list
        assert 'echo "stacks=$stacks" >> "$GITHUB_OUTPUT"' in run
