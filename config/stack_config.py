"""Stack settings: the `alex-hosted:*` config keys, checked all at once, naming the key at fault.

The same checks serve the Pulumi program (values from `pulumi.Config`) and the offline scripts (values
read from `stacks/Pulumi.<stack>.yaml`), so an operator sees the same message either way. Secrets are
not read here: the Fly token and the Cloudflare token are read where they are used. Values are checked
whole (tenants.inputs.matches: no trailing newline, no control or invisible characters) and quoted
bounded; the stack file is read with the same strict YAML loader as the roster (no aliases).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from config.config_keys import FLY_DEFAULT_API_URL, ConfigKey
from config.config_keys import NAMESPACE as NAMESPACE  # re-exported: components.program reads it here
from config.inputs import url_problem
from config.smtp_settings import SmtpConfigError, SmtpSettings, parse_settings
from tenants.emails import EmailAddressError, canonical_email
from tenants.inputs import InputError, clean_text, load_yaml, matches, parse_date, quote_value, read_text
from tenants.naming import (
    APP_PREFIX_MAX,
    APP_PREFIX_MIN,
    APP_PREFIX_RE,
    CLOUDFLARE_ID_RE,
    DOMAIN_MAX,
    DOMAIN_RE,
    FLY_ORG_RE,
    GITHUB_REPOSITORY_RE,
    REGION_RE,
)
from tenants.plans import Plan, PlanError, parse_plans
from tenants.roster import REPO_ROOT

# Whole-string patterns, used only through tenants.inputs.matches (fullmatch on clean text).
# The characters of an OCI image reference (registry[:port]/path[:tag][@sha256:digest]).
_IMAGE_RE = re.compile(r"[a-z0-9][a-z0-9._:/@-]{0,254}", re.IGNORECASE)


class ConfigError(ValueError):
    """Stack config that cannot be used; lists every key at fault with what it expects."""

    def __init__(self, stack: str, problems: list[str]):
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"stack {stack!r} configuration is not usable:\n{lines}")


@dataclass(frozen=True)
class EmailSettings:
    """Where owner emails go out, and what they link to; None in StackConfig means no emails at all."""

    smtp: SmtpSettings
    since: date
    portal_url: str
    support_email: str


@dataclass(frozen=True)
class StackConfig:
    stack: str
    domain: str
    roster: Path
    image: str
    fly_org: str
    fly_region: str
    app_prefix: str
    fly_api_url: str
    cloudflare_account_id: str
    cloudflare_zone_id: str
    plans: dict[str, Plan] = field(default_factory=dict)
    # The edge (components/edge.py): the router image and the regions of its always-on machines.
    edge_image: str = ""
    edge_regions: tuple[str, ...] = ()
    # The signup site (components/signup.py); no image, no site.
    signup_image: str = ""
    github_repository: str = ""
    # Owner emails (providers/email.py): sent only to tenants created on or after `emails_since`.
    emails: EmailSettings | None = None
    # Shards (config/shards.py): every tenant stack of the domain, the first hosting the edge.
    domain_shards: tuple[str, ...] = ()
    capacity: int = 400
    # R2's S3 endpoint when it is not the account's own (tests/e2e and `make demo` point it at moto).
    r2_endpoint_override: str = ""
    # Free sign-ups (billing/free_limits.py): live free libraries per email, free libraries made per UTC day.
    free_per_email: int = 1
    free_per_day: int = 25

    def app_name(self, tenant_id: str) -> str:
        return f"{self.app_prefix}-{tenant_id}"

    @property
    def edge_app_name(self) -> str:
        # Tenant ids are 6-20 characters, so "edge" can never be one: no tenant app takes this name.
        return f"{self.app_prefix}-edge"

    def hostname(self, username: str) -> str:
        return f"{username}.{self.domain}"

    @property
    def r2_endpoint(self) -> str:
        """The S3 endpoint of the tenants' buckets: the machines, the bucket emptier and the scripts use it."""
        return self.r2_endpoint_override or f"https://{self.cloudflare_account_id}.r2.cloudflarestorage.com"


