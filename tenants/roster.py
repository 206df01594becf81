"""The roster: one entry per tenant in `tenants/<stack>.yaml`; load, validate and write it.

Loading checks every entry and reports every problem at once, naming the entry and the field, before
any resource is declared. Writing is deterministic (entries sorted by id, fields in a fixed order,
a fixed header) so that loading and writing an unchanged roster leaves the file byte-identical, and
atomic (a temporary file renamed over the old one) so a failure never leaves half a roster. Every
value is checked whole (no trailing newline, no control or invisible characters) and every value
quoted in a message is bounded (tenants.inputs).
"""

from __future__ import annotations

import fcntl
import functools
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Any

import yaml

from tenants.emails import EmailAddressError, canonical_email
from tenants.inputs import ImpossibleDate, InputError, load_yaml, matches, parse_date, quote_value, read_text
from tenants.naming import (
    CUSTOM_DOMAIN_RE,
    CUSTOM_DOMAINS_MAX,
    REGION_RE,
    TENANT_ID_RE,
    USERNAME_MAX,
    USERNAME_MIN,
    USERNAME_RE,
)
from tenants.plans import DEFAULT_PLANS, Plan
from tenants.states import HOLDS, STATES, TenantState

REPO_ROOT = Path(__file__).resolve().parent.parent

# Whole-string patterns of the roster's own fields (names shared with other modules are tenants.naming's):
# use them only through tenants.inputs.matches (fullmatch, clean text).
STRIPE_CUSTOMER_RE = re.compile(r"cus_[A-Za-z0-9]{1,64}")

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
class RosterEntry:
    """One roster entry. Field order here is the order written to the file."""

    id: str
    username: str
    email: str
    plan: str
    state: str
    region: str | None = None
    # The customer's own hostnames, served by the edge beside <username>.<domain>; the first is primary.
    domains: tuple[str, ...] | None = None
    stripe_customer: str | None = None
    hold: str | None = None
    created_at: date | None = None
    cancelled_at: date | None = None
    purge_after: date | None = None
    purge_marked_at: date | None = None
    over_quota_since: date | None = None

    def __post_init__(self) -> None:
        # A TenantState or Hold is kept as its plain string: the YAML safe dumper refuses str subclasses,
        # and an entry must read, compare, print and write the same however its state was spelled.
        for name in ("state", "hold"):
            value = getattr(self, name)
            if isinstance(value, Enum):
                object.__setattr__(self, name, value.value)
        if isinstance(self.domains, list | tuple):  # hashable and immutable, however the caller passed it
            # No domains is no field: an empty list would be written, and the loader refuses one.
            object.__setattr__(self, "domains", tuple(self.domains) or None)

    def to_mapping(self) -> dict[str, Any]:
        # The safe dumper writes lists, not tuples. Every field is a plain value (no dataclass inside), so a
        # shallow read gives what asdict's recursive copy would, several times faster at 10,000 entries.
        values = ((name, getattr(self, name)) for name in FIELD_NAMES)
        return {key: list(value) if isinstance(value, tuple) else value for key, value in values if value is not None}

    def with_changes(self, **changes: Any) -> RosterEntry:
        return replace(self, **changes)


FIELD_NAMES = tuple(f.name for f in fields(RosterEntry))
REQUIRED = ("id", "username", "email", "plan", "state")
LIST_FIELDS = ("domains",)
DATE_FIELDS = ("created_at", "cancelled_at", "purge_after", "purge_marked_at", "over_quota_since")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one entry; `entry` is 1-based, in file order."""

    entry: int
    tenant_id: str | None
    field: str
    message: str

    def __str__(self) -> str:
        who = f"entry {self.entry}" + (f" (id {quote_value(self.tenant_id)})" if self.tenant_id else "")
        return f"{who}: {self.field}: {self.message}"


class RosterError(ValueError):
    """The roster cannot be used; carries every problem found, not just the first."""

    def __init__(self, source: str, problems: Sequence[Problem | str]):
        self.source = source
        self.problems = list(problems)
        count = len(self.problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{source}: {count} problem{'s' if count != 1 else ''}:\n{lines}")


class RosterChanged(RosterError):
    """The file changed between reading and writing (another run, or a hand edit): nothing was written."""


def roster_path(stack: str) -> Path:
    return REPO_ROOT / "tenants" / f"{stack}.yaml"


_SafeDumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _RosterDumper(_SafeDumper):  # type: ignore[valid-type,misc]
    """Writes each value in full: two entries may hold the same date object, and the loader refuses the
    anchor and alias PyYAML would otherwise write for it."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def load_roster(
    path: Path | str, plans: Mapping[str, Plan] = DEFAULT_PLANS, *, domain: str | None = None
) -> list[RosterEntry]:
    """Reads and validates a roster file; raises RosterError listing every problem.

    `domain` (the stack's) adds the rules that need it: no custom domain in the stack's own name space.
    """
    return read_roster(path, plans, domain=domain)[0]


