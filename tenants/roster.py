"""The roster: one entry per tenant in `tenants/<stack>.yaml`; load, validate and write it.

Loading checks every entry and reports every problem at once, naming the entry and the field, before
any resource is declared. Writing is deterministic (entries sorted by id, fields in a fixed order,
a fixed header) so that loading and writing an unchanged roster leaves the file byte-identical, and
atomic (a temporary file renamed over the old one) so a failure never leaves half a roster.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from tenants.plans import DEFAULT_PLANS, Plan

REPO_ROOT = Path(__file__).resolve().parent.parent

STATES = ("active", "suspended", "cancelled", "purging")
# Why a tenant is suspended when Stripe alone would say active; the sync never lifts these.
HOLDS = ("over_quota", "operator")

TENANT_ID_RE = re.compile(r"^[a-z0-9]{6,20}$")
USERNAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,30})[a-z0-9]$")
REGION_RE = re.compile(r"^[a-z]{3}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
STRIPE_CUSTOMER_RE = re.compile(r"^cus_[A-Za-z0-9]+$")

# Hostnames we keep for ourselves (or that users would trust too much).
RESERVED_USERNAMES = frozenset(
    {
        "www", "api", "admin", "mail", "app", "status", "smtp", "imap", "pop", "ftp", "ns1", "ns2",
        "dns", "mx", "autodiscover", "autoconfig", "support", "help", "billing", "docs", "blog",
        "static", "assets", "cdn", "auth", "login", "signup", "account", "accounts", "dashboard",
        "console", "root", "internal", "staging", "dev", "test", "prod", "alex", "hosted", "fly",
        "webmail", "security", "abuse", "postmaster", "hostmaster", "noreply", "no-reply",
    }
)  # fmt: skip

HEADER = (
    "# Tenant roster: one entry per customer, sorted by id. Validated by tenants.roster on every load.\n"
    "# Entries with stripe_customer are kept in step with Stripe by scripts.stripe_sync; edit the\n"
    "# others by hand. Deleting a tenant takes two commits: state purging, then removing the entry.\n"
)


@dataclass(frozen=True)
class Tenant:
    """One roster entry. Field order here is the order written to the file."""

    id: str
    username: str
    email: str
    plan: str
    state: str
    region: str | None = None
    stripe_customer: str | None = None
    hold: str | None = None
    created_at: date | None = None
    cancelled_at: date | None = None
    purge_after: date | None = None
    purge_marked_at: date | None = None
    over_quota_since: date | None = None

    def to_mapping(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if value is not None}

    def with_changes(self, **changes: Any) -> Tenant:
        return replace(self, **changes)


FIELD_NAMES = tuple(f.name for f in fields(Tenant))
REQUIRED = ("id", "username", "email", "plan", "state")
DATE_FIELDS = ("created_at", "cancelled_at", "purge_after", "purge_marked_at", "over_quota_since")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one entry; `entry` is 1-based, in file order."""

    entry: int
    tenant_id: str | None
    field: str
    message: str

    def __str__(self) -> str:
        who = f"entry {self.entry}" + (f" (id {self.tenant_id!r})" if self.tenant_id else "")
        return f"{who}: {self.field}: {self.message}"


