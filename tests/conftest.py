"""Fixtures shared by more than one test package. Keep this small; package-specific fixtures live beside their tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import stripe

from tests.support.servers import free_port, start_moto

FLY_TEST_TOKEN = "test-fly-token"
_SCRUBBED = (
    "FLY_API_TOKEN", "FLY_API_URL", "CLOUDFLARE_API_TOKEN", "CLOUDFLARE_BASE_URL", "STRIPE_API_KEY", "STRIPE_API_BASE",
    "STRIPE_WEBHOOK_SECRET", "R2_ENDPOINT", "R2_ACCESS_KEY_ID", "R2_SECRET_ACCESS_KEY", "PULUMI_CONFIG_PASSPHRASE",
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
    "GITHUB_TOKEN", "GITHUB_API_URL", "GITHUB_REPOSITORY", "GITHUB_SERVER_URL", "GITHUB_RUN_ID",
)  # fmt: skip
_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees a real credential or proxy from the developer's shell."""
    for name in _SCRUBBED:
        monkeypatch.delenv(name, raising=False)
    for name in list(os.environ):
        if name.upper() in _PROXY_VARS:
            monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fast_stripe_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Stripe SDK's retry back-off (0.5 s doubling) shrunk to milliseconds; the retries still happen."""
    monkeypatch.setattr(stripe.HTTPClient, "INITIAL_DELAY", 0.001)
    monkeypatch.setattr(stripe.HTTPClient, "MAX_DELAY", 0.002)


@pytest.fixture
def closed_port() -> int:
    """A 127.0.0.1 port nothing listens on: an endpoint that is unreachable."""
    return free_port()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's S3 server standing in for R2, one per session (the image and script tests share it)."""
    server, endpoint = start_moto()
    yield endpoint
    server.stop()
