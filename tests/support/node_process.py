"""A Node.js server of the project (the upload companion, the edge router) as a child process on 127.0.0.1.

`start_node` starts it with its output in a log file and, unless told not to, waits until its health
path answers 200 (a server that exits or stays silent for 10 s fails the test with its log).
"""

from __future__ import annotations

import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx


@dataclass
class NodeProcess:
    proc: subprocess.Popen[bytes]
    url: str
    port: int
    log_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_output(self, text: str, timeout: float = 10.0) -> None:
        """Until the log shows `text` (the server wrote it), failing with the log if it exits or times out."""
        deadline = time.monotonic() + timeout
        while text not in self.output():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not in the log:\n{self.output()}")
            time.sleep(0.02)

    def stop(self) -> None:
        """SIGTERM (the servers finish what is in flight), then SIGKILL after 5 s."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def spawn(
    node: str, script: Path, env: dict[str, str], port: int, log_path: Path
) -> tuple[subprocess.Popen[bytes], str]:
    log = open(log_path, "ab")  # noqa: SIM115 - handed to the child, closed with this process
    proc = subprocess.Popen(
        [node, str(script)], env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
    )
    log.close()
    return proc, f"http://127.0.0.1:{port}"


def wait_healthy(
    server: NodeProcess, health_path: str, what: str, *, timeout: float = 10.0, base_url: str | None = None
) -> None:
    """Until `health_path` answers 200 on `base_url` (default: the server's own URL)."""
    deadline = time.monotonic() + timeout
    while True:
        if server.proc.poll() is not None:
            raise AssertionError(f"{what} exited with {server.proc.returncode}: {server.output()}")
        try:
            if httpx.get(f"{base_url or server.url}{health_path}", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise AssertionError(f"{what} did not answer in {timeout:.0f} s: {server.output()}")
        time.sleep(0.02)
