from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.billing.support import FakeAccount, fake_account


@pytest.fixture(autouse=True)
def _fast_retries(fast_stripe_retries: None) -> None:
    """Every billing test retries Stripe at millisecond pace (tests/conftest.py)."""


@pytest.fixture
def account() -> Iterator[FakeAccount]:
    with fake_account() as acct:
        yield acct
