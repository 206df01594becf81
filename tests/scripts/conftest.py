"""Local servers and helpers for the operator-script tests: an S3 client on moto (tests/conftest.py), the
Cloudflare stand-in.

Every script runs in-process through its `main(argv) -> int`; `run_cli` captures the exit code, stdout
and stderr. The scripts read the `dev` stack's settings (stacks/Pulumi.dev.yaml) but always a roster
written into the test's tmp_path (`--roster`), so no test touches the repository's rosters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from config.stack_config import read_stack_file
from emulators.cloudflare import CloudflareEmulator
from ops.r2 import r2_client
from tenants.roster import RosterEntry, write_roster

STACK = "dev"
CF_TOKEN = "cf-test-token-do-not-print-0123456789abcdef"
R2_KEY_ID = "operator-key-id"
R2_SECRET = "operator-secret-do-not-print"


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    @property
    def error(self) -> str:
        """The one `<script>: error: ...` line; fails if there is not exactly one."""
        lines = [line for line in self.err.splitlines() if ": error: " in line]
        assert len(lines) == 1, self
        return lines[0]

    def __str__(self) -> str:  # shown by pytest when an assertion on the result fails
        return f"exit {self.code}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Callable[[Callable[[Sequence[str]], int], Sequence[str]], CliResult]:
    def run(main: Callable[[Sequence[str]], int], argv: Sequence[str]) -> CliResult:
        capsys.readouterr()
        code = main(list(argv))
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture
def stack_config():
    return read_stack_file(STACK)


@pytest.fixture
def make_roster(tmp_path: Path, stack_config) -> Callable[[Sequence[RosterEntry]], Path]:
    """Writes tenants to a roster file (validated, like the real thing) and returns its path."""

    def make(tenants: Sequence[RosterEntry]) -> Path:
        path = tmp_path / f"{STACK}.yaml"
        write_roster(path, tenants, stack_config.plans)
        return path

    return make


@pytest.fixture
def s3(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch):
    """An S3 client on a freshly reset moto server; the scripts get the same endpoint and key via env."""
    httpx.post(f"{moto_endpoint}/moto-api/reset", timeout=10).raise_for_status()
    monkeypatch.setenv("R2_ENDPOINT", moto_endpoint)
    monkeypatch.setenv("R2_ACCESS_KEY_ID", R2_KEY_ID)
    monkeypatch.setenv("R2_SECRET_ACCESS_KEY", R2_SECRET)
    return r2_client(moto_endpoint, R2_KEY_ID, R2_SECRET, timeout=5)


@pytest.fixture
def cloudflare(stack_config, monkeypatch: pytest.MonkeyPatch) -> Iterator[CloudflareEmulator]:
    with CloudflareEmulator(token=CF_TOKEN, account_id=stack_config.cloudflare_account_id) as emulator:
        monkeypatch.setenv("CLOUDFLARE_BASE_URL", emulator.url)
        monkeypatch.setenv("CLOUDFLARE_API_TOKEN", CF_TOKEN)
        yield emulator
