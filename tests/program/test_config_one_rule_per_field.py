"""One rule per field: a stack config value is checked by the very rule its consumer applies later.

Each of these fields had two rules, the stack config's and its consumer's, and a value only the config
took failed later, on every `up` or every run: `flyApiUrl` (the Fly client), `billingPortalUrl` (the
email templates), `githubRepository` (the signup site and the alerts script), `emailsSince` (compared
with the roster's dates), `supportEmail` and the SMTP sender (the mailer, tenants.emails).
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any, cast

import pytest

from components import email_templates
from config.stack_config import ConfigError, StackConfig, from_mapping
from ops.github_issues import repository_problem
from providers.fly import settings as fly_settings
from providers.fly.errors import FlyConfigError
from signup.settings import SettingsError, from_env
from tests.program.harness import SETTINGS_VALUES
from tests.program.test_owner_emails import EMAIL_VALUES
from tests.signup.conftest import site_env
from tests.support.email_addresses import ACCEPTED, REFUSED

URLS = [
    "https://billing.example.com/p/login/abc",
    "https://127.0.0.1:4000",
    "https://[::1]:8443/x",
    "https://h.example.com:99999/x",
    "https://h.example.com:0/x",
    "https://h.example.com:80a/x",
    "https://exämple.com/x",
    "https://example.com/é",
    "https://:5/x",
    "https://@/x",
    "https://",
    "https://example.com/a b",
    "https://example.com/\x7f",
    "ftp://example.com/x",
]
REPOSITORIES = [
    "octo/alerts", "octo-cat/a.b_c-d", "o/" + "a" * 100, "o" * 39 + "/x",
    "octo-/alerts", "-octo/alerts", "oc--to/alerts", "o" * 40 + "/x", "octo/..", "octo/.", "octo/" + "a" * 101,
    "oc_to/alerts", "octo/al erts", "octo/alérts", "octo", "octo/a/b",
]  # fmt: skip


def config(changes: dict[str, Any]) -> StackConfig | None:
    try:
        return from_mapping("prod", {**SETTINGS_VALUES, **changes})
    except ConfigError:
        return None


def emails_config(changes: dict[str, Any]) -> StackConfig | None:
    return config({**EMAIL_VALUES, **changes})


@pytest.mark.parametrize("url", URLS + [u.replace("https", "http", 1) for u in URLS[:4]])
def test_one_rule_fly_api_url_the_config_takes_what_the_fly_client_takes(url: str, monkeypatch) -> None:
    monkeypatch.delenv(fly_settings.URL_ENV, raising=False)
    fly_settings.remember_config({fly_settings.URL_CONFIG: url})  # as configure() hands it to a provider
    try:
        fly_settings.api_url()
        client_takes = True
    except FlyConfigError:
        client_takes = False
    finally:
        fly_settings.forget_config()
    assert (config({"alex-hosted:flyApiUrl": url}) is not None) == client_takes


@pytest.mark.parametrize("url", URLS)
def test_one_rule_billing_portal_url_the_config_takes_what_the_welcome_email_takes(url: str) -> None:
    try:
        email_templates.welcome(
            hostname="a.books.example.com", login_email="a@example.com", password="Pw-1234567", portal_url=url
        )
        template_takes = True
    except email_templates.TemplateError:
        template_takes = False
    assert (emails_config({"alex-hosted:billingPortalUrl": url}) is not None) == template_takes


@pytest.mark.parametrize("repository", REPOSITORIES)
def test_one_rule_github_repository_the_config_the_signup_site_and_the_alerts_agree(repository: str) -> None:
    env = site_env(Path("names.json"), "http://127.0.0.1:1", "http://127.0.0.1:2", "http://127.0.0.1:3")
    try:
        from_env({**env, "GITHUB_REPOSITORY": repository})
        signup_takes = True
    except SettingsError:
        signup_takes = False
    config_takes = config({"alex-hosted:githubRepository": repository}) is not None
    assert config_takes == signup_takes == (repository_problem(repository) is None)


@pytest.mark.parametrize(
    "since", [datetime(2026, 6, 1, 10, 0), "2026-06-01T10:00:00Z", "20260601", "2026-W22-1", "2026-02-30", 20260601]
)
def test_one_rule_emails_since_is_a_date_as_the_roster_reads_one(since: object) -> None:
    # A timestamp used to pass, and comparing it with a roster's created_at raised on every `up`.
    assert emails_config({"alex-hosted:emailsSince": since}) is None


def test_one_rule_emails_since_takes_a_yaml_date() -> None:
    found = emails_config({"alex-hosted:emailsSince": date(2026, 6, 1)})
    assert found is not None and found.emails is not None and found.emails.since == date(2026, 6, 1)


@pytest.mark.parametrize("address", REFUSED.values(), ids=REFUSED.keys())
def test_one_rule_support_email_and_smtp_sender_refuse_every_refused_address(address: str) -> None:
    assert emails_config({"alex-hosted:supportEmail": address}) is None
    sender = {**cast(dict[str, Any], EMAIL_VALUES["alex-hosted:smtp"]), "from": f"Hosted Alex <{address}>"}
    assert emails_config({"alex-hosted:smtp": sender}) is None


@pytest.mark.parametrize(("given", "stored"), ACCEPTED.items(), ids=ACCEPTED.keys())
def test_one_rule_support_email_is_kept_in_its_stored_form(given: str, stored: str) -> None:
    found = emails_config({"alex-hosted:supportEmail": given})
    assert found is not None and found.emails is not None and found.emails.support_email == stored


@pytest.mark.parametrize("username", ["www", "admin", "xn--80ak6aa92e", "ab", "Alice"])
def test_one_rule_the_name_taken_email_uses_the_roster_s_username_rule(username: str) -> None:
    with pytest.raises(email_templates.TemplateError, match="the username: "):
        email_templates.name_taken(username=username, domain="books.example.com")
