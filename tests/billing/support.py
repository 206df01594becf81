"""Helpers shared by the billing and Stripe-script tests: a fake Stripe account and roster text."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import stripe

from billing.stripe_source import PINNED_API_VERSION, RetryPolicy, make_client
from emulators.stripe.server import FakeStripe, serve
from emulators.stripe.state import StripeWorld
from tenants.roster import RosterEntry, dump_roster

API_KEY = "sk_test_51FixtureKeyNeverPrinted0000"
FAST_RETRIES = RetryPolicy(network_retries=2, rate_limit_retries=3, rate_limit_delay=0.001)

# Hand-managed entries (no stripe_customer) that every sync must leave byte for byte.
HAND_MANAGED = [
    RosterEntry("friend0001", "erin", "erin@example.com", "free", "active", created_at=date(2026, 1, 5)),
    RosterEntry("ops0000001", "ops-demo", "ops@example.com", "library", "suspended", hold="operator", region="ams"),
]


@dataclass
class FakeAccount:
    world: StripeWorld
    fake: FakeStripe
    url: str

    def client(self, *, retries: RetryPolicy = FAST_RETRIES, timeout: float = 5.0) -> stripe.StripeClient:
        return make_client(self.world.api_key, api_base=self.url, retries=retries, timeout=timeout)

    @property
    def requests(self) -> int:
        return self.fake.faults.count()


@contextmanager
def fake_account() -> Iterator[FakeAccount]:
    world = StripeWorld(api_key=API_KEY, api_version=PINNED_API_VERSION)
    with serve(world) as (url, fake):
        yield FakeAccount(world, fake, url)


def at(day: str, hours: int = 12) -> int:
    """Unix seconds at `hours` o'clock UTC on a YYYY-MM-DD day."""
    return int((datetime.fromisoformat(day).replace(tzinfo=UTC) + timedelta(hours=hours)).timestamp())


def now(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC) + timedelta(hours=18)


def write_hand_managed(path: Path, extra: list[RosterEntry] | None = None) -> str:
    text = dump_roster([*HAND_MANAGED, *(extra or [])])
    path.write_text(text, encoding="utf-8")
    return text


def hand_managed_block(text: str) -> list[str]:
    """The lines of the hand-managed entries in a roster file, exactly as written."""
    blocks: list[list[str]] = []
    current: list[str] = []
    for line in text.splitlines():
        if line.startswith("- "):
            current = [line]
            blocks.append(current)
        elif current:
            current.append(line)
    return ["\n".join(b) for b in blocks if not any(x.strip().startswith("stripe_customer:") for x in b)]
