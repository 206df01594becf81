"""The signup image carries exactly what `python -m signup` imports, and that is never Pulumi."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "image" / "signup" / "Dockerfile"
_PROJECT = (
    "signup",
    "public_http",
    "tenants",
    "billing",
    "scripts",
    "components",
    "providers",
    "config",
    "common",
    "ops",
    "emulators",
)
# The distributions the Dockerfile installs from requirements.txt (its grep), pip adding their requirements.
_INSTALLED = ("stripe", "PyYAML", "httpx", "email-validator", "starlette", "uvicorn", "h11", "jinja2")


def imported() -> tuple[set[str], set[str]]:
    code = "import sys, signup.__main__, signup.app; print(__import__('json').dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    modules = set(json.loads(out))
    project = {m for m in modules if m.split(".")[0] in _PROJECT}
    return modules, project


def copied() -> set[str]:
    """Files (relative paths) the Dockerfile's COPY lines bring from the project, directories expanded."""
    files: set[str] = set()
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        if not line.startswith("COPY ") or "--from" in line:
            continue
        for source in line.split()[1:-1]:
            for path in ROOT.glob(source.rstrip("/")):
                if path.is_dir():
                    files |= {str(p.relative_to(ROOT)) for p in path.rglob("*.py")}
                else:
                    files.add(str(path.relative_to(ROOT)))
    return files


def test_the_image_copies_every_project_module_signup_imports():
    _, project = imported()
    needed = set()
    for module in project:
        path = Path(*module.split("."))
        needed.add(str(path / "__init__.py") if (ROOT / path).is_dir() else f"{path}.py")
    assert needed - copied() == set()


def _with_requirements(names: tuple[str, ...]) -> set[str]:
    """The distributions `names` pull in with pip, names normalised (no extras, no environment markers)."""
    found: set[str] = set()
    todo = list(names)
    while todo:
        name = re.sub(r"[-_.]+", "-", todo.pop()).lower()
        if name in found:
            continue
        try:
            requirements = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue  # a requirement whose environment marker leaves it out here (exceptiongroup on 3.11)
        found.add(name)
        for requirement in requirements:
            if "extra ==" not in requirement:
                todo.append(re.split(r"[\s;<>=!~\[(]", requirement, maxsplit=1)[0])
    return found


def test_the_image_installs_every_third_party_package_signup_imports():
    """Each package a project module signup loads imports by name (not what those packages load optionally)."""
    _, project = imported()
    roots = {m.split(".")[0] for m in project}
    names: set[str] = set()
    for module in project:
        path = ROOT / Path(*module.split("."))
        source = (path / "__init__.py") if path.is_dir() else path.with_suffix(".py")
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
    third_party = names - set(sys.stdlib_module_names) - roots - set(_PROJECT)
    owners = metadata.packages_distributions()
    needed = {re.sub(r"[-_.]+", "-", d).lower() for m in third_party for d in owners.get(m, [])}
    assert needed and needed - _with_requirements(_INSTALLED) == set()


def test_the_image_copies_no_roster():
    assert not any(f.endswith((".yaml", ".yml")) for f in copied())
    assert "tenants/*.py" in DOCKERFILE.read_text(encoding="utf-8")


def test_signup_imports_no_pulumi_and_no_emulator():
    modules, project = imported()
    assert not any(m == "pulumi" or m.startswith("pulumi.") for m in modules)
    assert not any(m.startswith("emulators") for m in project)
    assert not any(m.startswith(("boto3", "moto")) for m in modules)


def test_the_image_installs_the_projects_pins_only_and_runs_unprivileged():
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim", text, re.M)
    assert f"grep -E '^({'|'.join(_INSTALLED)})=='" in text and "requirements.txt" in text
    pins = (ROOT / "requirements.txt").read_text(encoding="utf-8")
    for name in _INSTALLED:
        assert re.search(rf"^{name}==", pins, re.M), name
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1].split(":")[0] not in ("0", "root")


def test_the_dockerfile_passes_hadolint():
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run([str(hadolint), str(DOCKERFILE)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
