"""Fixtures for the edge router's tests: one shared router for the tests that only read answers, and a
factory for tests that reload, stop or break their own."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.router.harness import Hosts, Router, start_router, write_map

# The future date is far off, the past one long gone, so the pages' wording does not depend on today.
HOSTS: Hosts = {
    "alice.example.com": {"app": "ah-t0000001"},
    "books.alice.net": {"app": "ah-t0000001"},
    "bob.example.com": {"app": "ah-t0000002", "state": "suspended"},
    "carol.example.com": {"app": "ah-t0000003", "state": "cancelled", "exportUntil": "2099-12-31"},
    "dave.example.com": {"app": "ah-t0000004", "state": "cancelled", "exportUntil": "2001-01-31"},
}
DIGEST = "sha256:first"

StartRouter = Callable[..., Router]


@pytest.fixture(scope="module")
def shared_router(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Router]:
    """One router for a module's read-only tests (a node start per test would add up)."""
    root = tmp_path_factory.mktemp("router")
    router = start_router(write_map(root / "map.json", HOSTS, DIGEST), root / "router.log")
    yield router
    router.stop()


@pytest.fixture
def client(shared_router: Router) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=shared_router.url, timeout=5) as http:
        yield http


@pytest.fixture
def map_path(tmp_path: Path) -> Path:
    return tmp_path / "map.json"


@pytest.fixture
def start(map_path: Path, tmp_path: Path) -> Iterator[StartRouter]:
    """start(hosts=HOSTS, digest=DIGEST, compress=False, **env): a router of its own on `map_path`."""
    started: list[Router] = []

    def run(hosts: Hosts = HOSTS, digest: str = DIGEST, compress: bool = False, **env: str) -> Router:
        write_map(map_path, hosts, digest, compress=compress)
        router = start_router(map_path, tmp_path / f"router-{len(started)}.log", env)
        started.append(router)
        return router

    yield run
    for router in started:
        router.stop()
