"""providers.smtp on its own (what the Stripe sync reuses): settings, the message, sending, error text."""

from __future__ import annotations

import smtplib
import ssl
from typing import Any

import pytest

from providers import smtp
from providers.smtp import SmtpConfigError, SmtpError, SmtpSettings, build_message, parse_settings
from tests.email.conftest import SENDER, SMTP_PASSWORD, SMTP_USER
from tests.support.servers import leaked

BODY = "Hello,\n\nA notice.\n"


def message(settings: SmtpSettings, **changes: str):
    values: dict[str, Any] = {
        "to": "owner@example.com",
        "subject": "A notice",
        "body": BODY,
        "message_id": "<n.1@books.example.com>",
    }
    return build_message(settings, **{**values, **changes})


# settings


def test_smtp_parse_settings_from_a_mapping_or_json_text():
    value = {"host": "smtp.example.com", "port": 587, "user": "u@example.com", "from": SENDER, "starttls": True}
    settings = parse_settings(value)
    assert settings == SmtpSettings("smtp.example.com", 587, SENDER, "u@example.com", True)
    assert parse_settings('{"host": "smtp.example.com", "from": "a@example.com"}') == SmtpSettings(
        "smtp.example.com", 587, "a@example.com", None, True
    )
    implicit = parse_settings({"host": "smtp.example.com", "port": "465", "from": "a@example.com", "user": ""})
    assert implicit.port == 465 and implicit.starttls is False and implicit.username is None
    assert settings.envelope_sender == "hello@books.example.com"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("not json", "expected a mapping"),
        (["a"], "expected a mapping"),
        ({"from": "a@example.com"}, "host must be"),
        ({"host": "smtp.example.com", "from": "a@example.com", "port": 70000}, "port must be"),
        ({"host": "smtp.example.com", "from": "a@example.com", "port": True}, "port must be"),
        ({"host": "smtp.example.com"}, "sender is required"),
        ({"host": "smtp.example.com", "from": "a@example.com\r\nBcc: v@example.com"}, "one line"),
        ({"host": "smtp.example.com", "from": 'Bad "Name" <a@example.com>'}, "plain name"),
        ({"host": "smtp.example.com", "from": "a@example.com", "starttls": "maybe"}, "starttls must be"),
        ({"host": "smtp.example.com", "from": "a@example.com", "password": "x"}, "unknown key 'password'"),
    ],
)
def test_smtp_parse_settings_names_the_key_and_problem(value, problem):
    with pytest.raises(SmtpConfigError) as caught:
        parse_settings(value)
    assert "alex-hosted:smtp" in str(caught.value) and problem in str(caught.value)


def test_smtp_password_env_wins_over_configure(monkeypatch):
    assert smtp.password() is None
    smtp.remember_config({"alex-hosted:smtpPassword": "from-config"})
    assert smtp.password() == "from-config"
    monkeypatch.setenv("ALEX_SMTP_PASSWORD", "from-env")
    assert smtp.password() == "from-env"
    monkeypatch.setenv("ALEX_SMTP_PASSWORD", "")
    smtp.remember_config({})
    assert smtp.password() is None


# the message


@pytest.mark.parametrize(
    "changes",
    [
        {"subject": "Hi\r\nBcc: victim@example.com"},
        {"subject": "Hi\nBcc: victim@example.com"},
        {"subject": "Hi\rBcc: victim@example.com"},
        {"subject": "Hi\u2028Bcc: victim@example.com"},
        {"subject": ""},
        {"subject": "x" * 201},
        {"to": "owner@example.com\r\nBcc: victim@example.com"},
        {"to": "owner@example.com,victim@example.com"},
        {"to": "Owner <owner@example.com>"},
        {"to": "not an address"},
        {"reply_to": "help@example.com\nBcc: victim@example.com"},
        {"body": "  \n"},
    ],
)
def test_smtp_build_message_refuses_header_injection_and_empty_parts(changes):
    settings = SmtpSettings("127.0.0.1", 25, SENDER)
    with pytest.raises(SmtpConfigError):
        message(settings, **changes)


