"""A copy of the Pulumi program on disk, with its own stacks, rosters and file backend, for the real engine.

Used by `python -m emulators.demo` and the end-to-end tests (tests/support/pulumi_cli.py): the program's
packages, `Pulumi.yaml` and `__main__.py` are copied (the repository's own `stacks/` and rosters stay
behind), the repository's `.venv` is linked in (Pulumi.yaml's `virtualenv`), and `engine_environment`
gives every `pulumi` run the same clean environment: no automatic plugin download (a missing plugin fails
loudly), no update check, no plugin from PATH, a file backend and a passphrase.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
ENGINE_VERSION = "3.274.0"  # the CLI the lane and `make demo` run (Makefile ENGINE_VERSION, the workflows' pin)
CACHE = Path(os.environ.get("ALEX_CACHE") or Path.home() / ".cache" / "alex-hosted")
PROGRAM_FILES = ("Pulumi.yaml", "__main__.py", "requirements.txt")
PROGRAM_PACKAGES = ("components", "providers", "config", "common", "ops", "tenants", "scripts", "billing", "signup")
QUIET_ENGINE = {
    "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
    "PULUMI_SKIP_UPDATE_CHECK": "true",
    "PULUMI_IGNORE_AMBIENT_PLUGINS": "true",
    "PULUMI_SKIP_CONFIRMATIONS": "true",
    "PULUMI_DIY_BACKEND_NO_LEGACY_WARNING": "true",
}


def engine_bin() -> Path | None:
    """The folder holding `pulumi` and its language host: ALEX_PULUMI_BIN, `make engine`'s cache, else PATH."""
    named = os.environ.get("ALEX_PULUMI_BIN")
    candidates = [Path(named)] if named else [CACHE / "engine" / f"v{ENGINE_VERSION}" / "bin"]
    on_path = shutil.which("pulumi")
    if not named and on_path:
        candidates.append(Path(on_path).resolve().parent)
    for folder in candidates:
        if (folder / "pulumi").is_file() and (folder / "pulumi-language-python").is_file():
            return folder
    return None


def engine_home() -> Path:
    """The plugin cache `make engine` fills (ALEX_PULUMI_HOME overrides; Pulumi's own default is ~/.pulumi)."""
    return Path(os.environ.get("ALEX_PULUMI_HOME") or CACHE / "pulumi-home")


def copy_program(project: Path) -> Path:
    """The program's files into `project` (created), the repository's `.venv` linked in; returns `project`."""
    project.mkdir(parents=True, exist_ok=True)
    for name in PROGRAM_FILES:
        shutil.copy2(REPO_ROOT / name, project / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.yaml", ".*")
    for package in PROGRAM_PACKAGES:
        shutil.copytree(REPO_ROOT / package, project / package, ignore=ignore, dirs_exist_ok=True)
    (project / "stacks").mkdir(exist_ok=True)
    venv = project / ".venv"
    if not venv.exists():
        venv.symlink_to(REPO_ROOT / ".venv", target_is_directory=True)
    return project


def engine_environment(
    bin_dir: Path, home: Path, state: Path, passphrase: str, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The whole environment of one engine run: nothing inherited but HOME."""
    return {
        "PATH": os.pathsep.join([str(bin_dir), "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": os.environ.get("HOME", str(state)),
        "LANG": "C.UTF-8",
        "PULUMI_HOME": str(home),
        "PULUMI_BACKEND_URL": f"file://{state}",
        "PULUMI_CONFIG_PASSPHRASE": passphrase,
        "ALEX_PULUMI": str(bin_dir / "pulumi"),
        **QUIET_ENGINE,
        **(extra or {}),
    }
