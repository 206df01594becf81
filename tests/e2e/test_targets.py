"""`scripts.changed_tenants` under the real engine (step 7): a roster-only change applied with `--base`
(as apply.yml does) steps only the changed tenant and the edge, seen in the engine's own event log."""

from __future__ import annotations

import subprocess

from tests.e2e.conftest import tenant

STACK = "e2e"


def git(cwd, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def test_a_roster_only_change_steps_only_the_changed_tenant(workspace, config, fly, cloudflare):
    roster = [tenant("e2etarg001", "one"), tenant("e2etarg002", "two")]
    workspace.new_stack(STACK, config, roster)
    workspace.up(STACK).check()
    project = workspace.project
    git(project, "init", "-q", "-b", "main")
    git(project, "-c", "user.email=ci@example.org", "-c", "user.name=ci", "add", "-A")
    git(project, "-c", "user.email=ci@example.org", "-c", "user.name=ci", "commit", "-qm", "base")

    workspace.write_roster(STACK, [*roster, tenant("e2etarg003", "three")])
    git(project, "-c", "user.email=ci@example.org", "-c", "user.name=ci", "commit", "-qam", "add three")
    fly.reset_log()
    targeted = workspace.up(STACK, "--base", "HEAD~1").check()

    # The engine was asked for the changed tenant and the edge only (the script logs the run it makes).
    (line,) = [x for x in targeted.stderr.splitlines() if x.startswith("pulumi_stack: up ")]
    targets = sorted(arg.split("=", 1)[1].rsplit("::", 1)[1] for arg in line.split() if arg.startswith("--target="))
    assert targets == ["e2etarg003", "e2etarg003-*", "edge", "edge-*", "signup", "signup-*"], line
    stepped = {urn.rsplit("::", 1)[1] for op, urn in targeted.steps() if op != "same"}
    assert {n for n in stepped if n.startswith("e2etarg003")}, stepped
    assert not {n for n in stepped if n.startswith(("e2etarg001", "e2etarg002"))}, stepped
    assert targeted.changes().get("create", 0) >= 5
    assert not [r for r in fly.requests if r.method != "GET" and ("e2etarg001" in r.path or "e2etarg002" in r.path)]
    workspace.preview(STACK, "--no-changes").check()
