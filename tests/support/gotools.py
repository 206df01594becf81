"""The pinned Go tools the tests run (actionlint, stripe-mock), built by `tools/gotools/build`.

A tool is found through its environment variable (`ALEX_ACTIONLINT`, `ALEX_STRIPE_MOCK`: a binary path)
or else where `tools/gotools/build --path NAME` says the pinned build lives (outside the clone); the
tests never build it themselves. Missing, a test is skipped with the command that builds it, except
under CI, where a missing tool is a failure (`make setup` builds them; .ci/run runs `make test`).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.support.requires import missing

ROOT = Path(__file__).resolve().parent.parent.parent
BUILD = ROOT / "tools" / "gotools" / "build"
ENV_VARS = {"actionlint": "ALEX_ACTIONLINT", "stripe-mock": "ALEX_STRIPE_MOCK"}


def find_tool(name: str) -> tuple[Path | None, str]:
    """The binary, or None and why not."""
    env_var = ENV_VARS[name]
    override = os.environ.get(env_var)
    if override:
        path = Path(override)
        if path.is_file() and os.access(path, os.X_OK):
            return path, ""
        return None, f"{env_var}={override} is not an executable file"
    result = subprocess.run(
        ["bash", str(BUILD), "--path", name], capture_output=True, text=True, timeout=30, check=False
    )
    where = result.stdout.strip()
    if result.returncode == 0 and where:
        return Path(where), ""
    detail = f" (expected at {where})" if where else f": {result.stderr.strip()}"
    build = f"run `tools/gotools/build {name}` (needs Go) or set {env_var}"
    return None, f"{name} is not built or out of date{detail}; {build}"


def require_tool(name: str) -> Path:
    """The binary; skips the test without it, or fails it under CI."""
    path, why = find_tool(name)
    if path is None:
        missing(f"{why}; `make setup` builds it")
    return path
