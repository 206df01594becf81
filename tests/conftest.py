"""Fixtures shared by every test package. Keep this small; package-specific fixtures live beside their tests."""

from __future__ import annotations

import os

import pytest

FLY_TEST_TOKEN = "test-fly-token"
_SCRUBBED = (
    "FLY_API_TOKEN", "FLY_API_URL", "CLOUDFLARE_API_TOKEN", "CLOUDFLARE_BASE_URL", "STRIPE_API_KEY", "STRIPE_API_BASE",
    "STRIPE_WEBHOOK_SECRET", "R2_ENDPOINT", "R2_ACCESS_KEY_ID", "R2_SECRET_ACCESS_KEY", "PULUMI_CONFIG_PASSPHRASE",
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
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