def read_roster(
    path: Path | str, plans: Mapping[str, Plan] = DEFAULT_PLANS, *, domain: str | None = None
) -> tuple[list[RosterEntry], str]:
    """The validated tenants and the exact text they came from, to hand back to write_roster(expected=).

    Whatever is wrong with the file (missing, a directory, not UTF-8, not YAML, the wrong shape) is a
    RosterError naming it: every entry point turns that into one line, never a traceback.
    """
    text = roster_text(path)
    return parse_roster(text, str(path), plans, domain=domain), text


def roster_text(path: Path | str) -> str:
    """A roster file's text, unparsed (read_roster's first half); RosterError naming what is wrong."""
    try:
        return read_text(Path(path))
    except InputError as exc:
        raise RosterError(str(path), [str(exc)]) from None


def parse_roster(
    text: str, source: str, plans: Mapping[str, Plan] = DEFAULT_PLANS, *, domain: str | None = None
) -> list[RosterEntry]:
    try:
        data = load_yaml(text)
    except InputError as exc:
        raise RosterError(source, [str(exc)]) from None
    if data is None:
        # An emptied file is far likelier a mistake (truncation, a bad merge) than a wish to drop everyone.
        raise RosterError(source, ["holds no entries and no '[]': an empty roster is written as []"])
    if not isinstance(data, list):
        raise RosterError(source, [f"expected a list of tenant entries at the top level, got {_kind(data)}"])
    tenants: list[RosterEntry] = []
    positions: dict[int, int] = {}
    problems: list[Problem] = []
    for index, raw in enumerate(data, start=1):
        tenant, entry_problems = _parse_entry(index, raw)
        problems.extend(entry_problems)
        if tenant is not None:
            tenants.append(tenant)
            positions[id(tenant)] = index
    for tenant in tenants:
        problems.extend(_entry_rules(positions[id(tenant)], tenant, plans))
    # Duplicates count every entry as written, parsed or not: a broken first copy still claims its id.
    claims = [_claim(index, raw) for index, raw in enumerate(data, start=1)]
    problems.extend(_duplicates(claims))
    if domain is not None and len(tenants) == len(data):  # every entry parsed: list order is file order
        problems.extend(domain_problems(tenants, domain))
    if problems:
        raise RosterError(source, _in_file_order(problems))
    return tenants


@dataclass(frozen=True)
class _Claim:
    """What one entry claims for itself, as written: its position, id and username (text or None)."""

    entry: int
    tenant_id: str | None
    username: str | None
    domains: tuple[str, ...] = ()


def _claim(index: int, raw: Any) -> _Claim:
    if not isinstance(raw, Mapping):
        return _Claim(index, None, None)
    tenant_id, username, domains = raw.get("id"), raw.get("username"), raw.get("domains")
    return _Claim(
        index,
        tenant_id if isinstance(tenant_id, str) else None,
        username if isinstance(username, str) else None,
        tuple(d for d in domains if isinstance(d, str)) if isinstance(domains, list) else (),
    )


def _kind(value: Any) -> str:
    """What a value is, without formatting it (a shared structure can be huge once expanded)."""
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return f"the {type(value).__name__} {quote_value(value)}"


def _parse_entry(index: int, raw: Any) -> tuple[RosterEntry | None, list[Problem]]:
    if not isinstance(raw, Mapping):
        return None, [Problem(index, None, "(entry)", f"expected a mapping of field: value, got {_kind(raw)}")]
    tenant_id = raw.get("id") if isinstance(raw.get("id"), str) else None
    problems: list[Problem] = []

    def problem(field: str, message: str) -> None:
        problems.append(Problem(index, tenant_id, field, message))

    for key in raw:
        if key not in FIELD_NAMES:
            name = key if isinstance(key, str) and len(key) <= 40 else quote_value(key, 40)
            problem(name, f"unknown field (known: {', '.join(FIELD_NAMES)})")
    values: dict[str, Any] = {}
    for name in FIELD_NAMES:
        value = raw.get(name)
        if value is None:
            if name in REQUIRED:
                problem(name, "required")
            continue
        if name in DATE_FIELDS:
            parsed = parse_date(value)
            if parsed is None:
                why = " (no such day)" if isinstance(value, ImpossibleDate) else ""
                problem(name, f"expected a date YYYY-MM-DD, got {_shown(value)}{why}")
                continue
            values[name] = parsed
        elif name in LIST_FIELDS:
            items = _text_list(value)
            if isinstance(items, str):
                problem(name, items)
            else:
                values[name] = items
        elif isinstance(value, ImpossibleDate) or not isinstance(value, str):
            hint = " (quote it)" if isinstance(value, int | float | bool | date | ImpossibleDate) else ""
            problem(name, f"expected text, got {_shown(value)}{hint}")
        else:
            values[name] = value
    if problems:
        return None, problems
    return RosterEntry(**values), []