def _pinned_image_error(image: str) -> str | None:
    if not matches(_IMAGE_RE, image):
        return "expected an image reference (letters, digits and . _ : / @ -), e.g. ghcr.io/org/alex-hosted:0.6.0-1"
    if "@sha256:" in image:
        return None
    name, _, tag = image.rpartition(":")
    if not name or "/" in tag or not tag:
        return "expected an image pinned to a tag or digest, e.g. ghcr.io/org/alex-hosted:0.6.0-1"
    if tag == "latest":
        return "'latest' is not a pin; use a release tag or a digest"
    return None


def _matches(pattern: re.Pattern[str], expected: str) -> Callable[[str], str | None]:
    return lambda value: None if matches(pattern, value) else expected


# key -> (what the key means, a check returning what was expected or None)
_RULES: dict[ConfigKey, tuple[str, Callable[[str], str | None]]] = {
    ConfigKey.DOMAIN: (
        "the DNS name tenants live under, e.g. books.example.com",
        # The bound (tenants.naming.DOMAIN_MAX) leaves room for the longest username in front of it.
        _matches(
            DOMAIN_RE, f"expected a lowercase DNS name such as books.example.com, at most {DOMAIN_MAX} characters"
        ),
    ),
    ConfigKey.IMAGE: ("the tenant image, pinned", _pinned_image_error),
    ConfigKey.EDGE_IMAGE: ("the edge router image (image/router), pinned", _pinned_image_error),
    ConfigKey.FLY_ORG: (
        "the Fly organization slug",
        _matches(FLY_ORG_RE, "expected a Fly organization slug (a-z, 0-9, '-')"),
    ),
    ConfigKey.FLY_REGION: (
        "the default Fly region, e.g. ams",
        _matches(REGION_RE, "expected a three-letter Fly region code"),
    ),
    ConfigKey.APP_PREFIX: (
        "the prefix of every tenant's Fly app name",
        # <prefix>-<tenant id> stays within Fly's 63-character app names (tenants.naming).
        _matches(
            APP_PREFIX_RE,
            f"expected {APP_PREFIX_MIN}-{APP_PREFIX_MAX} characters of a-z, 0-9, '-', starting with a letter",
        ),
    ),
    ConfigKey.CLOUDFLARE_ACCOUNT_ID: (
        "the Cloudflare account id (32 hex characters)",
        _matches(CLOUDFLARE_ID_RE, "expected 32 lowercase hex characters"),
    ),
    ConfigKey.CLOUDFLARE_ZONE_ID: (
        "the Cloudflare zone id of the domain (32 hex characters)",
        _matches(CLOUDFLARE_ID_RE, "expected 32 lowercase hex characters"),
    ),
}


