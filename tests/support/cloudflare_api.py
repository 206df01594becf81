"""The Cloudflare v4 emulator for tests: fixed test identities, and a fixture that fails the test which sent
it a request Cloudflare has no route for (so the emulator can never silently miss what a client sends)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from emulators.clock import Clock
from emulators.cloudflare import CloudflareEmulator
from emulators.cloudflare.state import ObjectStore

TOKEN = "cf-emulator-token-0123456789abcdefABCDEF-_"  # 40+ of Cloudflare's token alphabet
ACCOUNT = "0123456789abcdef0123456789abcdef"
ZONE_ID = "fedcba9876543210fedcba9876543210"
ZONE_NAME = "alex.example"


def new_emulator(*, objects: ObjectStore | None = None, clock: Clock | None = None) -> CloudflareEmulator:
    return CloudflareEmulator(token=TOKEN, account_id=ACCOUNT, zones={ZONE_ID: ZONE_NAME}, objects=objects, clock=clock)


def fail_on_unknown(emulator: CloudflareEmulator) -> None:
    """pytest.fail naming every request the emulator had no route for."""
    unknown = emulator.unknown_requests()
    if unknown:
        listed = "\n".join(f"  {r.method} {r.path} {r.query or ''} body={r.body!r}"[:300] for r in unknown)
        pytest.fail(f"the Cloudflare emulator got {len(unknown)} request(s) it does not know:\n{listed}")


@pytest.fixture
def cloudflare_api() -> Iterator[CloudflareEmulator]:
    """A running emulator; the test fails if anything sent it a request Cloudflare has no route for."""
    with new_emulator() as emulator:
        yield emulator
        fail_on_unknown(emulator)
