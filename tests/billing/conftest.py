from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.billing.support import FakeAccount, fake_account
from tests.support.gotools import require_tool
from tests.support.stripe_mock import StripeMock, run_stripe_mock


@pytest.fixture(autouse=True)
def _fast_retries(fast_stripe_retries: None) -> None:
    """Every billing test retries Stripe at millisecond pace (tests/conftest.py)."""


@pytest.fixture
def account() -> Iterator[FakeAccount]:
    with fake_account() as acct:
        yield acct


@pytest.fixture(scope="session")
def stripe_mock() -> Iterator[StripeMock]:
    """Stripe's stripe-mock on 127.0.0.1 (tests/support/stripe_mock.py), one per session; skipped when it is
    not built, a failure under CI."""
    with run_stripe_mock(require_tool("stripe-mock")) as mock:
        yield mock