def from_mapping(stack: str, values: Mapping[str, Any]) -> StackConfig:
    """Builds the settings from `alex-hosted:<key>` values; raises ConfigError naming every bad key."""
    problems: list[str] = []
    checked: dict[ConfigKey, str] = {}
    for key, (meaning, check) in _RULES.items():
        full = key.qualified
        value = values.get(full)
        if value is None or value == "":
            problems.append(f"{full}: required ({meaning})")
            continue
        if not isinstance(value, str):
            problems.append(f"{full}: expected text, got {_shown(value)}")
            continue
        error = check(value)
        if error:
            problems.append(f"{full}: {error}, got {quote_value(value)}")
        else:
            checked[key] = value
    api_url = values.get(ConfigKey.FLY_API_URL.qualified) or FLY_DEFAULT_API_URL
    if problem := url_problem(api_url):  # the rule the Fly client applies (providers.fly.settings)
        problems.append(
            f"{ConfigKey.FLY_API_URL.qualified}: expected an http(s) URL, got {_shown(api_url)} ({problem})"
        )
    r2_endpoint = values.get(ConfigKey.R2_ENDPOINT.qualified) or ""
    r2_problem = url_problem(r2_endpoint) if isinstance(r2_endpoint, str) else "not text"
    if r2_endpoint and r2_problem:  # boto3 gets it (ops/r2.py)
        what = "an http(s) URL of R2's S3 API, or nothing for the account's own"
        problems.append(f"{ConfigKey.R2_ENDPOINT.qualified}: expected {what}, got {_shown(r2_endpoint)} ({r2_problem})")
    roster_value = values.get(ConfigKey.ROSTER.qualified) or f"tenants/{stack}.yaml"
    if not clean_text(roster_value):
        what = "a path without control, invisible or space characters"
        problems.append(f"{ConfigKey.ROSTER.qualified}: expected {what}, got {_shown(roster_value)}")
        roster_value = f"tenants/{stack}.yaml"
    edge_regions = _edge_regions(values.get(ConfigKey.EDGE_REGIONS.qualified), problems)
    signup_image, github_repository = _signup(values, problems)
    emails = _emails(values, problems)
    shards = _domain_shards(stack, values.get(ConfigKey.DOMAIN_SHARDS.qualified), problems)
    capacity = _capacity(values.get(ConfigKey.CAPACITY.qualified), problems)
    per_email, per_day = "free libraries one email may hold", "free libraries made in one day"
    free_per_email = _count(ConfigKey.FREE_PER_EMAIL, values, DEFAULT_FREE_PER_EMAIL, per_email, problems)
    free_per_day = _count(ConfigKey.FREE_PER_DAY, values, DEFAULT_FREE_PER_DAY, per_day, problems)
    plans: dict[str, Plan] = {}
    try:
        plans = parse_plans(_maybe_yaml(values.get(ConfigKey.PLANS.qualified)))
    except InputError as exc:
        problems.append(f"{ConfigKey.PLANS.qualified}: {exc}")
    except PlanError as exc:
        problems.extend(str(exc).splitlines())
    if problems:
        raise ConfigError(stack, problems)
    roster = Path(roster_value)
    return StackConfig(
        stack=stack,
        domain=checked[ConfigKey.DOMAIN],
        roster=roster if roster.is_absolute() else REPO_ROOT / roster,
        image=checked[ConfigKey.IMAGE],
        fly_org=checked[ConfigKey.FLY_ORG],
        fly_region=checked[ConfigKey.FLY_REGION],
        app_prefix=checked[ConfigKey.APP_PREFIX],
        fly_api_url=str(api_url).rstrip("/"),
        cloudflare_account_id=checked[ConfigKey.CLOUDFLARE_ACCOUNT_ID],
        cloudflare_zone_id=checked[ConfigKey.CLOUDFLARE_ZONE_ID],
        plans=plans,
        edge_image=checked[ConfigKey.EDGE_IMAGE],
        edge_regions=edge_regions,
        signup_image=signup_image,
        github_repository=github_repository,
        emails=emails,
        domain_shards=shards,
        capacity=capacity,
        r2_endpoint_override=str(r2_endpoint).rstrip("/"),
        free_per_email=free_per_email,
        free_per_day=free_per_day,
    )


DEFAULT_CAPACITY = 400
# A Cloudflare account holds 500 tokens; each tenant has one and the operator keeps a few of their own.
CAPACITY_MAX = 490
_STACK_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def _domain_shards(stack: str, value: Any, problems: list[str]) -> tuple[str, ...]:
    """Every tenant stack of the domain, in placement order (the first hosts the edge); this stack alone
    when absent. This stack must be among them: two stacks each hosting an edge would fight over it."""
    key = ConfigKey.DOMAIN_SHARDS.qualified
    if value is None or value == "":
        return (stack,)
    try:
        shards = _maybe_yaml(value)
    except InputError as exc:
        problems.append(f"{key}: {exc}")
        return (stack,)
    if not isinstance(shards, list) or not shards or not all(isinstance(s, str) for s in shards):
        problems.append(f"{key}: expected a list of stack names (the first hosts the edge), got {_shown(shards)}")
        return (stack,)
    bad = [s for s in shards if not matches(_STACK_RE, s)]
    twice = sorted({s for s in shards if shards.count(s) > 1})
    if bad:
        problems.append(f"{key}: {quote_value(bad[0])} is not a stack name")
    elif twice:
        problems.append(f"{key}: {quote_value(twice[0])} is listed more than once")
    elif stack not in shards:
        problems.append(f"{key}: must list this stack ({stack}) among the domain's shards")
    return tuple(shards)