def _text_list(value: Any) -> tuple[str, ...] | str:
    """A non-empty list of text, or why the value is not one."""
    if not isinstance(value, list):
        return f"expected a list of hostnames, got {_shown(value)}"
    if not value:
        return "an empty list: leave the field out instead"
    for item in value:
        if isinstance(item, ImpossibleDate) or not isinstance(item, str):
            return f"expected text in the list, got {_shown(item)}{_text_hint(item)}"
    return tuple(value)


def _text_hint(value: Any) -> str:
    """What to do about a YAML scalar that was meant as text."""
    if isinstance(value, ImpossibleDate):
        return " (no such day)"
    return " (quote it)" if isinstance(value, int | float | bool | date) else ""


def _shown(value: Any) -> str:
    if isinstance(value, ImpossibleDate):
        return quote_value(str(value))
    if isinstance(value, date):  # datetime too: the form the operator wrote, not Python's repr
        return f"{'the timestamp' if isinstance(value, datetime) else 'the date'} {value.isoformat()}"
    if isinstance(value, Mapping | list | tuple):
        return _kind(value)
    return quote_value(value)


def validate(
    tenants: Sequence[RosterEntry],
    plans: Mapping[str, Plan] = DEFAULT_PLANS,
    positions: Mapping[int, int] | None = None,
) -> list[Problem]:
    """Every rule of every entry and across entries; used on load and before every write.

    `positions` maps id(tenant) to its 1-based place in the file; without it, the place in `tenants`.
    """
    problems: list[Problem] = []
    claims: list[_Claim] = []
    for fallback, tenant in enumerate(tenants, start=1):
        index = positions.get(id(tenant), fallback) if positions else fallback
        problems.extend(_entry_rules(index, tenant, plans))
        claims.append(_Claim(index, tenant.id, tenant.username, tenant.domains or ()))
    problems.extend(_duplicates(claims))
    return _in_file_order(problems)


def _in_file_order(problems: Iterable[Problem]) -> list[Problem]:
    """By entry, then by field in the file's field order (unknown fields and the entry itself first)."""
    rank = {name: i for i, name in enumerate(FIELD_NAMES, start=1)}
    return sorted(problems, key=lambda p: (p.entry, rank.get(p.field, 0)))


def _entry_rules(index: int, tenant: RosterEntry, plans: Mapping[str, Plan]) -> list[Problem]:
    """The rules of one parsed entry on its own (duplicates are _duplicates')."""
    problems: list[Problem] = []

    def problem(field: str, message: str) -> None:
        problems.append(Problem(index, tenant.id, field, message))

    if not matches(TENANT_ID_RE, tenant.id):
        problem("id", f"{quote_value(tenant.id)} must be 6-20 characters of a-z and 0-9")
    username_problem = username_error(tenant.username)
    if username_problem:
        problem("username", username_problem)
    email_problem = email_error(tenant.email)
    if email_problem:
        problem("email", email_problem)
    if tenant.plan not in plans:
        problem("plan", f"unknown plan {quote_value(tenant.plan)} (plans: {', '.join(plans)})")
    if tenant.state not in STATES:
        problem("state", f"unknown state {quote_value(tenant.state)} (states: {', '.join(STATES)})")
    if tenant.region is not None and not matches(REGION_RE, tenant.region):
        problem("region", f"{quote_value(tenant.region)} is not a Fly region code (three letters, e.g. ams)")
    for message in _domain_rules(tenant.domains or ()):
        problem("domains", message)
    if tenant.stripe_customer is not None and not matches(STRIPE_CUSTOMER_RE, tenant.stripe_customer):
        problem("stripe_customer", f"{quote_value(tenant.stripe_customer)} is not a Stripe customer id (cus_...)")
    if tenant.hold is not None:
        if tenant.hold not in HOLDS:
            problem("hold", f"unknown hold {quote_value(tenant.hold)} (holds: {', '.join(HOLDS)})")
        elif tenant.state == TenantState.ACTIVE:
            problem("hold", "a tenant on hold must be suspended, cancelled or purging, not active")
    for field, message in _date_rules(tenant):
        problem(field, message)
    return problems


