from __future__ import annotations

from collections.abc import Iterator

import pytest
import stripe

from tests.billing.support import FakeAccount, fake_account


@pytest.fixture(autouse=True)
def fast_sdk_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK's retry back-off (0.5 s doubling) shrunk to milliseconds; the retries still happen."""
    monkeypatch.setattr(stripe.HTTPClient, "INITIAL_DELAY", 0.001)
    monkeypatch.setattr(stripe.HTTPClient, "MAX_DELAY", 0.002)
    # Nothing from the developer's shell points a test at a real Stripe account.
    for name in ("STRIPE_API_BASE", "STRIPE_WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def account() -> Iterator[FakeAccount]:
    with fake_account() as acct:
        yield acct
