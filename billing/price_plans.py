"""Which plan a Stripe price stands for: the one place that maps price lookup keys to plans.

A plan `<plan>` is sold through prices whose lookup keys are `<plan>_monthly` and `<plan>_yearly`
(docs/reference/stripe.md §2.4); both map to the same plan. Keys are derived from the stack's plan table,
so a plan added there is sellable without touching this module.
"""

from __future__ import annotations

from collections.abc import Mapping

from tenants.plans import Plan

BILLING_PERIODS = ("monthly", "yearly")


def lookup_key_table(plans: Mapping[str, Plan]) -> dict[str, str]:
    """lookup key -> plan name, for every plan in the table and every billing period."""
    return {f"{name}_{period}": name for name in plans for period in BILLING_PERIODS}


def plan_for_lookup_key(plans: Mapping[str, Plan], lookup_key: str | None) -> str | None:
    """The plan a price's lookup key sells, or None when the key is unknown (or the price has none)."""
    if lookup_key is None:
        return None
    return lookup_key_table(plans).get(lookup_key)
