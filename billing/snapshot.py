"""What the sync reads from Stripe, as plain values: no SDK objects past this point.

Keeping the snapshot plain makes the reconciler a pure function that tests can feed directly, and
keeps the memory of a 10,000-subscription run to what the roster needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

USERNAME_KEY = "username"  # customer metadata key (mirrored on subscription metadata)


@dataclass(frozen=True)
class StripeCustomer:
    id: str
    deleted: bool = False
    email: str | None = None
    username: str | None = None  # metadata[USERNAME_KEY]
    created: int | None = None


@dataclass(frozen=True)
class StripeSubscription:
    id: str
    customer: str
    status: str
    lookup_keys: tuple[str | None, ...]
    created: int = 0
    ended_at: int | None = None
    canceled_at: int | None = None
    username: str | None = None  # metadata[USERNAME_KEY], the mirror that survives customer deletion
    free: bool = False  # every item's price is 0 (billing.free_limits)


@dataclass
class Snapshot:
    customers: dict[str, StripeCustomer] = field(default_factory=dict)
    subscriptions: list[StripeSubscription] = field(default_factory=list)

    def by_customer(self) -> dict[str, list[StripeSubscription]]:
        grouped: dict[str, list[StripeSubscription]] = {}
        for sub in self.subscriptions:
            grouped.setdefault(sub.customer, []).append(sub)
        return grouped