def test_smtp_build_message_refuses_a_sender_with_a_line_break():
    with pytest.raises(SmtpConfigError, match="sender"):
        message(SmtpSettings("127.0.0.1", 25, "a@example.com\nBcc: v@example.com"))


def test_smtp_build_message_is_text_plain_utf8_with_our_headers():
    built = message(SmtpSettings("127.0.0.1", 25, SENDER), reply_to="help@example.com", body="Grüße\n")
    assert built["From"] == SENDER and built["To"] == "owner@example.com" and built["Reply-To"] == "help@example.com"
    assert built["Message-ID"] == "<n.1@books.example.com>" and built["Auto-Submitted"] == "auto-generated"
    assert built.get_content_type() == "text/plain" and built.get_content_charset() == "utf-8"
    assert built.get_content() == "Grüße\n" and built["Date"]


# sending


def test_smtp_send_delivers_one_message(mailbox):
    settings = mailbox.settings()
    smtp.send(settings, SMTP_PASSWORD, message(settings))
    (got,) = mailbox.received
    assert got.login == SMTP_USER and got.rcpt_tos == ["owner@example.com"] and got.body == BODY


def test_smtp_send_with_a_user_and_no_password_names_both_sources(mailbox):
    settings = mailbox.settings()
    with pytest.raises(SmtpConfigError) as caught:
        smtp.send(settings, None, message(settings))
    assert "ALEX_SMTP_PASSWORD" in str(caught.value) and "alex-hosted:smtpPassword" in str(caught.value)
    assert mailbox.received == []


def test_smtp_send_refuses_a_password_that_cannot_be_sent(mailbox):
    settings = mailbox.settings()
    with pytest.raises(SmtpConfigError) as caught:
        smtp.send(settings, "pässword-ünicode", message(settings))
    assert "pässword" not in str(caught.value) and mailbox.auth_attempts == []


def test_smtp_send_auth_refused_quotes_no_password(mailbox):
    settings = mailbox.settings()
    wrong = SMTP_PASSWORD + "-wrong"
    with pytest.raises(SmtpError) as caught:
        smtp.send(settings, wrong, message(settings))
    text = str(caught.value)
    assert "refused the login of user 'mailer@books.example.com'" in text and "535" in text
    assert leaked(text, [wrong]) == [] and not caught.value.may_have_been_sent


def test_smtp_send_scrubs_a_reply_that_echoes_the_secrets(mailbox):
    settings = mailbox.settings()
    mailbox.reject_with = f"554 echo {SMTP_PASSWORD} and Zx-81secret!Q"
    with pytest.raises(SmtpError) as caught:
        smtp.send(settings, SMTP_PASSWORD, message(settings), secrets=["Zx-81secret!Q"])
    text = str(caught.value)
    assert "554 echo [redacted] and [redacted]" in text
    assert leaked(text, [SMTP_PASSWORD, "Zx-81secret!Q"]) == []


def test_smtp_send_to_a_closed_port_is_a_connect_error(closed_port):
    settings = SmtpSettings("127.0.0.1", closed_port, SENDER, None, False, 2.0)
    with pytest.raises(SmtpError) as caught:
        smtp.send(settings, None, message(settings))
    assert str(caught.value) == f"SMTP server 127.0.0.1:{closed_port}: ConnectionRefusedError at step: connect"
    assert not caught.value.may_have_been_sent


def test_smtp_send_on_465_speaks_tls_first(monkeypatch):
    opened = []

    class FakeSSL:
        def __init__(self, host, port, *, timeout, context):
            opened.append((host, port, timeout, context.verify_mode))
            raise ConnectionResetError

    monkeypatch.setattr(smtplib, "SMTP_SSL", FakeSSL)
    settings = SmtpSettings("smtp.example.com", 465, SENDER, None, False, 2.0)
    with pytest.raises(SmtpError, match=r"smtp.example.com:465: ConnectionResetError at step: connect"):
        smtp.send(settings, None, message(settings))
    assert opened == [("smtp.example.com", 465, 2.0, ssl.CERT_REQUIRED)]  # certificates are checked
