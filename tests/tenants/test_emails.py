"""One email rule (tenants.emails) for the roster, the sign-up form, the Stripe sync and the mailer.

The family of addresses is tests/support/email_addresses.py: what no entry point may take, and what
every one must take with the form it is stored in. The mailer's side is proven here on the message it
builds and in tests/email against a real SMTP server.
"""

from __future__ import annotations

from email import message_from_bytes, policy

import pytest
import yaml

from providers import smtp
from providers.smtp import SmtpSettings
from tenants.emails import EmailAddressError, canonical_email, email_problem
from tenants.roster import RosterError, dump_roster, parse_roster
from tests.support.email_addresses import ACCEPTED, CANONICAL, REFUSED

SETTINGS = SmtpSettings(host="127.0.0.1", port=2525, sender="Alex <hello@books.example.com>", starttls=False)


def roster_with(email: str) -> str:
    entry = {"id": "acme000001", "username": "alice", "email": email, "plan": "reader", "state": "active"}
    return yaml.safe_dump([entry], allow_unicode=True, width=100_000)


@pytest.mark.parametrize("address", REFUSED.values(), ids=REFUSED.keys())
def test_emails_the_rule_refuses_every_sibling_saying_why_without_the_value(address: str) -> None:
    with pytest.raises(EmailAddressError) as caught:
        canonical_email(address)
    message = str(caught.value)
    assert message and "\n" not in message and len(message) <= 200
    if len(address) > 3:
        assert address not in message
    assert email_problem(address) == message


@pytest.mark.parametrize("value", [None, 42, b"a@example.com", ["a@example.com"]], ids=repr)
def test_emails_the_rule_refuses_what_is_not_text(value: object) -> None:
    assert email_problem(value) is not None


@pytest.mark.parametrize(("given", "stored"), ACCEPTED.items(), ids=ACCEPTED.keys())
def test_emails_the_stored_form_keeps_the_local_part_and_lowercases_the_domain_in_ascii(
    given: str, stored: str
) -> None:
    assert canonical_email(given) == stored
    assert canonical_email(stored) == stored  # stable: the stored form is its own canonical form


@pytest.mark.parametrize("address", sorted(set(ACCEPTED.values())))
def test_emails_every_stored_form_is_a_message_the_mailer_writes_and_reads_back(address: str) -> None:
    message = smtp.build_message(SETTINGS, to=address, subject="s", body="b", message_id="<m@x>", reply_to=address)
    parsed = message_from_bytes(message.as_bytes(), policy=policy.default)
    for header in ("To", "Reply-To"):
        field = parsed[header]
        assert [a.addr_spec for a in field.addresses] == [address] and not field.defects


@pytest.mark.parametrize("address", REFUSED.values(), ids=REFUSED.keys())
def test_emails_the_roster_refuses_every_sibling_naming_the_entry_and_field(address: str) -> None:
    with pytest.raises(RosterError) as caught:
        parse_roster(roster_with(address), "roster.yaml")
    (problem,) = caught.value.problems
    assert str(problem).startswith("entry 1 (id 'acme000001'): email: ") and "is not an email address: " in str(problem)


@pytest.mark.parametrize(
    ("given", "stored"), [(g, s) for g, s in ACCEPTED.items() if g != s], ids=[g for g, s in ACCEPTED.items() if g != s]
)
def test_emails_the_roster_names_the_stored_form_of_an_address_written_otherwise(given: str, stored: str) -> None:
    with pytest.raises(RosterError) as caught:
        parse_roster(roster_with(given), "roster.yaml")
    (problem,) = caught.value.problems
    assert f"email: {given!r}: write it as {stored!r}" in str(problem)


@pytest.mark.parametrize("address", CANONICAL)
def test_emails_the_roster_keeps_a_stored_form_byte_for_byte(address: str) -> None:
    (entry,) = parse_roster(roster_with(address), "roster.yaml")
    assert entry.email == address
    assert parse_roster(dump_roster([entry]), "roster.yaml") == [entry]