class RosterError(ValueError):
    """The roster cannot be used; carries every problem found, not just the first."""

    def __init__(self, source: str, problems: Sequence[Problem | str]):
        self.source = source
        self.problems = list(problems)
        count = len(self.problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{source}: {count} problem{'s' if count != 1 else ''}:\n{lines}")


def tenant_id_for_customer(stripe_customer: str) -> str:
    """The immutable tenant id of a Stripe customer: 's' + 13 base32 characters of its sha256.

    Deterministic, so every sync run (and every machine) derives the same id; never reused for a
    different customer in practice (65 bits).
    """
    digest = hashlib.sha256(stripe_customer.encode("utf-8")).digest()
    return "s" + base64.b32encode(digest).decode("ascii").lower()[:13]


class RosterChanged(RosterError):
    """The file changed between reading and writing (another run, or a hand edit): nothing was written."""


def roster_path(stack: str) -> Path:
    return REPO_ROOT / "tenants" / f"{stack}.yaml"


# libyaml's C parser when present (it is in PyYAML's wheels): rosters of thousands of tenants load fast.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SafeDumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _StrictLoader(_SafeLoader):  # type: ignore[valid-type,misc]
    """A safe loader that refuses duplicate keys, which plain YAML silently resolves to the last."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    mapping: dict[Any, Any] = loader.construct_mapping(node, deep=deep)
    return mapping


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_roster(path: Path | str, plans: Mapping[str, Plan] = DEFAULT_PLANS) -> list[Tenant]:
    """Reads and validates a roster file; raises RosterError listing every problem."""
    return read_roster(path, plans)[0]


def read_roster(path: Path | str, plans: Mapping[str, Plan] = DEFAULT_PLANS) -> tuple[list[Tenant], str]:
    """The validated tenants and the exact text they came from, to hand back to write_roster(expected=)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RosterError(str(path), ["file not found"]) from None
    return parse_roster(text, str(path), plans), text


def parse_roster(text: str, source: str, plans: Mapping[str, Plan] = DEFAULT_PLANS) -> list[Tenant]:
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise RosterError(source, [f"not valid YAML: {exc}"]) from None
    if data is None:
        data = []
    if not isinstance(data, list):
        raise RosterError(source, ["expected a list of tenant entries at the top level"])
    tenants: list[Tenant] = []
    problems: list[Problem] = []
    for index, raw in enumerate(data, start=1):
        tenant, entry_problems = _parse_entry(index, raw)
        problems.extend(entry_problems)
        if tenant is not None:
            tenants.append(tenant)
    problems.extend(validate(tenants, plans, positions={id(t): i for i, t in _indexed(tenants, data)}))
    if problems:
        raise RosterError(source, problems)
    return tenants


def _indexed(tenants: list[Tenant], data: list[Any]) -> Iterable[tuple[int, Tenant]]:
    """Pairs each parsed tenant with its 1-based position in the file."""
    by_id: dict[Any, list[int]] = {}
    for index, raw in enumerate(data, start=1):
        if isinstance(raw, Mapping):
            by_id.setdefault(raw.get("id"), []).append(index)
    for tenant in tenants:
        yield by_id[tenant.id].pop(0), tenant


def _parse_entry(index: int, raw: Any) -> tuple[Tenant | None, list[Problem]]:
    if not isinstance(raw, Mapping):
        return None, [Problem(index, None, "(entry)", "expected a mapping of field: value")]
    tenant_id = raw.get("id") if isinstance(raw.get("id"), str) else None
    problems: list[Problem] = []

    def problem(field: str, message: str) -> None:
        problems.append(Problem(index, tenant_id, field, message))

    for key in raw:
        if key not in FIELD_NAMES:
            problem(str(key), f"unknown field (known: {', '.join(FIELD_NAMES)})")
    values: dict[str, Any] = {}
    for name in FIELD_NAMES:
        value = raw.get(name)
        if value is None:
            if name in REQUIRED:
                problem(name, "required")
            continue
        if name in DATE_FIELDS:
            parsed = _as_date(value)
            if parsed is None:
                problem(name, f"expected a date YYYY-MM-DD, got {value!r}")
                continue
            values[name] = parsed
        elif not isinstance(value, str):
            hint = " (quote it)" if isinstance(value, int | float | bool) else ""
            problem(name, f"expected text, got {value!r}{hint}")
        else:
            values[name] = value
    if problems:
        return None, problems
    return Tenant(**values), []


def _as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return None  # a timestamp where a date belongs is a mistake worth reporting
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None


def validate(
    tenants: Sequence[Tenant],
    plans: Mapping[str, Plan] = DEFAULT_PLANS,
    positions: Mapping[int, int] | None = None,
) -> list[Problem]:
    """Every rule that spans fields or entries; used on load and before every write."""
    problems: list[Problem] = []
    seen_ids: dict[str, int] = {}
    seen_usernames: dict[str, str] = {}
    for fallback, tenant in enumerate(tenants, start=1):
        index = positions[id(tenant)] if positions else fallback

        def problem(field: str, message: str, index: int = index, tenant: Tenant = tenant) -> None:
            problems.append(Problem(index, tenant.id, field, message))

        if not TENANT_ID_RE.match(tenant.id):
            problem("id", f"{tenant.id!r} must be 6-20 characters of a-z and 0-9")
        elif tenant.id in seen_ids:
            problem("id", f"duplicate of entry {seen_ids[tenant.id]}")
        else:
            seen_ids[tenant.id] = index
        username_problem = username_error(tenant.username)
        if username_problem:
            problem("username", username_problem)
        elif tenant.username in seen_usernames:
            problem(
                "username",
                f"{tenant.username!r} is already used by tenant {seen_usernames[tenant.username]!r}",
            )
        else:
            seen_usernames[tenant.username] = tenant.id
        if not EMAIL_RE.match(tenant.email):
            problem("email", f"{tenant.email!r} is not an email address")
        if tenant.plan not in plans:
            problem("plan", f"unknown plan {tenant.plan!r} (plans: {', '.join(plans)})")
        if tenant.state not in STATES:
            problem("state", f"unknown state {tenant.state!r} (states: {', '.join(STATES)})")
        if tenant.region is not None and not REGION_RE.match(tenant.region):
            problem("region", f"{tenant.region!r} is not a Fly region code (three letters, e.g. ams)")
        if tenant.stripe_customer is not None and not STRIPE_CUSTOMER_RE.match(tenant.stripe_customer):
            problem("stripe_customer", f"{tenant.stripe_customer!r} is not a Stripe customer id (cus_...)")
        if tenant.hold is not None:
            if tenant.hold not in HOLDS:
                problem("hold", f"unknown hold {tenant.hold!r} (holds: {', '.join(HOLDS)})")
            elif tenant.state == "active":
                problem("hold", "a tenant on hold must be suspended, cancelled or purging, not active")
        for field, message in _date_rules(tenant):
            problem(field, message)
    return problems


def username_error(username: str) -> str | None:
    """Why a username cannot be a DNS label under our domain, or None if it can."""
    if not 3 <= len(username) <= 32:
        return f"{username!r} must be 3-32 characters"
    if not USERNAME_RE.match(username):
        return f"{username!r} must be lowercase a-z, 0-9 and '-', not starting or ending with '-'"
    if username[2:4] == "--":
        return f"{username!r} looks like an encoded (punycode) label; '--' at positions 3-4 is not allowed"
    if username in RESERVED_USERNAMES:
        return f"{username!r} is reserved"
    return None


def _date_rules(tenant: Tenant) -> Iterable[tuple[str, str]]:
    state = tenant.state
    if state == "cancelled":
        for field in ("cancelled_at", "purge_after"):
            if getattr(tenant, field) is None:
                yield field, "required when state is cancelled"
    if state == "purging" and tenant.purge_marked_at is None:
        yield "purge_marked_at", "required when state is purging"
    if state in ("active", "suspended"):
        for field in ("cancelled_at", "purge_after", "purge_marked_at"):
            if getattr(tenant, field) is not None:
                yield field, f"only allowed when cancelled or purging, not {state}"
    if state == "cancelled" and tenant.purge_marked_at is not None:
        yield "purge_marked_at", "only allowed when purging"
    if tenant.cancelled_at and tenant.purge_after and tenant.purge_after < tenant.cancelled_at:
        yield "purge_after", "is before cancelled_at"


def dump_roster(tenants: Iterable[Tenant]) -> str:
    entries = [t.to_mapping() for t in sorted(tenants, key=lambda t: t.id)]
    if not entries:
        return HEADER + "[]\n"
    body = yaml.dump(
        entries, Dumper=_SafeDumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=1000
    )
    return HEADER + body


def write_roster(
    path: Path | str,
    tenants: Sequence[Tenant],
    plans: Mapping[str, Plan] = DEFAULT_PLANS,
    *,
    expected: str | None = None,
) -> bool:
    """Validates, then atomically replaces the file. Returns False when the content was unchanged.

    `expected` is the text the caller read (read_roster): if the file no longer holds it, another run or
    a hand edit got there first, and writing would silently undo that change, so nothing is written.
    """
    path = Path(path)
    problems = validate(sorted(tenants, key=lambda t: t.id), plans)
    if problems:
        raise RosterError(str(path), problems)
    text = dump_roster(tenants)
    current = path.read_text(encoding="utf-8") if path.exists() else None
    if expected is not None and current != expected:
        raise RosterChanged(str(path), ["changed on disk since it was read; nothing written, run again"])
    if current == text:
        return False
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True
