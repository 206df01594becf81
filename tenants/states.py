"""The words of a tenant's lifecycle: its roster state and why it is held. One home, every module imports it.

`TenantState` and `Hold` are `StrEnum`s, so they compare equal to the plain strings in the roster file
and in JSON output, and `TenantState("purging")` rejects anything that is not a state. A `RosterEntry`
stores the plain string whichever was passed (yaml's safe dumper cannot write a str subclass), so a
roster written from enum members is byte-identical to one written from strings.
"""

from __future__ import annotations

from enum import StrEnum


class TenantState(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    CANCELLED = "cancelled"
    PURGING = "purging"


class Hold(StrEnum):
    """Why a tenant is suspended when Stripe alone would say active; the Stripe sync never lifts these."""

    OVER_QUOTA = "over_quota"
    OPERATOR = "operator"


STATES: tuple[str, ...] = tuple(state.value for state in TenantState)
HOLDS: tuple[str, ...] = tuple(hold.value for hold in Hold)

# The states whose data is kept and whose machine still exists (purging destroys the machine).
KEEPS_MACHINE = frozenset({TenantState.ACTIVE, TenantState.SUSPENDED, TenantState.CANCELLED})