def _whole(value: Any, low: int, high: int) -> int | None:
    """A whole number from low to high, given as one or as its digits; None for anything else."""
    number = value
    if isinstance(value, str) and matches(re.compile(r"[0-9]{1,5}"), value):
        number = int(value)
    if isinstance(number, bool) or not isinstance(number, int) or not low <= number <= high:
        return None
    return number


def _capacity(value: Any, problems: list[str]) -> int:
    key = ConfigKey.CAPACITY.qualified
    if value is None or value == "":
        return DEFAULT_CAPACITY
    number = _whole(value, 1, CAPACITY_MAX)
    if number is None:
        problems.append(
            f"{key}: expected a whole number of tenants from 1 to {CAPACITY_MAX} (a Cloudflare account holds "
            f"500 tokens, one per tenant, and the operator keeps some), got {_shown(value)}"
        )
        return DEFAULT_CAPACITY
    return number


DEFAULT_FREE_PER_EMAIL = 1
# A shard holds 400 tenants: at 25 a day, a burst of free sign-ups takes weeks, not minutes, to fill one,
# and the sync's report shows every day it was reached.
DEFAULT_FREE_PER_DAY = 25
FREE_MAX = 10_000


def _count(key: ConfigKey, values: Mapping[str, Any], default: int, what: str, problems: list[str]) -> int:
    value = values.get(key.qualified)
    if value is None or value == "":
        return default
    number = _whole(value, 0, FREE_MAX)
    if number is None:
        problems.append(f"{key.qualified}: expected a whole number of {what} from 0 to {FREE_MAX}, got {_shown(value)}")
        return default
    return number


def _emails(values: Mapping[str, Any], problems: list[str]) -> EmailSettings | None:
    """The owner emails' settings: all four keys, or none (no emails). Problems name each key."""
    keys = (ConfigKey.EMAILS_SINCE, ConfigKey.SMTP, ConfigKey.BILLING_PORTAL_URL, ConfigKey.SUPPORT_EMAIL)
    given = {key: values.get(key.qualified) for key in keys}
    if all(value in (None, "") for value in given.values()):
        return None
    found = len(problems)
    for key, value in given.items():
        if value in (None, ""):
            others = ", ".join(k.qualified for k in keys if k is not key)
            problems.append(f"{key.qualified}: required with {others} (owner emails)")
    since_value = given[ConfigKey.EMAILS_SINCE]
    since = parse_date(since_value)  # the roster's date rule: it is compared with roster dates
    if since is None and since_value not in (None, ""):
        problems.append(f"{ConfigKey.EMAILS_SINCE.qualified}: expected a date YYYY-MM-DD, got {_shown(since_value)}")
    portal = given[ConfigKey.BILLING_PORTAL_URL]
    if portal not in (None, "") and (problem := url_problem(portal, https_only=True)):  # the templates' rule
        problems.append(
            f"{ConfigKey.BILLING_PORTAL_URL.qualified}: expected an https:// URL, got {_shown(portal)} ({problem})"
        )
    support = given[ConfigKey.SUPPORT_EMAIL]
    if support not in (None, ""):
        try:
            support = canonical_email(support)  # the form the emails show (tenants.emails)
        except EmailAddressError as exc:
            name = ConfigKey.SUPPORT_EMAIL.qualified
            problems.append(f"{name}: expected an email address, got {_shown(support)} ({exc})")
    smtp: SmtpSettings | None = None
    if given[ConfigKey.SMTP] not in (None, ""):
        try:
            smtp = parse_settings(_maybe_yaml(given[ConfigKey.SMTP]))
        except (SmtpConfigError, InputError) as exc:
            problems.append(str(exc))
    if len(problems) > found or smtp is None or since is None:
        return None
    return EmailSettings(smtp, since, str(portal), str(support))


