"""Runs image/entrypoint.sh as a program in a temporary root, against moto standing in for R2.

The entrypoint gets stand-ins for node and watcher-rs (tests/image/stand_ins), the real sqlite3 and
the real rclone (through a wrapper that logs each call), and an environment built from scratch. The
companion (image/companion/server.js) is a stand-in too, unless a test asks for the real one
(`make_machine(real_companion=True)`): then the real node runs it in front of the fake Alex's HTTP.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tenants import bucket_layout
from tests.image import alex_db
from tests.support import servers
from tests.support.requires import missing
from tests.support.servers import free_port

REPO = Path(__file__).resolve().parents[2]
ENTRYPOINT = REPO / "image" / "entrypoint.sh"
COMPANION_DIR = REPO / "image" / "companion"
OWNER_EMAIL = "reader@example.com"
OWNER_PASSWORD = "first-boot-secret-7f3a"
R2_KEY_ID = "testkeyid0123456789"
R2_SECRET = "testsecret-9b8c7d6e5f"
NEXTAUTH_SECRET = "nextauth-secret-4d5e6f"
SECRETS = (OWNER_PASSWORD, R2_SECRET, NEXTAUTH_SECRET)
CYCLE_DONE = "backup: synced with"


@pytest.fixture(autouse=True)
def debian_tools() -> None:
    """The entrypoint runs the real rclone and sqlite3; without them these tests cannot say anything."""
    missing = [tool for tool in ("rclone", "sqlite3") if shutil.which(tool) is None]
    if missing:
        need(f"{', '.join(missing)} missing (Debian packages; .ci/run installs them)")


def need(message: str) -> None:
    """Fails under CI (.ci/run installs what these tests need), skips on a workstation without it."""
    missing(message)


def real_node() -> str:
    """The real node, with the companion and its production dependencies (npm ci) in place."""
    node = shutil.which("node") or "/usr/bin/node"
    if not Path(node).exists():
        need("node is missing (Debian's nodejs; the companion runs on it)")
    if not (COMPANION_DIR / "server.js").exists():
        need("image/companion/server.js is missing")
    if not (COMPANION_DIR / "node_modules").is_dir():
        need("the companion's dependencies are missing: npm ci --omit=dev --prefix image/companion")
    return node


def s3_client(endpoint: str) -> Any:
    return servers.s3_client(endpoint, R2_KEY_ID, R2_SECRET)


@dataclass
class Bucket:
    name: str
    client: Any

    def keys(self, prefix: str = "") -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name, Prefix=prefix)
        return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))

    def total_size(self, prefix: str) -> int:
        """Bytes stored under prefix: what R2 bills for it."""
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name, Prefix=prefix)
        return sum(int(obj["Size"]) for page in pages for obj in page.get("Contents", []))

    def put(self, key: str, body: bytes) -> None:
        self.client.put_object(Bucket=self.name, Key=key, Body=body)

    def put_checked(self, key: str, body: bytes) -> None:
        """As the companion leaves a book it checked: with its mark (what the entrypoint may pull)."""
        name, value = bucket_layout.CHECKED_METADATA
        self.client.put_object(Bucket=self.name, Key=key, Body=body, Metadata={name: value})

    def get(self, key: str) -> bytes:
        body: bytes = self.client.get_object(Bucket=self.name, Key=key)["Body"].read()
        return body

    def snapshots(self) -> list[str]:
        return self.keys("db/")


@dataclass
class Machine:
    """One Fly machine: a volume (data dir) that outlives boots, and the entrypoint process."""

    root: Path
    bucket: Bucket
    endpoint: str
    env_overrides: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    boots: int = 0
    real_companion: bool = False
    alex_port: int = field(default_factory=free_port)
    companion_port: int = field(default_factory=free_port)

    @property
    def data(self) -> Path:
        return self.root / "app" / "data"

    @property
    def db(self) -> Path:
        return self.data / "library.db"

    @property
    def library(self) -> Path:
        return self.data / "library"

    @property
    def ctl(self) -> Path:
        return self.root / "ctl"

    @property
    def log_path(self) -> Path:
        return self.root / "entrypoint.log"

    def env(self) -> dict[str, str]:
        bin_dir = self.root / "bin"
        env = {
            "PATH": os.environ["PATH"],
            "PYTHONPATH": str(REPO),
            "HOME": str(self.root / "home"),
            "APP_DIR": str(self.root / "app"),
            "DATABASE_PATH": str(self.db),
            "LIBRARY_PATH": str(self.library),
            "COVERS_PATH": str(self.data / "covers"),
            "BACKUP_TMP_DIR": str(self.root / "tmp"),
            "NODE_BIN": str(bin_dir / "node"),
            "WATCHER_RS_BIN": str(bin_dir / "watcher-rs"),
            "RCLONE_BIN": str(bin_dir / "rclone"),
            "APP_USER": pwd.getpwuid(os.getuid()).pw_name,
            "NEXTAUTH_URL": "https://reader.example.com",
            "NEXTAUTH_SECRET": NEXTAUTH_SECRET,
            "OWNER_EMAIL": OWNER_EMAIL,
            "OWNER_INITIAL_PASSWORD": OWNER_PASSWORD,
            "R2_ENDPOINT": self.endpoint,
            "R2_BUCKET": self.bucket.name,
            "R2_ACCESS_KEY_ID": R2_KEY_ID,
            "R2_SECRET_ACCESS_KEY": R2_SECRET,
            "BACKUP_INTERVAL_SECONDS": "3600",
            "SUPERVISE_TICK_SECONDS": "0.1",
            "WATCHER_RESTART_DELAY_SECONDS": "0",
            "STOP_TIMEOUT_SECONDS": "5",
            "R2_BOOT_ATTEMPTS": "2",
            "R2_BOOT_RETRY_SECONDS": "0.2",
            "RCLONE_RETRIES": "1",
            "RCLONE_LOW_LEVEL_RETRIES": "1",
            "RCLONE_CONTIMEOUT": "1s",
            "RCLONE_TIMEOUT": "5s",
            "FAKE_EVENTS": str(self.root / "events.jsonl"),
            "FAKE_CTL": str(self.ctl),
            "FAKE_RCLONE_LOG": str(self.root / "rclone.log"),
            "ALEX_PORT": str(self.alex_port),
            "COMPANION_PORT": str(self.companion_port),
            "COMPANION_BIND": "127.0.0.1",
            "COMPANION_JS": str(COMPANION_DIR / "server.js"),
            "COMPANION_RESTART_DELAY_SECONDS": "0",
            "STORAGE_QUOTA_BYTES": str(1024**3),
        }
        if self.real_companion:
            env["COMPANION_NODE_BIN"] = real_node()
        env.update(self.env_overrides)
        return env

    def write_stand_ins(self) -> None:
        bin_dir = self.root / "bin"
        bin_dir.mkdir(parents=True, exist_ok=True)
        for name, role in (("node", "node"), ("watcher-rs", "watcher")):
            script = f'#!/bin/sh\nexec "{sys.executable}" -m tests.image.stand_ins.fake_alex {role} "$@"\n'
            (bin_dir / name).write_text(script)
        rclone = shutil.which("rclone")
        (bin_dir / "rclone").write_text(
            f'#!/bin/sh\nprintf \'%s %s\\n\' "$(date +%s.%N)" "$*" >>"$FAKE_RCLONE_LOG"\nexec {rclone} "$@"\n'
        )
        for path in bin_dir.iterdir():
            path.chmod(0o755)
        for folder in ("home", "tmp", "ctl"):
            (self.root / folder).mkdir(exist_ok=True)

    def boot(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "machine already running"
        self.write_stand_ins()
        self.boots += 1
        with open(self.log_path, "ab") as log:
            log.write(f"--- boot {self.boots}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                ["/bin/sh", str(ENTRYPOINT)],
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def boot_ready(self) -> None:
        """Boots and waits until the server runs and the first R2 sync finished."""
        starts, cycles = len(self.events("server-start")), self.cycles()
        self.boot()
        self.wait_for(
            lambda: len(self.events("server-start")) > starts and self.cycles() > cycles,
            "server start and the first R2 sync",
            timeout=30,
        )

    def cycles(self) -> int:
        return self.output().count(CYCLE_DONE)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)

    def wait_exit(self, timeout: float = 20) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def events(self, event: str | None = None, who: str | None = None) -> list[dict[str, Any]]:
        path = self.root / "events.jsonl"
        if not path.exists():
            return []
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        return [r for r in rows if (event is None or r["event"] == event) and (who is None or r["who"] == who)]

    def rclone_calls(self) -> list[tuple[float, str]]:
        path = self.root / "rclone.log"
        if not path.exists():
            return []
        calls = []
        for line in path.read_text().splitlines():
            stamp, _, args = line.partition(" ")
            calls.append((float(stamp), args))
        return calls

    def wait_for(self, predicate: Callable[[], bool], what: str, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            if self.proc is not None and self.proc.poll() is not None and not predicate():
                raise AssertionError(
                    f"entrypoint exited ({self.proc.returncode}) waiting for {what}:\n" + self.output()
                )
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}:\n{self.output()}")

    def lose_volume(self) -> None:
        shutil.rmtree(self.data)


@pytest.fixture
def bucket(moto_endpoint: str) -> Bucket:
    client = s3_client(moto_endpoint)
    name = f"alex-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=name)
    return Bucket(name, client)


@pytest.fixture
def make_machine(tmp_path: Path, bucket: Bucket, moto_endpoint: str) -> Iterator[Callable[..., Machine]]:
    machines: list[Machine] = []

    def make(endpoint: str | None = None, real_companion: bool = False, **env: str) -> Machine:
        machine = Machine(
            tmp_path / f"m{len(machines)}", bucket, endpoint or moto_endpoint, dict(env), real_companion=real_companion
        )
        machine.root.mkdir()
        machines.append(machine)
        return machine

    yield make
    for machine in machines:
        machine.kill()
        output = machine.output()
        for secret in SECRETS:
            assert secret not in output, f"a secret leaked into the entrypoint output of {machine.root}"
        if machine.db.exists():
            alex_db.assert_default_admin_invalid(machine.db)


@pytest.fixture
def machine(make_machine: Callable[..., Machine]) -> Machine:
    return make_machine()
