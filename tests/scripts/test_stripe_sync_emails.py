"""`scripts.stripe_sync` over HTTP to the Stripe stand-in writes only addresses the mailer can send to.

Stripe keeps whatever a customer typed at Checkout (an API call can set anything): the sync stores each
address in its one canonical form (tenants.emails) and never writes one the rule refuses, for a new
customer (skipped, reported) or for an existing tenant whose customer changed address (kept, reported).
"""

from __future__ import annotations

import pytest

from billing.tenant_ids import tenant_id_for_customer
from tenants.roster import load_roster
from tests.billing.support import at
from tests.scripts.test_stripe_sync import account, roster, run_cli  # noqa: F401 - fixtures
from tests.support.email_addresses import ACCEPTED, REFUSED

pytestmark = pytest.mark.usefixtures("fast_stripe_retries")


def test_sync_emails_new_customers_with_refused_addresses_are_skipped_and_reported(account, roster, capsys):  # noqa: F811
    customers = {}
    for number, (name, address) in enumerate(REFUSED.items()):
        cus = account.world.add_customer(username=f"reader-{number}", email=address, created=at("2026-01-01"))
        account.world.subscribe(cus, "reader_monthly")
        customers[name] = cus

    code, out, _ = run_cli(capsys, "--roster", str(roster), "--now", "2026-11-26")

    assert code == 1 and "Needs attention" in out
    stored = {t.stripe_customer for t in load_roster(roster)}
    assert stored.isdisjoint(customers.values())
    skipped = [line for line in out.splitlines() if "not added: customer email" in line and "is not usable (" in line]
    assert sorted(line.split("[")[1].split("]")[0] for line in skipped) == sorted(customers.values())


def test_sync_emails_addresses_are_stored_in_their_canonical_form(account, roster, capsys):  # noqa: F811
    made = {}
    for number, (given, stored) in enumerate(ACCEPTED.items()):
        cus = account.world.add_customer(username=f"reader-{number}", email=given, created=at("2026-01-01"))
        account.world.subscribe(cus, "reader_monthly")
        made[tenant_id_for_customer(cus)] = stored

    assert run_cli(capsys, "--roster", str(roster), "--now", "2026-11-26")[0] == 0
    emails = {t.id: t.email for t in load_roster(roster) if t.id in made}
    assert emails == made
    before = roster.read_bytes()
    assert run_cli(capsys, "--roster", str(roster), "--now", "2026-11-27")[0] == 0
    assert roster.read_bytes() == before  # the stored form is stable: no churn on the next run


@pytest.mark.parametrize("name", ["two dots", "encoded word (q)", "comma", "non-ASCII local part", "line feed"])
def test_sync_emails_an_existing_tenant_keeps_its_address_when_the_customer_s_goes_bad(
    account,  # noqa: F811
    roster,  # noqa: F811
    capsys,
    name,
):
    cus = account.world.add_customer(username="alice", email="alice@example.com", created=at("2026-01-01"))
    account.world.subscribe(cus, "reader_monthly")
    assert run_cli(capsys, "--roster", str(roster), "--now", "2026-11-26")[0] == 0
    account.world.set_customer_email(cus, REFUSED[name])

    code, out, _ = run_cli(capsys, "--roster", str(roster), "--now", "2026-11-27")

    assert code == 1 and "keeping alice@example.com" in out
    (tenant,) = [t for t in load_roster(roster) if t.stripe_customer == cus]
    assert tenant.email == "alice@example.com"
