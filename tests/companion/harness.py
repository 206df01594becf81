"""Runs the real companion (`node image/companion/server.js`) as a subprocess on 127.0.0.1.

Shared with the browser tests: `start_companion(...)` gives a running `Companion`; `CompanionEnv` says
what it is pointed at (the stand-in Alex of tests/support/alex_web.py, moto's S3 server as R2).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support import servers
from tests.support.node_process import NodeProcess, spawn, wait_healthy
from tests.support.requires import missing
from tests.support.servers import free_port

REPO = Path(__file__).resolve().parents[2]
COMPANION_DIR = REPO / "image" / "companion"
SERVER_JS = COMPANION_DIR / "server.js"
R2_KEY_ID = "companion-test-key-id"
R2_SECRET = "companion-test-secret-5e6f7a8b"


def require_node() -> str:
    """node and the companion's node_modules (`make setup` runs `npm ci --prefix image/companion`)."""
    node = shutil.which("node")
    problem = None
    if node is None:
        problem = "node is missing"
    elif not (COMPANION_DIR / "node_modules" / "aws4").is_dir():
        problem = "image/companion/node_modules is missing: run `npm ci --prefix image/companion` (make setup)"
    if problem:
        missing(problem)
    assert node is not None
    return node


# The companion as a running process: its url, port, log and stop().
Companion = NodeProcess


@dataclass
class CompanionEnv:
    alex_url: str
    r2_endpoint: str
    bucket: str
    library: Path
    extra: dict[str, str] = field(default_factory=dict)

    def environ(self, port: int) -> dict[str, str]:
        env = {
            "PATH": os.environ["PATH"],
            "COMPANION_PORT": str(port),
            "COMPANION_BIND": "127.0.0.1",
            "ALEX_URL": self.alex_url,
            "R2_ENDPOINT": self.r2_endpoint,
            "R2_BUCKET": self.bucket,
            "R2_ACCESS_KEY_ID": R2_KEY_ID,
            "R2_SECRET_ACCESS_KEY": R2_SECRET,
            "R2_REGION": "us-east-1",
            "LIBRARY_PATH": str(self.library),
        }
        env.update(self.extra)
        return env


def start_companion(env: CompanionEnv, log_path: Path, *, wait: bool = True) -> Companion:
    port = free_port()
    proc, url = spawn(require_node(), SERVER_JS, env.environ(port), port, log_path)
    companion = Companion(proc=proc, url=url, port=port, log_path=log_path)
    if wait:
        wait_healthy(companion, "/_hosted/healthz", "companion")
    return companion


def rss_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in KiB, from /proc/<pid>/status."""
    figures: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            figures[name] = int(value.split()[0])
    return figures


def s3_client(endpoint: str) -> Any:
    return servers.s3_client(endpoint, R2_KEY_ID, R2_SECRET)
