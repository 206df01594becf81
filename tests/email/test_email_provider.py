"""The Email provider in a fresh provider process (as Pulumi runs it) against a local SMTP server.

Creating sends exactly one message; nothing else ever sends (diff never reports a change, update,
read and delete send nothing); a create after a delete (`up --replace`) sends again. The SMTP password
comes from the environment or configure() and is never in outputs, error text or the process's stderr.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from pulumi.runtime.rpc import UNKNOWN

from components import email_templates
from providers.email import EmailError, EmailProvider, body_sha256, message_id
from tests.email.conftest import SENDER, SMTP_PASSWORD, SMTP_USER, SmtpServer, provider_env
from tests.support.engine import BoundProvider, ProviderCallError, ProviderHost
from tests.support.servers import leaked

TENANT = "s0a1b2c3d4e5f6"
HOSTNAME = "alice.books.example.com"
OWNER = "alice@example.com"
PORTAL = "https://billing.stripe.com/p/login/test_abc123"
SUPPORT = "help@books.example.com"
FIRST_PASSWORD = "Fp-9xQ2#vL7m!Rt4wZ8k"


def composed(kind: str) -> email_templates.Composed:
    if kind == "welcome":
        return email_templates.welcome(hostname=HOSTNAME, login_email=OWNER, password=FIRST_PASSWORD, portal_url=PORTAL)
    if kind == "suspended":
        return email_templates.suspended(hostname=HOSTNAME, portal_url=PORTAL, support_email=SUPPORT)
    return email_templates.cancelled(hostname=HOSTNAME, export_until=date(2026, 12, 31), support_email=SUPPORT)


def inputs(server: SmtpServer, kind: str = "welcome", **changes: Any) -> dict[str, Any]:
    mail = composed(kind)
    props: dict[str, Any] = {
        "to": OWNER,
        "subject": mail.subject,
        "body": mail.body,
        "kind": kind,
        "tenant": TENANT,
        "name": f"{TENANT}-{kind}",
        "reply_to": SUPPORT,
        "host": "127.0.0.1",
        "port": server.port,
        "username": SMTP_USER,
        "sender": SENDER,
        "starttls": False,
    }
    props.update(changes)
    return props


def create(emails: BoundProvider, props: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    checked = emails.check({}, props)
    assert not checked.failures, checked.failures
    return emails.create(checked.inputs)


@pytest.fixture
def emails(host: ProviderHost) -> BoundProvider:
    return host.bind(EmailProvider())


@pytest.mark.parametrize("kind", ["welcome", "suspended", "cancelled"])
def test_email_create_sends_exactly_one_message_per_kind(emails, mailbox, kind):
    props = inputs(mailbox, kind)
    id_, outs = create(emails, props)

    assert len(mailbox.received) == 1
    got = mailbox.received[0]
    assert got.mail_from == "hello@books.example.com" and got.rcpt_tos == [OWNER]
    assert got.login == SMTP_USER  # logged in with the env password
    message = got.message
    assert message["To"] == OWNER and message["From"] == SENDER and message["Reply-To"] == SUPPORT
    assert message["Subject"] == props["subject"]
    assert message["Auto-Submitted"] == "auto-generated"
    assert message.get_content_type() == "text/plain" and message.get_content_charset() == "utf-8"
    assert got.body == props["body"]
    assert got.header("Message-ID") == outs["message_id"] == message_id(TENANT, kind, props["name"], SENDER)
    assert id_ == outs["message_id"].strip("<>")
    assert outs["kind"] == kind and outs["tenant"] == TENANT and outs["to"] == OWNER
    assert outs["body_sha256"] == body_sha256(props["body"])
    assert outs["sent_at"].endswith("Z") and outs["sent_at"][:4].isdigit()


def test_email_welcome_body_has_what_the_owner_needs_and_no_other_secret(emails, mailbox):
    create(emails, inputs(mailbox, "welcome"))
    body = mailbox.received[0].body
    for needed in (f"https://{HOSTNAME}", OWNER, FIRST_PASSWORD, email_templates.CHANGE_PASSWORD_LINE, PORTAL):
        assert needed in body
    assert SMTP_PASSWORD not in mailbox.received[0].raw.decode()


@pytest.mark.parametrize("kind", ["suspended", "cancelled"])
def test_email_notices_hold_no_password(emails, mailbox, kind):
    create(emails, inputs(mailbox, kind))
    raw = mailbox.received[0].raw.decode()
    assert FIRST_PASSWORD not in raw and SMTP_PASSWORD not in raw and "Password" not in raw


def test_email_outputs_hold_neither_password_nor_body(emails, host, mailbox):
    props = inputs(mailbox, "welcome")
    _, outs = create(emails, props)
    assert "body" not in outs
    text = repr(outs)
    assert FIRST_PASSWORD not in text and SMTP_PASSWORD not in text
    assert leaked(text + host.stderr(), [SMTP_PASSWORD, FIRST_PASSWORD]) == []


def test_email_later_ups_never_resend(emails, mailbox):
    props = inputs(mailbox, "welcome")
    id_, outs = create(emails, props)
    assert len(mailbox.received) == 1

    same = emails.check(outs, props)
    assert not same.failures and emails.diff(id_, outs, same.inputs).changes is False
    for changed in (
        {"to": "new-owner@example.com"},  # a new owner address must not resend the welcome
        {"subject": "Another subject", "body": "another body\n"},
        {"host": "smtp.elsewhere.example", "port": 2525, "username": "other"},
        {"kind": "suspended"},
        {"body": UNKNOWN},  # preview with the password not yet known
    ):
        checked = emails.check(outs, {**props, **changed})
        assert not checked.failures, (changed, checked.failures)
        outcome = emails.diff(id_, outs, checked.inputs)
        assert outcome.changes is False and outcome.replaces == [], changed
    assert emails.update(id_, outs, inputs(mailbox, "welcome", to="new@example.com")) == outs
    read = emails.read(id_, outs)
    assert read.id == id_ and read.outs == outs and read.inputs is None  # stored inputs stay as they are
    assert len(mailbox.received) == 1


def test_email_delete_sends_nothing_and_replace_sends_again(emails, mailbox):
    props = inputs(mailbox, "welcome")
    id_, outs = create(emails, props)
    emails.delete(id_, outs)
    assert len(mailbox.received) == 1
    # `pulumi up --replace <urn>`: delete (nothing), then create (sends again, same Message-ID).
    id2, outs2 = create(emails, props)
    assert len(mailbox.received) == 2 and id2 == id_
    assert mailbox.received[1].header("Message-ID") == outs["message_id"] == outs2["message_id"]


def test_email_message_id_differs_per_occasion(emails, mailbox):
    _, first = create(emails, inputs(mailbox, "suspended", name=f"{TENANT}-suspended-2026-03-01"))
    _, second = create(emails, inputs(mailbox, "suspended", name=f"{TENANT}-suspended-2026-06-01"))
    _, welcome = create(emails, inputs(mailbox, "welcome"))
    assert len({first["message_id"], second["message_id"], welcome["message_id"]}) == 3


def test_email_auth_refused_names_tenant_and_kind_never_the_password(mailbox):
    wrong = "wrong-" + SMTP_PASSWORD
    with ProviderHost(env=provider_env(ALEX_SMTP_PASSWORD=wrong)) as host:
        emails = host.bind(EmailProvider())
        with pytest.raises(ProviderCallError) as caught:
            create(emails, inputs(mailbox, "welcome"))
        stderr = host.stderr()
    details = caught.value.details
    assert f"the welcome email for tenant {TENANT} was not sent" in details
    assert "refused the login" in details and "535" in details
    assert set(mailbox.auth_attempts) == {SMTP_USER} and mailbox.received == []  # smtplib tries PLAIN, then LOGIN
    assert leaked(details + stderr, [wrong, SMTP_PASSWORD, FIRST_PASSWORD]) == []


def test_email_server_down_is_a_clear_error(emails, mailbox, closed_port):
    with pytest.raises(ProviderCallError) as caught:
        create(emails, inputs(mailbox, "suspended", port=closed_port))
    details = caught.value.details
    assert f"the suspended email for tenant {TENANT} was not sent" in details
    assert f"SMTP server 127.0.0.1:{closed_port}: ConnectionRefusedError at step: connect" in details
    assert leaked(details, [SMTP_PASSWORD]) == []


def test_email_rejection_echoing_the_body_never_shows_a_secret(emails, host, mailbox):
    mailbox.reject_with = f"554 5.7.1 rejected content: Password: {FIRST_PASSWORD} auth {SMTP_PASSWORD}"
    with pytest.raises(ProviderCallError) as caught:
        create(emails, inputs(mailbox, "welcome"))
    details = caught.value.details
    assert f"the welcome email for tenant {TENANT} was not sent" in details and "554" in details
    assert "[redacted]" in details
    assert leaked(details + host.stderr(), [SMTP_PASSWORD, FIRST_PASSWORD]) == []


def test_email_connection_dropped_after_data_says_it_may_have_been_sent(emails, mailbox):
    mailbox.drop_after_data = True
    with pytest.raises(ProviderCallError) as caught:
        create(emails, inputs(mailbox, "cancelled"))
    details = caught.value.details
    mid = message_id(TENANT, "cancelled", f"{TENANT}-cancelled", SENDER)
    assert f"the cancelled email for tenant {TENANT} may or may not have been sent" in details
    assert "may or may not have accepted the message" in details
    assert f"sends it again with the same Message-ID {mid}" in details


def test_email_password_from_configure_when_env_has_none(mailbox):
    with ProviderHost(env=provider_env(ALEX_SMTP_PASSWORD="")) as host:
        emails = host.bind(EmailProvider())
        emails.configure({"alex-hosted:smtpPassword": SMTP_PASSWORD})
        create(emails, inputs(mailbox, "cancelled"))
        stderr = host.stderr()
    assert [r.login for r in mailbox.received] == [SMTP_USER]
    assert SMTP_PASSWORD not in stderr


def test_email_username_without_any_password_is_a_config_error(mailbox):
    with ProviderHost(env=provider_env(ALEX_SMTP_PASSWORD="")) as host:
        emails = host.bind(EmailProvider())
        with pytest.raises(ProviderCallError) as caught:
            create(emails, inputs(mailbox, "welcome"))
    details = caught.value.details
    assert "ALEX_SMTP_PASSWORD" in details and "alex-hosted:smtpPassword" in details
    assert f"tenant {TENANT}" in details and mailbox.received == [] and mailbox.auth_attempts == []


def test_email_without_username_sends_without_login(emails, mailbox):
    props = inputs(mailbox, "suspended")
    del props["username"]
    create(emails, props)
    assert [r.login for r in mailbox.received] == [None] and mailbox.auth_attempts == []


def test_email_starttls_required_but_not_offered_sends_nothing(emails, mailbox):
    with pytest.raises(ProviderCallError) as caught:
        create(emails, inputs(mailbox, "welcome", starttls=True))
    assert "does not offer STARTTLS" in caught.value.details
    assert mailbox.received == [] and mailbox.auth_attempts == []  # no login in plain text


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"subject": "Hello\r\nBcc: victim@example.com"}, "subject"),
        ({"subject": "Hello\nX-Injected: 1"}, "subject"),
        ({"to": "alice@example.com\r\nBcc: victim@example.com"}, "to"),
        ({"to": "alice@example.com, victim@example.com"}, "to"),
        ({"reply_to": "a@example.com\nBcc: v@example.com"}, "reply_to"),
        ({"sender": "Alex <hello@books.example.com>\r\nBcc: v@example.com"}, "sender"),
        ({"kind": "newsletter"}, "kind"),
        ({"tenant": "Not A Tenant"}, "tenant"),
        ({"port": 0}, "port"),
        ({"port": "25"}, "port"),
        ({"host": "smtp example"}, "host"),
        ({"starttls": "yes"}, "starttls"),
        ({"body": ""}, "body"),
    ],
)
def test_email_check_refuses_bad_inputs_naming_the_key(emails, mailbox, changes, key):
    failures = emails.check({}, {**inputs(mailbox, "welcome"), **changes}).failures
    assert [k for k, _ in failures] == [key], failures
    assert all(FIRST_PASSWORD not in reason for _, reason in failures)
    assert mailbox.received == []


def test_email_check_accepts_unknowns_in_preview(emails, mailbox):
    props = inputs(mailbox, "welcome", body=UNKNOWN, to=UNKNOWN, subject=UNKNOWN, port=UNKNOWN)
    assert emails.check({}, props).failures == []


@pytest.mark.parametrize("failure", [ValueError, UnicodeEncodeError, TypeError, KeyError])
def test_email_any_other_failure_is_one_line_naming_the_tenant_without_a_secret(monkeypatch, mailbox, failure):
    """A failure no check foresaw (a library's, a bug) is still an EmailError naming the tenant and the kind."""
    monkeypatch.setenv("ALEX_SMTP_PASSWORD", SMTP_PASSWORD)

    def broken(*_args: Any, **_kwargs: Any) -> None:
        text = f"quoting {SMTP_PASSWORD} and Password: {FIRST_PASSWORD}"
        if failure is UnicodeEncodeError:
            raise UnicodeEncodeError("ascii", text, 0, 1, "not ASCII")
        raise failure(text)

    monkeypatch.setattr("providers.smtp.build_message", broken)
    with pytest.raises(EmailError) as caught:
        EmailProvider().create(inputs(mailbox, "welcome"))

    message = str(caught.value)
    assert message.startswith(f"the welcome email for tenant {TENANT} was not sent: {failure.__name__}")
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert leaked(message, [SMTP_PASSWORD, FIRST_PASSWORD]) == [] and mailbox.received == []
