"""Fixtures for the companion's tests: the stand-in Alex, a fresh bucket in moto, a library folder, and
the companion itself (a factory, so a test can set its own environment).

The companion reaches moto through the SigV4-checking proxy (tests/support/sigv4_proxy.py), as it would
reach R2: every request it signs and every URL it presigns is checked, expiry included, against the
test's clock. `s3` talks to moto directly, to look at the bucket from outside.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.companion.harness import R2_SECRET, Companion, CompanionEnv, s3_client, start_companion
from tests.support.alex_web import AlexWeb
from tests.support.node_clock import FakeClock
from tests.support.sigv4_proxy import SigV4CheckingProxy


@pytest.fixture
def library(tmp_path: Path) -> Path:
    path = tmp_path / "library"
    path.mkdir()
    return path


@pytest.fixture
def alex_web(library: Path) -> Iterator[AlexWeb]:
    with AlexWeb(library=library) as alex:
        yield alex


@pytest.fixture
def s3(moto_endpoint: str) -> Any:
    return s3_client(moto_endpoint)


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"alex-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def clock() -> FakeClock:
    """This test's clock: R2's (the proxy's), and the companion's when started with clock_driven=True."""
    return FakeClock()


@pytest.fixture
def r2(moto_endpoint: str, clock: FakeClock) -> Iterator[SigV4CheckingProxy]:
    """moto behind the SigV4 check: the companion's R2 endpoint."""
    with SigV4CheckingProxy(moto_endpoint, R2_SECRET, clock=clock.now) as proxy:
        yield proxy


@pytest.fixture
def start(
    alex_web: AlexWeb, r2: SigV4CheckingProxy, bucket: str, library: Path, tmp_path: Path, clock: FakeClock
) -> Iterator[Callable[..., Companion]]:
    """start(**env) runs a companion against this test's Alex, bucket and library; with clock_driven=True its
    time follows the test's clock (`clock.advance`) instead of running on its own."""
    started: list[Companion] = []

    def run(wait: bool = True, alex_url: str | None = None, clock_driven: bool = False, **extra: str) -> Companion:
        if clock_driven:
            extra = {**clock.node_env(), **extra}
        env = CompanionEnv(alex_web.url if alex_url is None else alex_url, r2.url, bucket, library, extra)
        companion = start_companion(env, tmp_path / f"companion-{len(started)}.log", wait=wait)
        started.append(companion)
        return companion

    yield run
    for companion in started:
        companion.stop()


@pytest.fixture
def companion(start: Callable[..., Companion]) -> Companion:
    return start()


@pytest.fixture
def signed_in(companion: Companion, alex_web: AlexWeb) -> Iterator[httpx.Client]:
    """A client of the companion carrying a signed-in session cookie, as the browser would."""
    with httpx.Client(base_url=companion.url, headers={"Cookie": alex_web.cookie_header()}, timeout=30) as client:
        yield client


@pytest.fixture
def signed_out(companion: Companion) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=companion.url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def shared_reader(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """One companion for a whole module, for tests that only read refusals (they change no state):
    a signed-in client of it. Saves a node start per parametrized case."""
    root = tmp_path_factory.mktemp("shared-companion")
    library = root / "library"
    library.mkdir()
    name = f"alex-{uuid.uuid4().hex[:12]}"
    s3_client(moto_endpoint).create_bucket(Bucket=name)
    with AlexWeb(library=library) as alex:
        companion = start_companion(CompanionEnv(alex.url, moto_endpoint, name, library), root / "companion.log")
        try:
            with httpx.Client(base_url=companion.url, headers={"Cookie": alex.cookie_header()}, timeout=30) as client:
                yield client
        finally:
            companion.stop()
