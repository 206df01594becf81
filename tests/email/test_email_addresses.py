"""The Email provider, in its own process against a real SMTP server, over the whole email-address family.

Every address the one rule (tenants.emails) accepts is delivered exactly as stored; every one it refuses
is refused by `check`, naming the key and the tenant, and should one reach `create` anyway (state from
before the rule, a hand-built resource) the failure is one EmailError line naming the tenant: never a
traceback out of the email package or smtplib, never a secret, and nothing sent.
"""

from __future__ import annotations

import pytest

from providers.email import EmailProvider
from tests.email.conftest import SMTP_PASSWORD, SmtpServer
from tests.email.test_email_provider import FIRST_PASSWORD, TENANT, create, inputs
from tests.support.email_addresses import CANONICAL, REFUSED
from tests.support.engine import BoundProvider, ProviderCallError, ProviderHost
from tests.support.servers import leaked

# Modules whose frames would mean a failure escaped as a library traceback rather than our one line.
_LIBRARY_FRAMES = ("/email/", "smtplib.py", "email_validator", "/encodings/")


@pytest.fixture(scope="module")
def emails(host: ProviderHost) -> BoundProvider:
    return host.bind(EmailProvider())


@pytest.mark.parametrize("address", CANONICAL)
def test_email_addresses_every_stored_form_is_delivered_as_it_is(emails, mailbox: SmtpServer, address: str) -> None:
    create(emails, inputs(mailbox, "welcome", to=address, reply_to=address))

    (got,) = mailbox.received
    assert got.rcpt_tos == [address]
    assert [a.addr_spec for a in got.message["To"].addresses] == [address]
    assert [a.addr_spec for a in got.message["Reply-To"].addresses] == [address]


@pytest.mark.parametrize("key", ["to", "reply_to"])
@pytest.mark.parametrize("address", REFUSED.values(), ids=REFUSED.keys())
def test_email_addresses_check_refuses_every_sibling_naming_the_key_and_tenant(
    emails, mailbox: SmtpServer, address: str, key: str
) -> None:
    failures = emails.check({}, inputs(mailbox, "welcome", **{key: address})).failures

    assert [k for k, _ in failures] == [key], failures
    (reason,) = [r for _, r in failures]
    assert reason.startswith(f"the welcome email for tenant {TENANT}: {key} ")
    assert mailbox.received == []


@pytest.mark.parametrize("address", REFUSED.values(), ids=REFUSED.keys())
def test_email_addresses_a_sibling_that_reaches_create_is_one_line_naming_the_tenant(
    emails, host: ProviderHost, mailbox: SmtpServer, address: str
) -> None:
    with pytest.raises(ProviderCallError) as caught:
        emails.create(inputs(mailbox, "welcome", to=address))  # past check, as state from before the rule would be

    details = caught.value.details
    last = details.strip().splitlines()[-1]
    assert last.startswith(f"providers.email.EmailError: the welcome email for tenant {TENANT} was not sent: ")
    assert not [frame for frame in _LIBRARY_FRAMES if frame in details], details
    assert leaked(details + host.stderr(), [SMTP_PASSWORD, FIRST_PASSWORD]) == []
    assert mailbox.received == [] and mailbox.auth_attempts == []
