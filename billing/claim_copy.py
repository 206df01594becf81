"""The username onto the customer: Checkout leaves it on the subscription only.

The signup site's key may create Checkout Sessions and nothing else, so a new customer's username lives
in its subscription's metadata (`subscription_data.metadata`), which the sync reads when the customer's
own metadata has none. Once the sync has added that tenant, it copies the name onto the customer, with
the sync's own key: the Stripe dashboard then shows whose library a customer is, and the claim no
longer hangs on one subscription (a customer who later subscribes again keeps their name).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import stripe

from billing.report import Change, Notice
from billing.snapshot import USERNAME_KEY, Snapshot


def copy_usernames(changes: Sequence[Change], snapshot: Snapshot, client: stripe.StripeClient) -> list[Notice]:
    """For each tenant this run added whose customer has no username in its metadata: set it.
    A refusal is a warning naming the customer; the roster is already right either way."""
    notices: list[Notice] = []
    for change in changes:
        if change.kind != "added" or not change.customer:
            continue
        customer = snapshot.customers.get(change.customer)
        if customer is None or customer.deleted or customer.username:
            continue
        options: Any = {"idempotency_key": f"copy-username-{change.customer}-{change.username}"}
        try:
            client.v1.customers.update(change.customer, {"metadata": {USERNAME_KEY: change.username}}, options=options)
        except stripe.StripeError as exc:
            why = f"{type(exc).__name__}" + (f" (HTTP {exc.http_status})" if exc.http_status else "")
            message = f"could not copy username {change.username!r} onto the customer: {why}"
            notices.append(Notice("warning", change.customer, change.tenant_id, message))
    return notices
