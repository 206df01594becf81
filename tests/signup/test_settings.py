"""Settings from the environment: defaults, the plans offered, and refusals that name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from signup.checkout import format_price
from signup.settings import OfferedPlan, SettingsError, from_env

BASE = {
    "SIGNUP_DOMAIN": "books.example.com", "SIGNUP_NAMES_FILE": "/etc/names.json",
    "STRIPE_API_KEY": "rk_test_x", "STRIPE_WEBHOOK_SECRET": "whsec_x",
}  # fmt: skip


def test_defaults():
    settings = from_env(BASE)
    assert settings.names_file == Path("/etc/names.json")
    assert settings.plans == (
        OfferedPlan("free", "free_monthly"), OfferedPlan("reader", "reader_monthly"),
        OfferedPlan("library", "library_monthly"),
    )  # fmt: skip
    assert (settings.stripe_api_base, settings.github_api_url) == ("https://api.stripe.com", "https://api.github.com")
    assert (settings.sync_workflow, settings.sync_debounce_s) == ("stripe-sync.yml", 20.0)
    assert settings.tenant_probe == "https://{username}.{domain}/login"
    assert settings.site_url == "https://www.books.example.com" and not settings.dispatch_configured


def test_plans_offered_by_name_or_with_a_yearly_key():
    settings = from_env({**BASE, "SIGNUP_PLANS": '["reader", {"plan": "library", "lookup_key": "library_yearly"}]'})
    assert settings.plans == (OfferedPlan("reader", "reader_monthly"), OfferedPlan("library", "library_yearly"))


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"SIGNUP_DOMAIN": ""}, "SIGNUP_DOMAIN is required"),
        ({"SIGNUP_DOMAIN": "Not A Domain"}, "SIGNUP_DOMAIN"),
        ({"STRIPE_API_KEY": ""}, "STRIPE_API_KEY is required"),
        ({"SIGNUP_PLANS": '[{"plan": "reader", "lookup_key": "gold"}]'}, "must be reader_monthly or reader_yearly"),
        ({"SIGNUP_PLANS": '["reader", "reader"]'}, "listed twice"),
        ({"SIGNUP_PLANS": "reader"}, "not JSON"),
        ({"SYNC_DEBOUNCE_S": "soon"}, "SYNC_DEBOUNCE_S"),
        ({"GITHUB_REPOSITORY": "no-slash"}, "GITHUB_REPOSITORY"),
        ({"SIGNUP_TENANT_PROBE": "https://example.com/"}, "{username}"),
        ({"STRIPE_API_BASE": "ftp://x"}, "STRIPE_API_BASE"),
    ],
)
def test_bad_settings_name_the_variable_and_never_a_secret(change, named):
    with pytest.raises(SettingsError, match=named) as caught:
        from_env({**BASE, **change})
    assert "rk_test_x" not in str(caught.value) and "whsec_x" not in str(caught.value)


def test_prices_are_formatted_for_people():
    assert format_price(400, "eur", "month") == "€4.00 / month"
    assert format_price(0, "eur", "month") == "Free"
    assert format_price(5000, "usd", "year") == "$50.00 / year"
    assert format_price(1200, "chf", "month") == "12.00 CHF / month"
    assert format_price(500, "jpy", "month") == "500 JPY / month"
