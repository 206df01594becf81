"""The signup app's settings, all from the environment (each is described in signup/README.md)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from billing.price_plans import BILLING_PERIODS
from tenants.inputs import matches, quote_value
from tenants.naming import DOMAIN_RE, GITHUB_REPOSITORY_RE
from tenants.plans import DEFAULT_PLANS, PLAN_NAME_RE

DEFAULT_API_BASE = "https://api.stripe.com"
DEFAULT_GITHUB_API = "https://api.github.com"
DEFAULT_WORKFLOW = "stripe-sync.yml"
DEFAULT_DEBOUNCE_S = 20.0
DEFAULT_PROBE = "https://{username}.{domain}/login"
_WORKFLOW = re.compile(r"[A-Za-z0-9._-]{1,100}\.ya?ml")


class SettingsError(ValueError):
    """A setting that is missing or malformed; the message names the variable (never a secret's value)."""


@dataclass(frozen=True)
class OfferedPlan:
    """A plan the site sells, and the lookup key of the Stripe price it is sold through."""

    name: str
    lookup_key: str


@dataclass(frozen=True)
class Settings:
    domain: str
    names_file: Path
    stripe_api_key: str
    webhook_secret: str
    plans: tuple[OfferedPlan, ...]
    stripe_api_base: str = DEFAULT_API_BASE
    github_api_url: str = DEFAULT_GITHUB_API
    github_repository: str = ""
    github_token: str = ""
    sync_workflow: str = DEFAULT_WORKFLOW
    sync_debounce_s: float = DEFAULT_DEBOUNCE_S
    tenant_probe: str = DEFAULT_PROBE
    public_url: str = ""  # where the site itself is; default https://www.<domain>

    @property
    def site_url(self) -> str:
        return (self.public_url or f"https://www.{self.domain}").rstrip("/")

    def plan(self, name: str) -> OfferedPlan | None:
        return next((p for p in self.plans if p.name == name), None)

    @property
    def dispatch_configured(self) -> bool:
        return bool(self.github_repository and self.github_token)


def default_plans() -> tuple[OfferedPlan, ...]:
    """Every plan of the default table, sold monthly: `<plan>_monthly` (billing.price_plans' convention)."""
    return tuple(OfferedPlan(name, f"{name}_{BILLING_PERIODS[0]}") for name in DEFAULT_PLANS)


def parse_plans(text: str) -> tuple[OfferedPlan, ...]:
    """`SIGNUP_PLANS`: a JSON list of plan names ("reader": sold as reader_monthly) or
    `{"plan": "reader", "lookup_key": "reader_yearly"}` objects. The key must be one the Stripe sync maps
    back to the same plan (`<plan>_monthly` or `<plan>_yearly`), or a sale would provision nothing."""
    try:
        raw: Any = json.loads(text)
    except ValueError:
        raise SettingsError("SIGNUP_PLANS: not JSON (expected a list of plan names)") from None
    if not isinstance(raw, list) or not raw:
        raise SettingsError("SIGNUP_PLANS: expected a non-empty JSON list")
    plans: list[OfferedPlan] = []
    for item in raw:
        if isinstance(item, str):
            name, key = item, f"{item}_{BILLING_PERIODS[0]}"
        elif isinstance(item, dict) and set(item) <= {"plan", "lookup_key"} and "plan" in item:
            name, key = item["plan"], item.get("lookup_key", f"{item['plan']}_{BILLING_PERIODS[0]}")
        else:
            raise SettingsError(f"SIGNUP_PLANS: {quote_value(item)} is neither a plan name nor {{plan, lookup_key}}")
        if not isinstance(name, str) or not matches(PLAN_NAME_RE, name):
            raise SettingsError(f"SIGNUP_PLANS: {quote_value(name)} is not a plan name")
        if not isinstance(key, str) or key not in {f"{name}_{period}" for period in BILLING_PERIODS}:
            allowed = " or ".join(f"{name}_{period}" for period in BILLING_PERIODS)
            raise SettingsError(f"SIGNUP_PLANS: plan {name}: lookup key {quote_value(key)} must be {allowed}")
        if any(p.name == name for p in plans):
            raise SettingsError(f"SIGNUP_PLANS: plan {name} is listed twice")
        plans.append(OfferedPlan(name, key))
    return tuple(plans)


def _required(env: Mapping[str, str], name: str, what: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise SettingsError(f"{name} is required: {what}")
    return value


def _url(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, "").strip() or default
    if not re.fullmatch(r"https?://[^\s/]+(/[^\s]*)?", value):
        raise SettingsError(f"{name}: expected an http(s) URL, got {quote_value(value)}")
    return value.rstrip("/")


def from_env(env: Mapping[str, str]) -> Settings:
    domain = _required(env, "SIGNUP_DOMAIN", "the tenants' domain, e.g. books.example.com")
    if not matches(DOMAIN_RE, domain):
        raise SettingsError(f"SIGNUP_DOMAIN: {quote_value(domain)} is not a domain name")
    debounce_text = env.get("SYNC_DEBOUNCE_S", "").strip() or str(DEFAULT_DEBOUNCE_S)
    try:
        debounce = float(debounce_text)
    except ValueError:
        debounce = -1.0
    if not 0 < debounce <= 3600:
        raise SettingsError(f"SYNC_DEBOUNCE_S: expected seconds between 0 and 3600, got {quote_value(debounce_text)}")
    repository = env.get("GITHUB_REPOSITORY", "").strip()
    if repository and not matches(GITHUB_REPOSITORY_RE, repository):
        raise SettingsError(f"GITHUB_REPOSITORY: expected owner/name, got {quote_value(repository)}")
    workflow = env.get("SYNC_WORKFLOW", "").strip() or DEFAULT_WORKFLOW
    if not _WORKFLOW.fullmatch(workflow):
        raise SettingsError(f"SYNC_WORKFLOW: expected a workflow file name, got {quote_value(workflow)}")
    probe = env.get("SIGNUP_TENANT_PROBE", "").strip() or DEFAULT_PROBE
    if "{username}" not in probe or not re.fullmatch(r"https?://\S+", probe):
        raise SettingsError("SIGNUP_TENANT_PROBE: expected an http(s) URL template containing {username}")
    plans_text = env.get("SIGNUP_PLANS", "").strip()
    return Settings(
        domain=domain,
        names_file=Path(_required(env, "SIGNUP_NAMES_FILE", "the JSON file of usernames every roster holds")),
        stripe_api_key=_required(env, "STRIPE_API_KEY", "a restricted key: Checkout Sessions write, Prices read"),
        webhook_secret=_required(env, "STRIPE_WEBHOOK_SECRET", "the webhook endpoint's signing secret, whsec_..."),
        plans=parse_plans(plans_text) if plans_text else default_plans(),
        stripe_api_base=_url(env, "STRIPE_API_BASE", DEFAULT_API_BASE),
        github_api_url=_url(env, "GITHUB_API_URL", DEFAULT_GITHUB_API),
        github_repository=repository,
        github_token=env.get("GITHUB_DISPATCH_TOKEN", "").strip(),
        sync_workflow=workflow,
        sync_debounce_s=debounce,
        tenant_probe=probe,
        public_url=_url(env, "SIGNUP_PUBLIC_URL", f"https://www.{domain}"),
    )
