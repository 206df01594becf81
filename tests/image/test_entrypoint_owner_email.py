"""The entrypoint creates the owner with OWNER_EMAIL exactly as the program sends it (tenants.emails).

Alex compares the login email exactly, and the welcome email shows the stored form as the login: the
owner row must hold that same spelling, whatever characters the one email rule allows.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.image import alex_db
from tests.image.conftest import OWNER_PASSWORD, Machine
from tests.support.email_addresses import CANONICAL


@pytest.mark.parametrize("address", CANONICAL)
def test_owner_email_every_stored_form_becomes_the_login_exactly(make_machine: Callable[..., Machine], address: str):
    machine = make_machine(OWNER_EMAIL=address)
    machine.boot_ready()

    users = alex_db.users(machine.db)
    assert list(users) == [address]
    _, pw_hash, role = users[address]
    assert role == "admin" and alex_db.password_ok(pw_hash, OWNER_PASSWORD)
    assert machine.stop() == 0


def test_owner_email_an_owner_stored_in_lowercase_before_is_found_not_doubled(make_machine: Callable[..., Machine]):
    machine = make_machine(OWNER_EMAIL="Ann@example.com")
    conn = alex_db.create(machine.db)
    chosen = alex_db.add_user(conn, "u-owner", "ann@example.com", "chosen-by-owner", role="admin")
    conn.close()

    machine.boot_ready()

    assert alex_db.users(machine.db) == {"ann@example.com": ("u-owner", chosen, "admin")}
    assert machine.stop() == 0


def test_owner_email_the_default_admin_is_refused_in_any_case(make_machine: Callable[..., Machine]):
    machine = make_machine(OWNER_EMAIL="Admin@Localhost")
    machine.boot()
    assert machine.wait_exit() == 1
    assert "must not be admin@localhost" in machine.output()