def _domain_rules(domains: Sequence[str]) -> Iterable[str]:
    if len(domains) > CUSTOM_DOMAINS_MAX:
        yield f"at most {CUSTOM_DOMAINS_MAX} custom domains per tenant, got {len(domains)}"
    seen: set[str] = set()
    repeated: set[str] = set()
    for hostname in domains:
        if not matches(CUSTOM_DOMAIN_RE, hostname):
            yield (
                f"{quote_value(hostname)} is not a hostname: lowercase labels of a-z, 0-9 and '-' with a dot between "
                "(punycode for international names), no wildcard, port, scheme or trailing dot"
            )
        elif hostname in seen and hostname not in repeated:
            repeated.add(hostname)
            yield f"{quote_value(hostname)} is listed more than once"
        seen.add(hostname)


def domain_problems(tenants: Sequence[RosterEntry], domain: str) -> list[Problem]:
    """Custom domains that would collide with the stack's own: equal to it, under it, or above it.

    The roster alone cannot know the stack's domain; every place that has both (the program, the
    scripts' stack loader) adds these to the roster's own rules.
    """
    problems: list[Problem] = []
    for index, tenant in enumerate(tenants, start=1):
        for hostname in tenant.domains or ():
            if hostname == domain or hostname.endswith(f".{domain}") or domain.endswith(f".{hostname}"):
                message = f"{quote_value(hostname)} is the stack's own domain {domain} or shares its name space"
                problems.append(Problem(index, tenant.id, "domains", message))
    return problems


def _duplicates(claims: Sequence[_Claim]) -> list[Problem]:
    """Every later entry that repeats an earlier entry's id or username, whatever else is wrong with either."""
    problems: list[Problem] = []
    first_id: dict[str, _Claim] = {}
    first_username: dict[str, _Claim] = {}
    first_domain: dict[str, _Claim] = {}
    for claim in claims:
        if claim.tenant_id is not None:
            if claim.tenant_id in first_id:
                problems.append(
                    Problem(claim.entry, claim.tenant_id, "id", f"duplicate of entry {first_id[claim.tenant_id].entry}")
                )
            else:
                first_id[claim.tenant_id] = claim
        if claim.username is not None:
            holder = first_username.setdefault(claim.username, claim)
            if holder is not claim:
                owner = f"tenant {quote_value(holder.tenant_id)}" if holder.tenant_id else f"entry {holder.entry}"
                message = f"{quote_value(claim.username)} is already used by {owner}"
                problems.append(Problem(claim.entry, claim.tenant_id, "username", message))
        for hostname in dict.fromkeys(claim.domains):  # a repeat within one entry is _domain_rules'
            holder = first_domain.setdefault(hostname, claim)
            if holder is not claim:
                owner = f"tenant {quote_value(holder.tenant_id)}" if holder.tenant_id else f"entry {holder.entry}"
                message = f"{quote_value(hostname)} is already a domain of {owner}"
                problems.append(Problem(claim.entry, claim.tenant_id, "domains", message))
    return problems


def username_error(username: str) -> str | None:
    """Why a username cannot be a DNS label under our domain, or None if it can."""
    shown = quote_value(username)
    if not USERNAME_MIN <= len(username) <= USERNAME_MAX:
        return f"{shown} must be {USERNAME_MIN}-{USERNAME_MAX} characters"
    if not matches(USERNAME_RE, username):
        return f"{shown} must be lowercase a-z, 0-9 and '-', not starting or ending with '-'"
    if username[2:4] == "--":
        return f"{shown} looks like an encoded (punycode) label; '--' at positions 3-4 is not allowed"
    if username in RESERVED_USERNAMES:
        return f"{shown} is reserved"
    return None


def email_error(email: object) -> str | None:
    """Why a value cannot be a roster's email (tenants.emails: an address, in its canonical form), or None."""
    if isinstance(email, str):
        return _text_email_error(email)
    return _email_error(email)


# A sync validates each roster up to four times (load, reconcile, placement, write): the answer for a
# string never changes, and checking one costs tens of microseconds, seconds at 10,000 tenants.
@functools.lru_cache(maxsize=1 << 16)
def _text_email_error(email: str) -> str | None:
    return _email_error(email)


