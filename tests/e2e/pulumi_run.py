"""The real `pulumi` CLI on a workspace copy of a test program: file backend, passphrase secrets, a clean
environment (no credential or proxy from the shell), plugins from the engine's cache and never the network.

    engine = find_engine()            # None when the engine or its Cloudflare plugin is not installed
    ws = PulumiWorkspace(engine, PROGRAM, tmp_path)
    ws.pulumi("stack", "init", "dev")
    ws.pulumi("up", "--yes", "--skip-preview")   # each call waits for its engine and plugins to exit
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ENGINE_VERSION = "v3.274.0"
CACHE = Path.home() / ".cache" / "alex-hosted"
PLUGINS = ("resource-cloudflare-v6.17.0", "resource-random-v4.21.1", "resource-command-v1.2.1")
PASSPHRASE = "e2e-passphrase-not-a-secret"
TIMEOUT = 600  # seconds for one CLI command; a first `up` takes under a minute here


@dataclass(frozen=True)
class Engine:
    bin_dir: Path  # holds pulumi and its Python language host
    plugins: Path  # a Pulumi plugin cache (`$PULUMI_HOME/plugins`)


def find_engine() -> Engine | None:
    """The engine .ci/run installs (`~/.cache/alex-hosted`), or `pulumi` on PATH with `$PULUMI_HOME`'s plugins."""
    candidates = [(CACHE / "engine" / ENGINE_VERSION / "bin", CACHE / "pulumi-home" / "plugins")]
    on_path = shutil.which("pulumi")
    if on_path:
        home = Path(os.environ.get("PULUMI_HOME") or Path.home() / ".pulumi")
        candidates.append((Path(on_path).parent, home / "plugins"))
    for bin_dir, plugins in candidates:
        if (bin_dir / "pulumi").is_file() and (plugins / PLUGINS[0]).is_dir():
            return Engine(bin_dir, plugins)
    return None


class PulumiWorkspace:
    """A copy of `program` under `root` (so stack files never land in the repository), run with the
    project's virtualenv and the repository on PYTHONPATH; state in `root/state`."""

    def __init__(self, engine: Engine, program: Path, root: Path) -> None:
        self.dir = root / "program"
        shutil.copytree(program, self.dir)
        project = (self.dir / "Pulumi.yaml").read_text()
        (self.dir / "Pulumi.yaml").write_text(project.replace("../../../.venv", str(REPO / ".venv")))
        home = root / "pulumi-home"
        home.mkdir()
        (home / "plugins").symlink_to(engine.plugins)
        (root / "state").mkdir()
        self.env = {
            "PATH": f"{engine.bin_dir}{os.pathsep}/usr/local/bin:/usr/bin:/bin",
            "HOME": str(root),
            "LANG": "C.UTF-8",
            "PULUMI_HOME": str(home),
            "PULUMI_BACKEND_URL": f"file://{root / 'state'}",
            "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_SKIP_CONFIRMATIONS": "true",
            "PYTHONPATH": str(REPO),
        }
        self.state_dir = root / "state"

    def pulumi(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["pulumi", *args, "--non-interactive"],
            cwd=self.dir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"pulumi {' '.join(args)} exited {result.returncode}\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}"
            )
        return result

    def state_text(self) -> str:
        """Every file of the file backend, concatenated (to look for secrets in plain text)."""
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.state_dir.rglob("*")) if p.is_file())
