"""The end-to-end lane: the real `pulumi` CLI, its Python language host and the real provider plugins
(../shared/engine, installed by `make engine`), a file backend with passphrase secrets, and every API on
127.0.0.1: the Fly Machines API emulator, the Cloudflare v4 API emulator, moto's S3 server as R2.

Each test builds its own workspace, stacks and emulators (they share nothing, so xdist may spread them).
The engine is driven through `scripts.pulumi_stack`, the script the workflows run.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from emulators.cloudflare import CloudflareEmulator
from emulators.cloudflare.s3 import S3Objects
from emulators.fly import FlyEmulator
from tests.conftest import FLY_TEST_TOKEN
from tests.support.cloudflare_api import fail_on_unknown
from tests.support.pulumi_cli import Workspace

CF_TOKEN = "e2e-cloudflare-token-0123456789abcdefghijklmnop"  # the provider wants 40 to 80 characters
ACCOUNT = "0123456789abcdef0123456789abcdef"
ZONE = "fedcba9876543210fedcba9876543210"
ORG = "alex-hosted-e2e"


def stack_config(
    fly: FlyEmulator, cloudflare: CloudflareEmulator, r2: str, *, prefix: str = "e2e", **extra: Any
) -> dict[str, Any]:
    """A stack file's config for the emulators: everything the program reads, no secret."""
    return {
        "alex-hosted:domain": "books.test",
        "alex-hosted:image": "ghcr.io/alex-hosted/alex-hosted:0.6.0-1",
        "alex-hosted:edgeImage": "ghcr.io/alex-hosted/alex-hosted-edge:1.0.0-1",
        "alex-hosted:edgeRegions": ["ams", "fra"],
        "alex-hosted:flyOrg": ORG,
        "alex-hosted:flyRegion": "ams",
        "alex-hosted:appPrefix": prefix,
        "alex-hosted:flyApiUrl": fly.url,
        "alex-hosted:cloudflareAccountId": ACCOUNT,
        "alex-hosted:cloudflareZoneId": ZONE,
        "alex-hosted:r2Endpoint": r2,
        "cloudflare:baseUrl": cloudflare.url,
        **extra,
    }


def tenant(tid: str, username: str, plan: str = "free", state: str = "active", **extra: Any) -> dict[str, Any]:
    return {
        "id": tid,
        "username": username,
        "email": f"{username}@example.org",
        "plan": plan,
        "state": state,
        "created_at": date(2026, 11, 1),
        **extra,
    }


@pytest.fixture
def fly() -> Iterator[FlyEmulator]:
    """Fly as production treats us: its rate limits on, the client's own limiter and retries at defaults."""
    with FlyEmulator(token=FLY_TEST_TOKEN, org=ORG, rate_limit=True, cross_network_replay=True) as emu:
        yield emu


@pytest.fixture
def cloudflare(moto_endpoint: str) -> Iterator[CloudflareEmulator]:
    with CloudflareEmulator(
        token=CF_TOKEN, account_id=ACCOUNT, zones={ZONE: "books.test"}, objects=S3Objects(moto_endpoint)
    ) as api:
        yield api
        fail_on_unknown(api)


@pytest.fixture
def workspace(tmp_path, fly: FlyEmulator, cloudflare: CloudflareEmulator) -> Workspace:
    env = {"FLY_API_URL": fly.url, "FLY_API_TOKEN": FLY_TEST_TOKEN, "CLOUDFLARE_API_TOKEN": CF_TOKEN}
    return Workspace(tmp_path, env)


@pytest.fixture
def config(fly: FlyEmulator, cloudflare: CloudflareEmulator, moto_endpoint: str) -> dict[str, Any]:
    return stack_config(fly, cloudflare, moto_endpoint)


def bucket_names(cloudflare: CloudflareEmulator) -> list[str]:
    with cloudflare.world.lock:
        return sorted(name for _, name in cloudflare.world.buckets)


def token_values(cloudflare: CloudflareEmulator) -> list[str]:
    """The one-time values the emulator handed out (a test's view; the API never shows them again)."""
    with cloudflare.world.lock:
        return list(cloudflare.world.token_values.values())


def token_count(cloudflare: CloudflareEmulator) -> int:
    with cloudflare.world.lock:
        return len(cloudflare.world.tokens)


def dns_records(cloudflare: CloudflareEmulator) -> list[dict[str, Any]]:
    with cloudflare.world.lock:
        return [record.view() for zone in cloudflare.world.records.values() for record in zone.values()]
