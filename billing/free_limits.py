"""Free libraries: how many one person may hold, and how many may be made in a day.

Each new tenant is an app, a volume, a machine, a bucket and one of a shard's 400 Cloudflare tokens; on a
free plan nobody pays for any of it. The Stripe sync is where tenants are made, so the limits are kept
there, on every run, from Stripe and the rosters alone:

- `per_email` live free libraries per identity. A library is free when every item of its subscription
  has a price of 0 (billing.stripe_source). The identity is the customer's email as Stripe holds it,
  folded the way mail systems fold it: case (Stripe keeps what was typed), a `+tag` after the local
  part (sub-addressing), and dots in a Gmail local part. A customer is one identity whatever its email
  says: its tenant id comes from its customer id, so one customer never holds two libraries.
- `per_day` free libraries made per UTC day, across every shard of the domain: a burst of sign-ups
  never fills the places paying customers need. A free tenant's `created_at` is the day its library
  is made, so the count survives any number of runs that day.

A free sign-up over `per_email` is refused by name (a `skipped` notice: it needs an operator, who may
cancel the subscription) and never written. One over `per_day` waits (a `pending` notice) and is added
on a later day's run, oldest customer first. Existing tenants are never removed by either limit.
"""

from __future__ import annotations

from dataclasses import dataclass

from config.config_keys import ConfigKey

_GMAIL = frozenset({"gmail.com", "googlemail.com"})


@dataclass(frozen=True)
class FreeLimits:
    per_email: int = 1
    per_day: int = 25


def email_identity(email: str) -> str:
    """The person behind an address, as far as the address says: `A.B+x@GoogleMail.com` -> `ab@gmail.com`."""
    local, at, domain = email.strip().rpartition("@")
    if not at:
        return email.strip().casefold()
    local, domain = local.casefold().split("+", 1)[0], domain.casefold().rstrip(".")
    if domain in _GMAIL:
        local, domain = local.replace(".", ""), "gmail.com"
    return f"{local}@{domain}"


def refused_message(username: str, held: int, limits: FreeLimits) -> str:
    key = ConfigKey.FREE_PER_EMAIL.qualified
    return (
        f"not added: free library {username!r} refused: its email already holds {held} live free "
        f"librar{'y' if held == 1 else 'ies'} ({key} is {limits.per_email})"
    )


def waiting_message(username: str, limits: FreeLimits) -> str:
    key = ConfigKey.FREE_PER_DAY.qualified
    return (
        f"not added yet: free library {username!r} waits: {limits.per_day} free libraries were made today "
        f"({key}); a later day's run adds it"
    )