def forget_checked_emails() -> None:
    """Empties the email rule's cache: a benchmark's runs start as cold as a new process."""
    _text_email_error.cache_clear()


def _email_error(email: object) -> str | None:
    try:
        canonical = canonical_email(email)
    except EmailAddressError as exc:
        return f"{quote_value(email)} is not an email address: {exc}"
    if canonical != email:
        # One spelling from the roster to the login: the sync writes this form, the image stores it.
        return f"{quote_value(email)}: write it as {canonical!r} (the domain in lowercase ASCII; the rest as it is)"
    return None


def _date_rules(tenant: RosterEntry) -> Iterable[tuple[str, str]]:
    state = tenant.state
    if state == TenantState.CANCELLED:
        for field in ("cancelled_at", "purge_after"):
            if getattr(tenant, field) is None:
                yield field, "required when state is cancelled"
    if state == TenantState.PURGING and tenant.purge_marked_at is None:
        yield "purge_marked_at", "required when state is purging"
    if state in (TenantState.ACTIVE, TenantState.SUSPENDED):
        for field in ("cancelled_at", "purge_after", "purge_marked_at"):
            if getattr(tenant, field) is not None:
                yield field, f"only allowed when cancelled or purging, not {state}"
    if state == TenantState.CANCELLED and tenant.purge_marked_at is not None:
        yield "purge_marked_at", "only allowed when purging"
    if tenant.cancelled_at and tenant.purge_after and tenant.purge_after < tenant.cancelled_at:
        yield "purge_after", "is before cancelled_at"


def dump_roster(tenants: Iterable[RosterEntry]) -> str:
    entries = [t.to_mapping() for t in sorted(tenants, key=lambda t: t.id)]
    if not entries:
        return HEADER + "[]\n"
    body = yaml.dump(
        entries, Dumper=_RosterDumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=1000
    )
    return HEADER + body


def write_roster(
    path: Path | str,
    tenants: Sequence[RosterEntry],
    plans: Mapping[str, Plan] = DEFAULT_PLANS,
    *,
    expected: str | None = None,
) -> bool:
    """Validates, then atomically replaces the file. Returns False when the content was unchanged.

    `expected` is the text the caller read (read_roster): if the file no longer holds it, another run or
    a hand edit got there first, and writing would silently undo that change, so nothing is written
    (RosterChanged). The compare and the rename happen under an exclusive lock on a sidecar file
    (`.<name>.lock`, see roster_lock), so of two writers that read the same text exactly one wins,
    whichever processes they run in: the webhook, the hourly sync, `storage --suspend-after`.

    A person editing the file takes no lock. An editor's save that lands before our compare is detected
    by it (nothing written); one that lands after our rename overwrites us from a stale buffer, as any
    editor would, and most editors warn that the file changed on disk. Edit rosters in a pull request.
    """
    path = Path(path)
    problems = validate(sorted(tenants, key=lambda t: t.id), plans)
    if problems:
        raise RosterError(str(path), problems)
    data = dump_roster(tenants).encode("utf-8")
    with roster_lock(path):
        current = _current_bytes(path)
        if expected is not None and current != expected.encode("utf-8"):
            raise RosterChanged(str(path), ["changed on disk since it was read; nothing written, run again"])
        if current == data:
            return False
        _replace(path, data)
    return True


def swap_file(path: Path, data: bytes, expected: bytes | None) -> bool:
    """write_roster's compare-and-swap for a file kept beside the rosters (billing.cursor): under the
    file's own lock, replace it atomically with `data` if it still holds `expected` (None: no file yet),
    RosterChanged if it does not. Returns False when it already held `data`."""
    with roster_lock(path):
        current = _current_bytes(path)
        if current != expected:
            raise RosterChanged(str(path), ["changed on disk since it was read; nothing written"])
        if current == data:
            return False
        _replace(path, data)
    return True


def lock_path(path: Path) -> Path:
    return path.parent / f".{path.name}.lock"


@contextmanager
def roster_lock(path: Path) -> Iterator[None]:
    """Holds an exclusive flock on the roster's sidecar lock file; blocks until it is free.

    A sidecar, not the roster itself: the roster is replaced by rename, so a lock on its inode would
    protect a file that is no longer the roster. The lock file is never deleted (deleting it would let
    a waiter and a newcomer lock two different files) and is ignored by git.
    """
    fd = os.open(lock_path(path), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _current_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _replace(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
