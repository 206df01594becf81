"""The image's files outside the entrypoint's behaviour: linters, the workflow's promises, the hash helper."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.requires import missing

REPO = Path(__file__).resolve().parents[2]
IMAGE = REPO / "image"
WORKFLOW = REPO / ".github" / "workflows" / "image.yml"


def tool(name: str) -> str:
    beside_python = Path(sys.executable).parent / name
    found = str(beside_python) if beside_python.exists() else shutil.which(name)
    if found is None:
        missing(f"{name} is not installed (requirements-dev.txt pins it)")
    return found


def workflow() -> dict[str, Any]:
    data: dict[Any, Any] = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def test_image_entrypoint_passes_shellcheck() -> None:
    result = subprocess.run(
        [tool("shellcheck"), "-s", "sh", str(IMAGE / "entrypoint.sh")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_dockerfile_passes_hadolint() -> None:
    result = subprocess.run([tool("hadolint"), str(IMAGE / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_dockerfile_builds_on_the_pinned_alex_release_with_our_entrypoint() -> None:
    text = (IMAGE / "Dockerfile").read_text()
    base = re.search(r"^ARG ALEX_IMAGE=(\S+)$", text, re.M)
    assert base is not None and base.group(1) == "ghcr.io/jamesacklin/alex:0.6.0"
    assert re.search(r"^FROM \$\{ALEX_IMAGE\}$", text, re.M)
    assert 'ENTRYPOINT ["/app/hosted/entrypoint.sh"]' in text
    assert re.search(r"^CMD \[\]$", text, re.M), "the stock CMD (db:seed) must not survive"
    assert "COPY --chmod=0644 hash-password.cjs /app/hosted/" in text, "beside Alex's node_modules"


def test_image_workflow_builds_on_prs_and_pushes_a_numbered_tag_on_main() -> None:
    flow = workflow()
    assert "image/**" in flow["on"]["pull_request"]["paths"]
    assert flow["on"]["push"]["branches"] == ["main"]
    assert flow["env"]["ALEX_VERSION"] == "0.6.0"
    steps = flow["jobs"]["build"]["steps"]
    push = next(s for s in steps if str(s.get("name", "")).startswith("Push"))
    assert push["if"] == "github.event_name != 'pull_request'"
    assert "RepoDigests" in push["run"], "prints the digest to pin"
    naming = next(s for s in steps if s.get("id") == "name")
    assert "tag=$ALEX_VERSION-$GITHUB_RUN_NUMBER" in naming["run"]
    for step in steps:
        if "uses" in step:
            assert re.search(r"@v\d+$", step["uses"]), step["uses"]
    lint = next(s for s in steps if "hadolint" in str(s.get("run", "")))
    assert "requirements-dev.txt" in lint["run"], "CI lints with the pinned linters"


@pytest.fixture
def app_with_stub_bcrypt(tmp_path: Path) -> Path:
    """/app's layout: hosted/hash-password.cjs beside node_modules/bcryptjs (a stub recording its call)."""
    (tmp_path / "hosted").mkdir()
    shutil.copy(IMAGE / "hash-password.cjs", tmp_path / "hosted" / "hash-password.cjs")
    stub = tmp_path / "node_modules" / "bcryptjs"
    stub.mkdir(parents=True)
    (stub / "index.js").write_text(
        "module.exports = { hashSync: (pw, cost) =>"
        " `$2b$${cost}$` + Buffer.from(pw).toString('base64').padEnd(53, '.').slice(0, 53) };\n"
    )
    return tmp_path


@pytest.mark.parametrize(("password", "code"), [("long-enough-password", 0), ("short", 2), ("", 2)])
def test_image_hash_helper_hashes_env_password_with_cost_10(
    app_with_stub_bcrypt: Path, password: str, code: int
) -> None:
    node = shutil.which("node")
    if node is None:
        missing("node is not installed")
    result = subprocess.run(
        [node, str(app_with_stub_bcrypt / "hosted" / "hash-password.cjs")],
        env={"OWNER_INITIAL_PASSWORD": password, "PATH": "/usr/bin:/bin"},
        cwd="/",
        capture_output=True,
        text=True,
    )
    assert result.returncode == code, result.stderr
    if code == 0:
        assert re.fullmatch(r"\$2b\$10\$[./A-Za-z0-9+=]{53}\n", result.stdout)
    else:
        assert result.stdout == ""
    if password:
        assert password not in result.stderr


def test_image_dockerfile_installs_the_companion_from_its_lockfile_at_build_time() -> None:
    text = (IMAGE / "Dockerfile").read_text()
    assert "COPY companion/package.json companion/package-lock.json /app/hosted/companion/" in text
    assert re.search(r"^RUN npm ci --omit=dev .*--prefix /app/hosted/companion", text, re.M)
    assert "COPY companion/ /app/hosted/companion/" in text
    assert text.index("npm ci") < text.index("COPY companion/ "), "the lockfile layer caches the install"
    ignored = (IMAGE / ".dockerignore").read_text().splitlines()
    assert "companion/node_modules" in ignored, "a workstation's node_modules must not reach the image"
    assert (IMAGE / "companion" / "package-lock.json").exists(), "npm ci needs the committed lockfile"


def test_image_workflow_smoke_tests_that_the_companion_starts() -> None:
    steps = workflow()["jobs"]["build"]["steps"]
    smoke = next(s for s in steps if "companion" in str(s.get("name", "")))
    assert "node /app/hosted/companion/server.js" in smoke["run"]
    assert "/_hosted/healthz" in smoke["run"]
    assert "--network none" in smoke["run"], "no network at run time"
