"""The shared name rules: each bound leaves room for the names built from it."""

from __future__ import annotations

import re

import pytest

from config.stack_config import from_mapping
from tenants.inputs import matches
from tenants.naming import (
    APP_NAME_RE,
    APP_PREFIX_MAX,
    APP_PREFIX_RE,
    DOMAIN_MAX,
    DOMAIN_RE,
    HOSTNAME_MAX,
    HOSTNAME_RE,
    TENANT_ID_MAX,
    TENANT_ID_RE,
    USERNAME_MAX,
    USERNAME_RE,
)
from tenants.roster import username_error
from tests.program.harness import SETTINGS_VALUES


def dns_name(length: int) -> str:
    """A lowercase DNS name of exactly `length` characters: labels of at most 60, then `.com`."""
    labels, rest = [], length - len(".com")
    while rest > 0:
        size = min(60, rest)
        labels.append("d" * size)
        rest -= size + 1
    return ".".join(labels) + ".com"


def test_naming_domain_bound_is_the_hostname_limit_less_the_longest_username() -> None:
    assert DOMAIN_MAX == HOSTNAME_MAX - USERNAME_MAX - 1 == 220


@pytest.mark.parametrize("length", [220, 221, 253, 254])
def test_naming_dns_name_helper_builds_exact_lengths(length: int) -> None:
    assert len(dns_name(length)) == length


def test_naming_longest_username_on_longest_domain_is_a_valid_hostname() -> None:
    username, domain = "u" * USERNAME_MAX, dns_name(DOMAIN_MAX)
    assert matches(USERNAME_RE, username) and username_error(username) is None
    assert matches(DOMAIN_RE, domain)
    assert matches(HOSTNAME_RE, f"{username}.{domain}")


def test_naming_a_domain_with_no_room_for_a_long_username_is_refused() -> None:
    # 221 characters: fine as a hostname on its own, but <32-character username>.<domain> is 254.
    domain = dns_name(DOMAIN_MAX + 1)
    assert matches(HOSTNAME_RE, domain)
    assert not matches(DOMAIN_RE, domain)
    assert not matches(HOSTNAME_RE, f"{'u' * USERNAME_MAX}.{domain}")


def test_naming_hostname_bound_is_dns_253() -> None:
    assert matches(HOSTNAME_RE, dns_name(253))
    assert not matches(HOSTNAME_RE, dns_name(254))


def test_naming_longest_prefix_and_tenant_id_make_a_valid_fly_app_name() -> None:
    prefix, tenant_id = "a" * APP_PREFIX_MAX, "0" * TENANT_ID_MAX
    assert matches(APP_PREFIX_RE, prefix) and matches(TENANT_ID_RE, tenant_id)
    assert matches(APP_NAME_RE, f"{prefix}-{tenant_id}")
    assert not matches(APP_PREFIX_RE, prefix + "a")


def test_naming_stack_config_builds_names_that_pass_the_shared_rules() -> None:
    values = {
        **SETTINGS_VALUES,
        "alex-hosted:domain": dns_name(DOMAIN_MAX),
        "alex-hosted:appPrefix": "a" * APP_PREFIX_MAX,
    }
    settings = from_mapping("prod", values)
    assert matches(HOSTNAME_RE, settings.hostname("u" * USERNAME_MAX))
    assert matches(APP_NAME_RE, settings.app_name("0" * TENANT_ID_MAX))


@pytest.mark.parametrize(
    ("pattern", "value"),
    [
        (USERNAME_RE, "ab"),
        (USERNAME_RE, "u" * 33),
        (USERNAME_RE, "-abc"),
        (TENANT_ID_RE, "abcde"),
        (DOMAIN_RE, "localhost"),
    ],
)
def test_naming_rules_refuse_out_of_bounds_names(pattern: re.Pattern[str], value: str) -> None:
    assert not matches(pattern, value)
