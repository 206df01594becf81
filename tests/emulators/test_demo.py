"""`make demo` (python -m emulators.demo): the platform comes up on 127.0.0.1 with the real engine, every
tenant answers through the emulated edge as its state says, and nothing is left running afterwards."""

from __future__ import annotations

import os
import subprocess
import sys

from emulators.project import REPO_ROOT
from tests.support.pulumi_cli import engine


def test_the_demo_brings_the_dev_roster_up_and_reaches_each_tenant_through_the_edge(tmp_path):
    engine()  # the engine is required (a failure under CI)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLY_", "CLOUDFLARE_", "PULUMI_"))}
    done = subprocess.run(
        [sys.executable, "-m", "emulators.demo", "--exit"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    out = done.stdout
    assert "Fly apps (4): alexdev-devowner01, alexdev-devpaused1, alexdev-devreader1, alexdev-edge" in out
    assert "R2 buckets: alex-devowner01, alex-devpaused1, alex-devreader1" in out
    assert "demo.books-dev.example.com -> 200 (active)" in out
    assert "paused-test.books-dev.example.com -> 503 (suspended)" in out  # the router's paused page
    assert "demo: stopped; nothing left running" in out
    leftovers = subprocess.run(["pgrep", "-f", "alex-demo-"], capture_output=True, text=True, check=False)
    assert leftovers.stdout.strip() == ""
