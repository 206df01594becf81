"""Two checkouts raced for one username: the first subscription got it; settle the other.

The sync gives a username to the oldest customer claiming it (billing.reconcile); a later customer whose
live subscription claims a name another tenant holds cannot have that library. Nobody is charged for
it: after the roster is written, this cancels that subscription at once, refunds what its latest invoice
collected (nothing for the free plan), and tells the customer by email, with a link to sign up again.

The signup site refuses names held by the rosters and by open checkouts, so this is the rare case of
two checkouts completed within one sync. A cancelled subscription is no longer a claim, so the next run
finds nothing to settle; a step that fails is reported for an operator, never retried blindly (a second
refund of one payment is refused by Stripe, and the idempotency key makes a retried call harmless).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import stripe

from billing.report import LostClaim


@dataclass(frozen=True)
class Settled:
    claim: LostClaim
    refunded: int  # in the smallest currency unit; 0 when nothing was collected
    currency: str
    emailed: bool
    problem: str | None = None  # set when a step failed: what an operator must finish by hand


def settle(
    claims: list[LostClaim], client: stripe.StripeClient, notify: Callable[[LostClaim], None] | None = None
) -> list[Settled]:
    return [_settle_one(claim, client, notify) for claim in claims]


def _settle_one(claim: LostClaim, client: stripe.StripeClient, notify: Callable[[LostClaim], None] | None) -> Settled:
    options: Any = {"idempotency_key": f"name-taken-cancel-{claim.subscription}"}
    try:
        client.v1.subscriptions.cancel(claim.subscription, options=options)
    except stripe.StripeError as exc:
        return Settled(claim, 0, "", False, f"cancelling {claim.subscription} failed: {_brief(exc)}")
    refunded, currency, problem = 0, "", None
    try:
        # Every paid invoice of the subscription (a new one has one), not only `latest_invoice`.
        invoices = client.v1.invoices.list({"subscription": claim.subscription, "status": "paid", "limit": 10})
        for invoice in invoices.data:
            amount, currency = _refund_invoice(client, str(invoice.id), claim)
            refunded += amount
    except stripe.StripeError as exc:
        problem = f"refunding {claim.subscription}'s invoices failed: {_brief(exc)}; refund them by hand"
    emailed = False
    if notify is not None:
        try:
            notify(claim)
            emailed = True
        except Exception as exc:  # noqa: BLE001 - the money is settled; a mail failure is reported, not fatal
            problem = (problem + "; " if problem else "") + f"the email to {claim.email} failed: {type(exc).__name__}"
    return Settled(claim, refunded, currency, emailed, problem)


def _refund_invoice(client: stripe.StripeClient, invoice_id: str, claim: LostClaim) -> tuple[int, str]:
    """Refunds every paid payment of the invoice (since 2025-03-31 an invoice lists its payments)."""
    refunded, currency = 0, ""
    payments = client.v1.invoice_payments.list({"invoice": invoice_id, "status": "paid"})
    for item in payments.data:
        # Absent keys are absent attributes on a StripeObject: read it as a plain mapping.
        refund = refund_payment(client, item.payment.to_dict(), f"{claim.subscription}-{item.id}")
        if refund is not None:
            refunded += int(refund.amount or 0)
            currency = str(refund.currency or currency)
    return refunded, currency


def refund_payment(client: stripe.StripeClient, payment: dict[str, Any], key: str) -> stripe.Refund | None:
    """The whole of one invoice payment back, by its PaymentIntent (or charge); None if it names neither."""
    params: Any = {"metadata": {"reason": "username taken"}}
    if payment.get("payment_intent"):
        params["payment_intent"] = _id(payment["payment_intent"])
    elif payment.get("charge"):
        params["charge"] = _id(payment["charge"])
    else:
        return None
    options: Any = {"idempotency_key": f"name-taken-refund-{key}"}
    return client.v1.refunds.create(params, options=options)


def _id(value: Any) -> str:
    return value if isinstance(value, str) else str(value["id"])


def _brief(exc: stripe.StripeError) -> str:
    return f"{type(exc).__name__} (HTTP {exc.http_status})" if exc.http_status else type(exc).__name__