def _signup(values: Mapping[str, Any], problems: list[str]) -> tuple[str, str]:
    """The signup site's image (optional: empty runs none) and the repository its webhook dispatches to."""
    image_key, repo_key = ConfigKey.SIGNUP_IMAGE.qualified, ConfigKey.GITHUB_REPOSITORY.qualified
    image, repository = values.get(image_key) or "", values.get(repo_key) or ""
    for key, value in ((image_key, image), (repo_key, repository)):
        if not isinstance(value, str):
            problems.append(f"{key}: expected text, got {_shown(value)}")
            return "", ""
    if repository and not matches(GITHUB_REPOSITORY_RE, repository):
        problems.append(f"{repo_key}: expected owner/name of this repository, got {quote_value(repository)}")
    elif image and not repository:
        problems.append(f"{repo_key}: required with {image_key} (its webhook triggers this repository's Stripe sync)")
    error = _pinned_image_error(image) if image else None
    if error:
        problems.append(f"{image_key}: {error}, got {quote_value(image)}")
    return image, repository


EDGE_REGIONS_MIN = 2  # one region down must not take every tenant down with it


def _edge_regions(value: Any, problems: list[str]) -> tuple[str, ...]:
    """A list of distinct Fly region codes, at least two; problems are appended, naming the key."""
    key = ConfigKey.EDGE_REGIONS.qualified
    expected = f"a list of at least {EDGE_REGIONS_MIN} distinct Fly region codes, e.g. [ams, fra]"
    if value is None or value == "":
        problems.append(f"{key}: required ({expected})")
        return ()
    try:
        regions = _maybe_yaml(value)
    except InputError as exc:
        problems.append(f"{key}: {exc}")
        return ()
    if not isinstance(regions, list):
        problems.append(f"{key}: expected {expected}, got {_shown(regions)}")
        return ()
    odd = [r for r in regions if not isinstance(r, str)]
    if odd:
        problems.append(f"{key}: expected region codes as text, got {_shown(odd[0])} in the list")
        return ()
    bad = [r for r in regions if not matches(REGION_RE, r)]
    twice = sorted({r for r in regions if regions.count(r) > 1})
    if bad:
        problems.append(f"{key}: {quote_value(bad[0])} is not a three-letter Fly region code")
    elif twice:
        problems.append(f"{key}: {quote_value(twice[0])} is listed more than once")
    elif len(regions) < EDGE_REGIONS_MIN:
        problems.append(f"{key}: expected {expected}, got {len(regions)}")
    return tuple(regions)


def _maybe_yaml(value: Any) -> Any:
    """Structured config arrives from Pulumi as a JSON string; from the stack file as a mapping."""
    if isinstance(value, str):
        return load_yaml(value)
    return value


def _shown(value: Any) -> str:
    """A value for a message: containers described, not formatted; text quoted and bounded."""
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return quote_value(value)


def stack_file(stack: str) -> Path:
    return REPO_ROOT / "stacks" / f"Pulumi.{stack}.yaml"


def read_stack_file(stack: str) -> StackConfig:
    """Reads `stacks/Pulumi.<stack>.yaml` without Pulumi (secure values are ignored)."""
    path = stack_file(stack)
    if not path.exists() and not path.is_symlink():
        raise ConfigError(stack, [f"{path}: no such stack file"])
    try:
        data = load_yaml(read_text(path))
    except InputError as exc:
        raise ConfigError(stack, [f"{path}: {exc}"]) from None
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(stack, [f"{path}: expected a mapping with a 'config' key, got {_shown(data)}"])
    config = data.get("config") or {}
    if not isinstance(config, Mapping):
        raise ConfigError(stack, [f"{path}: 'config' must be a mapping"])
    plain = {key: value for key, value in config.items() if not (isinstance(value, Mapping) and "secure" in value)}
    return from_mapping(stack, plain)
