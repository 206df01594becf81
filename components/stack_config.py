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
from pathlib import Path
from typing import Any

from components.fly.settings import DEFAULT_API_URL
from tenants.inputs import InputError, clean_text, load_yaml, matches, quote_value, read_text
from tenants.plans import PLANS_KEY, Plan, PlanError, parse_plans
from tenants.roster import REPO_ROOT

NAMESPACE = "alex-hosted"

# Whole-string patterns, used only through tenants.inputs.matches (fullmatch on clean text).
_HOSTNAME_RE = re.compile(r"(?=.{4,200}\Z)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
_SLUG_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_REGION_RE = re.compile(r"[a-z]{3}")
_CF_ID_RE = re.compile(r"[0-9a-f]{32}")
_PREFIX_RE = re.compile(r"[a-z][a-z0-9-]{1,30}[a-z0-9]")
_URL_RE = re.compile(r"https?://[^\s/]+(:\d+)?(/\S*)?")
# The characters of an OCI image reference (registry[:port]/path[:tag][@sha256:digest]).
_IMAGE_RE = re.compile(r"[a-z0-9][a-z0-9._:/@-]{0,254}", re.IGNORECASE)


class ConfigError(ValueError):
    """Stack config that cannot be used; lists every key at fault with what it expects."""

    def __init__(self, stack: str, problems: list[str]):
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"stack {stack!r} configuration is not usable:\n{lines}")


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

    def app_name(self, tenant_id: str) -> str:
        return f"{self.app_prefix}-{tenant_id}"

    def hostname(self, username: str) -> str:
        return f"{username}.{self.domain}"

    @property
    def r2_endpoint(self) -> str:
        return f"https://{self.cloudflare_account_id}.r2.cloudflarestorage.com"


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
_RULES: dict[str, tuple[str, Callable[[str], str | None]]] = {
    "domain": (
        "the DNS name tenants live under, e.g. books.example.com",
        _matches(_HOSTNAME_RE, "expected a lowercase DNS name such as books.example.com"),
    ),
    "image": ("the tenant image, pinned", _pinned_image_error),
    "flyOrg": (
        "the Fly organization slug",
        _matches(_SLUG_RE, "expected a Fly organization slug (a-z, 0-9, '-')"),
    ),
    "flyRegion": (
        "the default Fly region, e.g. ams",
        _matches(_REGION_RE, "expected a three-letter Fly region code"),
    ),
    "appPrefix": (
        "the prefix of every tenant's Fly app name",
        # 32 + '-' + a 20-character tenant id stays within Fly's 63-character app names.
        _matches(_PREFIX_RE, "expected 3-32 characters of a-z, 0-9, '-', starting with a letter"),
    ),
    "cloudflareAccountId": (
        "the Cloudflare account id (32 hex characters)",
        _matches(_CF_ID_RE, "expected 32 lowercase hex characters"),
    ),
    "cloudflareZoneId": (
        "the Cloudflare zone id of the domain (32 hex characters)",
        _matches(_CF_ID_RE, "expected 32 lowercase hex characters"),
    ),
}


def from_mapping(stack: str, values: Mapping[str, Any]) -> StackConfig:
    """Builds the settings from `alex-hosted:<key>` values; raises ConfigError naming every bad key."""
    problems: list[str] = []
    checked: dict[str, str] = {}
    for key, (meaning, check) in _RULES.items():
        full = f"{NAMESPACE}:{key}"
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
    api_url = values.get(f"{NAMESPACE}:flyApiUrl") or DEFAULT_API_URL
    if not matches(_URL_RE, api_url):
        problems.append(f"{NAMESPACE}:flyApiUrl: expected an http(s) URL, got {_shown(api_url)}")
    roster_value = values.get(f"{NAMESPACE}:roster") or f"tenants/{stack}.yaml"
    if not clean_text(roster_value):
        what = "a path without control, invisible or space characters"
        problems.append(f"{NAMESPACE}:roster: expected {what}, got {_shown(roster_value)}")
        roster_value = f"tenants/{stack}.yaml"
    plans: dict[str, Plan] = {}
    try:
        plans = parse_plans(_maybe_yaml(values.get(PLANS_KEY)))
    except InputError as exc:
        problems.append(f"{PLANS_KEY}: {exc}")
    except PlanError as exc:
        problems.extend(str(exc).splitlines())
    if problems:
        raise ConfigError(stack, problems)
    roster = Path(roster_value)
    return StackConfig(
        stack=stack,
        domain=checked["domain"],
        roster=roster if roster.is_absolute() else REPO_ROOT / roster,
        image=checked["image"],
        fly_org=checked["flyOrg"],
        fly_region=checked["flyRegion"],
        app_prefix=checked["appPrefix"],
        fly_api_url=str(api_url).rstrip("/"),
        cloudflare_account_id=checked["cloudflareAccountId"],
        cloudflare_zone_id=checked["cloudflareZoneId"],
        plans=plans,
    )


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
