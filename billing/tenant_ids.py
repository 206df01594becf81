"""Tenant ids for Stripe customers: the sync derives each paying tenant's immutable id from its customer."""

from __future__ import annotations

import base64
import hashlib


def tenant_id_for_customer(stripe_customer: str) -> str:
    """The immutable tenant id of a Stripe customer: 's' + 13 base32 characters of its sha256.

    Deterministic, so every sync run (and every machine) derives the same id; never reused for a
    different customer in practice (65 bits).
    """
    digest = hashlib.sha256(stripe_customer.encode("utf-8")).digest()
    return "s" + base64.b32encode(digest).decode("ascii").lower()[:13]
