"""Which emails a tenant's owner gets, under mocks: one resource per occasion, only for tenants created
since `alex-hosted:emailsSince`, the first password only in the welcome and only as a secret."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from components.email_templates import WELCOME_SUBJECT
from config.stack_config import from_mapping
from tenants.roster import RosterEntry
from tests.program.harness import SETTINGS_VALUES, Recording, config_problems, is_secret, plain_strings, run_program

EMAIL_VALUES = {
    "alex-hosted:emailsSince": "2026-06-01",
    "alex-hosted:smtp": {
        "host": "smtp.example.net",
        "port": 587,
        "user": "mailer",
        "from": "Hosted Alex <hello@example.net>",
    },
    "alex-hosted:billingPortalUrl": "https://billing.stripe.com/p/login/test_123",
    "alex-hosted:supportEmail": "help@example.net",
}
EMAIL_TYPE = "pulumi-python:dynamic/notify:Email"
NEW = date(2026, 7, 1)


def settings() -> Any:
    return from_mapping("test", {**SETTINGS_VALUES, **EMAIL_VALUES})


def tenant(tid: str, state: str = "active", created: date = NEW, **extra: Any) -> RosterEntry:
    return RosterEntry(tid, tid[:-4], f"{tid}@example.org", "free", state, created_at=created, **extra)


ACTIVE = tenant("active0001")
OLD = tenant("oldie00001", created=date(2026, 5, 31))
PAUSED = tenant("paused0001", "suspended")
CLOSED = tenant("closed0001", "cancelled", cancelled_at=date(2026, 11, 1), purge_after=date(2026, 12, 1))
LEAVING = tenant(
    "leaving001",
    "purging",
    cancelled_at=date(2026, 10, 1),
    purge_after=date(2026, 10, 31),
    purge_marked_at=date(2026, 11, 1),
)


@pytest.fixture(scope="module")
def recording() -> Recording:
    return run_program([ACTIVE, OLD, PAUSED, CLOSED, LEAVING], settings())


def emails(recording: Recording) -> dict[str, Any]:
    return {name: r for name, r in recording.registrations.items() if r.type == EMAIL_TYPE}


def test_each_occasion_is_one_email_resource_and_old_tenants_get_none(recording: Recording) -> None:
    assert sorted(emails(recording)) == [
        "active0001-welcome",
        "closed0001-notice-cancelled",
        "closed0001-welcome",
        "paused0001-notice-suspended",
        "paused0001-welcome",
    ]


def test_no_email_settings_no_emails() -> None:
    assert not emails(run_program([ACTIVE]))


def test_the_welcome_waits_for_the_machine_and_keeps_the_password_secret(recording: Recording) -> None:
    welcome = recording.one("active0001-welcome")
    assert recording.one("active0001-machine").urn in welcome.dependencies
    assert welcome.parent == recording.one("active0001").urn
    assert is_secret(welcome.inputs["body"])
    body = welcome.plain("body")
    assert "pw-active0001-owner-password-" in body and "https://active.books.example.com" in body
    assert welcome.plain("subject") == WELCOME_SUBJECT and not is_secret(welcome.inputs["subject"])
    assert (welcome.plain("to"), welcome.plain("kind"), welcome.plain("host")) == (
        "active0001@example.org", "welcome", "smtp.example.net"
    )  # fmt: skip
    password = "pw-active0001-owner-password-" + "x" * 16
    for registration in recording.registrations.values():
        assert password not in plain_strings(registration.inputs), registration.name


def test_notices_carry_no_password_and_the_cancelled_one_the_export_date(recording: Recording) -> None:
    paused = recording.one("paused0001-notice-suspended").plain("body")
    closed = recording.one("closed0001-notice-cancelled").plain("body")
    assert "pw-" not in paused and "pw-" not in closed
    assert "1 December 2026" in closed and "help@example.net" in closed
    assert "https://billing.stripe.com/p/login/test_123" in paused


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"alex-hosted:supportEmail": None}, "alex-hosted:supportEmail: required with"),
        ({"alex-hosted:emailsSince": "2026-13-01"}, "alex-hosted:emailsSince: expected a date YYYY-MM-DD"),
        ({"alex-hosted:emailsSince": "1 June 2026"}, "alex-hosted:emailsSince: expected a date YYYY-MM-DD"),
        (
            {"alex-hosted:billingPortalUrl": "http://billing.example"},
            "alex-hosted:billingPortalUrl: expected an https:// URL",
        ),
        ({"alex-hosted:supportEmail": "help at example"}, "alex-hosted:supportEmail: expected an email address"),
        ({"alex-hosted:smtp": {"host": "smtp.example.net", "pot": 25}}, "alex-hosted:smtp: "),
        ({"alex-hosted:smtp": "not a mapping"}, "alex-hosted:smtp: "),
    ],
)
def test_email_settings_problems_name_the_key(overrides: dict[str, Any], problem: str) -> None:
    found = config_problems({**EMAIL_VALUES, **overrides}, stack="test")
    assert any(p.startswith(problem) for p in found), found


def test_a_reactivated_tenant_loses_its_notice_so_the_next_suspension_sends_anew() -> None:
    before = run_program([PAUSED], settings())
    after = run_program([replace(PAUSED, state="active")], settings())
    assert "paused0001-notice-suspended" in before.registrations
    assert "paused0001-notice-suspended" not in after.registrations
    assert "paused0001-welcome" in after.registrations  # never re-declared under another name
