"""The owner emails' wording: what each holds, what none holds, dates, and refusal of values that break lines."""

from __future__ import annotations

from datetime import date

import pytest

from components import email_templates as t
from components.email_templates import TemplateError

HOST = "alice.books.example.com"
OWNER = "alice@example.com"
PASSWORD = "Fp-9xQ2#vL7m!Rt4wZ8k"
PORTAL = "https://billing.stripe.com/p/login/test_abc123"
SUPPORT = "help@books.example.com"


def welcome(**changes: object) -> t.Composed:
    values = {"hostname": HOST, "login_email": OWNER, "password": PASSWORD, "portal_url": PORTAL, **changes}
    return t.welcome(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("day", "text"),
    [
        (date(2026, 12, 31), "31 December 2026"),
        (date(2027, 1, 1), "1 January 2027"),
        (date(2026, 3, 9), "9 March 2026"),
        (date(2028, 2, 29), "29 February 2028"),
    ],
)
def test_templates_long_date(day, text):
    assert t.long_date(day) == text


def test_templates_welcome_holds_address_login_password_change_line_and_portal():
    mail = welcome()
    assert mail.subject == "Your Alex library is ready"
    assert f"https://{HOST}" in mail.body
    assert f"Email:    {OWNER}" in mail.body and f"Password: {PASSWORD}" in mail.body
    assert t.CHANGE_PASSWORD_LINE in mail.body and "change this password" in t.CHANGE_PASSWORD_LINE
    assert PORTAL in mail.body
    assert PASSWORD not in mail.subject


def test_templates_welcome_says_where_books_are_added():
    """Nothing in Alex itself links to the upload page: the email names the link the companion adds, and
    the page's own address."""
    lines = welcome().body.splitlines()
    assert any('"Add books"' in line for line in lines)
    assert f"    https://{HOST}/_hosted/" in lines


def test_templates_welcome_keeps_the_password_on_its_own_unwrapped_line():
    long_password = "A" * 10 + "-" + "b9" * 40
    lines = welcome(password=long_password).body.splitlines()
    assert f"    Password: {long_password}" in lines


def test_templates_prose_is_wrapped_and_links_are_whole():
    for mail in (
        welcome(),
        t.suspended(hostname=HOST, portal_url=PORTAL, support_email=SUPPORT),
        t.cancelled(hostname=HOST, export_until=date(2026, 12, 31), support_email=SUPPORT),
        t.name_taken(username="alice", domain="books.example.com"),
    ):
        assert mail.body.endswith("\n") and "\r" not in mail.body
        for line in mail.body.splitlines():
            assert len(line) <= t.WIDTH or line.startswith("    "), line


def test_templates_suspended_says_paused_fix_payment_data_kept_and_no_password():
    mail = t.suspended(hostname=HOST, portal_url=PORTAL, support_email=SUPPORT)
    assert "paused" in mail.subject
    body = " ".join(mail.body.split())
    assert f"https://{HOST} is paused" in body
    assert "update your payment method" in body and PORTAL in body
    assert "kept safe" in body and "nothing is deleted" in body
    assert SUPPORT in body
    assert "Password" not in body and PASSWORD not in body


def test_templates_suspended_without_support_address_asks_for_a_reply():
    body = " ".join(t.suspended(hostname=HOST, portal_url=PORTAL).body.split())
    assert "reply to this email." in body


def test_templates_cancelled_says_closed_export_until_date_and_how():
    mail = t.cancelled(hostname=HOST, export_until=date(2026, 12, 31), support_email=SUPPORT)
    assert mail.subject == "Your Alex library is closed: export your books until 31 December 2026"
    body = " ".join(mail.body.split())
    assert f"https://{HOST} is now closed" in body
    assert "kept until 31 December 2026" in body and "export of all your books" in body
    assert "reply to this email" in body and SUPPORT in body
    assert "Password" not in body and PORTAL not in body


def test_templates_name_taken_says_taken_cancelled_refunded_and_where_to_sign_up():
    mail = t.name_taken(username="alice", domain="books.example.com")
    body = " ".join(mail.body.split())
    assert '"alice"' in body and "completed their payment first" in body
    assert "cancelled your subscription" in body and "refunded your payment" in body
    assert "https://www.books.example.com/" in body
    assert "Password" not in body


@pytest.mark.parametrize(
    "changes",
    [
        {"hostname": "alice.books.example.com\r\nBcc: x@example.com"},
        {"hostname": "Alice.Books.Example.com"},
        {"hostname": "alice"},
        {"login_email": "alice@example.com\nBcc: x@example.com"},
        {"login_email": "alice@example.com, eve@example.com"},
        {"password": "two\nlines"},
        {"password": "with space"},
        {"password": ""},
        {"portal_url": "http://billing.stripe.com/p/login/x"},
        {"portal_url": "https://billing.stripe.com/p/login/x\r\nX: y"},
        {"portal_url": "javascript:alert(1)"},
    ],
)
def test_templates_refuse_values_that_break_lines_or_are_malformed(changes):
    with pytest.raises(TemplateError) as caught:
        welcome(**changes)
    assert PASSWORD not in str(caught.value)
    if "password" in changes and changes["password"]:
        assert str(changes["password"]) not in str(caught.value)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: t.cancelled(hostname=HOST, export_until="2026-12-31", support_email=SUPPORT), "a date"),  # type: ignore[arg-type]
        (lambda: t.cancelled(hostname=HOST, export_until=date(2026, 1, 1), support_email="help\n@x.com"), "support"),
        (lambda: t.suspended(hostname=HOST, portal_url=PORTAL, support_email="not-an-address"), "support"),
        (lambda: t.name_taken(username="Alice", domain="books.example.com"), "username"),
        (lambda: t.name_taken(username="alice\r\nBcc: x@y.com", domain="books.example.com"), "username"),
        (lambda: t.name_taken(username="alice", domain="books.example.com\nX: y"), "domain"),
    ],
)
def test_templates_refuse_bad_values_naming_the_field(build, message):
    with pytest.raises(TemplateError, match=message):
        build()
