"""The entrypoint creates the owner with OWNER_EMAIL exactly as the program sends it (tenants.emails).

Alex compares the login email exactly, and the welcome email shows the stored form as the login: the
owner row must hold that same spelling, whatever characters the one email rule allows.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from components.email_templates import welcome
from tenants.emails import canonical_email
from tests.image import alex_db
from tests.image.conftest import OWNER_PASSWORD, Machine
from tests.support.email_addresses import ACCEPTED


def welcome_login(roster_email: str) -> str:
    """The login exactly as the welcome email shows it (the text an owner copies or types)."""
    body = welcome(
        hostname="ann.books.example.com", login_email=roster_email, password=OWNER_PASSWORD,
        portal_url="https://billing.example.com/p/login/x",
    ).body  # fmt: skip
    found = re.search(r"^    Email: +(\S+)$", body, re.MULTILINE)
    assert found, body
    return found.group(1)


@pytest.mark.parametrize(("typed", "stored"), list(ACCEPTED.items()))
def test_owner_signs_in_with_exactly_the_login_the_welcome_email_shows(
    make_machine: Callable[..., Machine], typed: str, stored: str
):
    # Stripe's (or the sign-up form's) text -> the roster's form -> the machine's OWNER_EMAIL and the welcome.
    roster = canonical_email(typed)
    assert roster == stored
    machine = make_machine(OWNER_EMAIL=roster)
    machine.boot_ready()

    login = welcome_login(roster)
    owner = alex_db.sign_in(machine.db, login, OWNER_PASSWORD)
    assert owner is not None, f"{login!r} does not sign in; the users table holds {list(alex_db.users(machine.db))}"
    users = alex_db.users(machine.db)
    assert list(users) == [stored]
    assert users[stored][0] == owner and users[stored][2] == "admin"
    assert machine.stop() == 0


@pytest.mark.parametrize("earlier", ["ann@example.com", "ANN@example.com"])
def test_owner_email_an_owner_stored_in_another_case_before_takes_the_welcome_spelling(
    make_machine: Callable[..., Machine], earlier: str
):
    """An older release lowercased the owner's row: the same row (id, chosen password) becomes the login
    the welcome email shows, not a second owner."""
    machine = make_machine(OWNER_EMAIL="Ann@example.com")
    conn = alex_db.create(machine.db)
    chosen = alex_db.add_user(conn, "u-owner", earlier, "chosen-by-owner", role="admin")
    conn.close()

    machine.boot_ready()

    assert alex_db.users(machine.db) == {"Ann@example.com": ("u-owner", chosen, "admin")}
    assert alex_db.sign_in(machine.db, welcome_login("Ann@example.com"), "chosen-by-owner") == "u-owner"
    assert machine.stop() == 0


def test_owner_email_two_rows_differing_only_in_case_are_left_alone(make_machine: Callable[..., Machine]):
    """Alex's unique index is case-sensitive, so two users may differ only in case: renaming either is a guess."""
    machine = make_machine(OWNER_EMAIL="Ann@example.com")
    conn = alex_db.create(machine.db)
    alex_db.add_user(conn, "u-1", "ann@example.com", "pw-one", role="admin")
    alex_db.add_user(conn, "u-2", "ANN@example.com", "pw-two")
    conn.close()

    machine.boot_ready()

    assert sorted(alex_db.users(machine.db)) == ["ANN@example.com", "ann@example.com"]
    assert machine.stop() == 0


def test_owner_email_the_default_admin_is_refused_in_any_case(make_machine: Callable[..., Machine]):
    machine = make_machine(OWNER_EMAIL="Admin@Localhost")
    machine.boot()
    assert machine.wait_exit() == 1
    assert "must not be admin@localhost" in machine.output()
