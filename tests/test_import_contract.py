"""The import contract (pyproject.toml [tool.importlinter], run by `make lint`) holds, and it can fail.

The second test copies the packages, adds one import the layout forbids (a component reaching into the
operator side) and expects `lint-imports` to refuse it, naming the import.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.engine import REPO_ROOT

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
PACKAGES = ("tenants", "common", "config", "providers", "components", "ops", "billing", "signup", "public_http")


def lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_the_packages_keep_the_import_contract():
    result = lint_imports(REPO_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "wrong"),
    [
        ("components/tenant.py", "import ops.quota"),  # the program's side into the operator side
        ("ops/quota.py", "import components.program"),  # and back, where the design names no arrow
        ("config/hostnames.py", "import providers.fly.client"),  # a floor up
    ],
)
def test_a_forbidden_import_breaks_the_contract(tmp_path, module, wrong):
    shutil.copy(REPO_ROOT / "pyproject.toml", tmp_path)
    for package in (*PACKAGES, "scripts"):
        shutil.copytree(REPO_ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    target = tmp_path / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{wrong}  # noqa\n", encoding="utf-8")
    result = lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    importer = module.removesuffix(".py").replace("/", ".")
    assert f"{importer} -> {wrong.split()[1]}" in result.stdout
