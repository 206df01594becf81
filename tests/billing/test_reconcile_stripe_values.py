"""Values from Stripe pass the roster's whole-string rules before they are written; bad ones are skipped.

A `username` metadata of "alice\\n" used to be written into the roster, after which every `pulumi up`
failed. The family: every spoiler of tests/tenants/test_roster_whole_values for the username, the
email and the customer id, for a new customer and for one already on the roster.
"""

from __future__ import annotations

import pytest

from billing.snapshot import Snapshot, StripeCustomer, StripeSubscription
from tenants.inputs import quote_value
from tenants.roster import dump_roster, parse_roster
from tests.billing.support import at
from tests.billing.test_reconcile import run, stripe_tenant
from tests.tenants.test_roster_whole_values import SPOILERS


def one(cid: str, username: str, email: str) -> Snapshot:
    snap = Snapshot()
    snap.customers[cid] = StripeCustomer(cid, email=email, username=username, created=at("2026-01-01"))
    snap.subscriptions.append(StripeSubscription("sub_1", cid, "active", ("reader_monthly",), created=at("2026-01-01")))
    return snap


GOOD = {"username": "alice", "email": "a@example.com", "customer": "cus_A"}  # as stripe_tenant("cus_A")


@pytest.mark.parametrize("spoiler", SPOILERS, ids=list(SPOILERS))
@pytest.mark.parametrize("field", list(GOOD))
def test_reconcile_stripe_values_a_spoilt_new_customer_is_skipped_and_reported(field: str, spoiler: str) -> None:
    values = {**GOOD, field: SPOILERS[spoiler](GOOD[field])}
    tenants, report = run([], one(values["customer"], values["username"], values["email"]))
    assert tenants == []
    ((notice),) = report.notices
    assert notice.kind == "skipped" and quote_value(values[field]) in notice.message
    assert {"username": "username", "email": "email", "customer": "customer id"}[field] in notice.message


@pytest.mark.parametrize("spoiler", SPOILERS, ids=list(SPOILERS))
@pytest.mark.parametrize("field", ["username", "email"])
def test_reconcile_stripe_values_a_spoilt_value_never_reaches_an_existing_tenant(field: str, spoiler: str) -> None:
    roster = [stripe_tenant("cus_A", "alice")]
    values = {**GOOD, field: SPOILERS[spoiler](GOOD[field])}
    tenants, report = run(roster, one("cus_A", values["username"], values["email"]))
    assert tenants == roster
    ((notice),) = report.notices
    assert notice.kind == "warning" and notice.tenant_id == roster[0].id
    assert quote_value(values[field]) in notice.message
    parse_roster(dump_roster(tenants), "written")  # what would be written loads
