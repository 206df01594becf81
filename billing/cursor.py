"""The Stripe sync's cursor: where an incremental run starts reading Stripe's events, kept in the
repository beside the rosters, so CI keeps it between runs with no database.

`<first shard's roster>.stripe-cursor.json` (tenants/prod.stripe-cursor.json for tenants/prod.yaml):

    {"version": 1,
     "events": {"created": 1764170000, "seen": ["evt_..."]},   # billing.stripe_events.EventMark
     "full_at": "2026-11-26T17:17:00+00:00",                    # the last full listing
     "rosters": {"prod.yaml": "<sha256 of the file>", ...}}     # the rosters it goes with

It is written after the rosters, under the same lock and compare-and-swap as a roster
(tenants.roster.swap_file): a run that stops between the two leaves the old cursor, whose `rosters`
no longer match, so the next run lists everything. A run that finds it changed on disk (another run got
there first) leaves it as it is: the events after the older mark are then read again, which is harmless.

An incremental run uses it only when all of this holds, and otherwise lists everything, saying why:
it exists; it is a readable cursor (UTF-8 JSON of this shape, at most MAX_BYTES); its `rosters` are the
domain's roster files byte for byte (a hand edit, a merge, a revert or another tool's write since means
the rosters may not be what the events after the mark were applied to); it was not written later than
now; its last full listing is at most EVENTS_KEPT - MARGIN old (Stripe keeps events 30 days, and every
run since listed them from the mark on) and at most FULL_EVERY old (the safety net runs even when the
hourly run was skipped: a queued run of the workflow replaces a pending one). So the mark an
incremental run starts from is never more than FULL_EVERY behind.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from billing.stripe_events import MAX_SEEN, EventMark
from tenants.inputs import quote_value
from tenants.roster import RosterChanged, swap_file

VERSION = 1
SUFFIX = ".stripe-cursor.json"
MAX_BYTES = 256 * 1024
EVENTS_KEPT = timedelta(days=30)  # Stripe's retention of events (docs/reference/stripe.md §3.3)
MARGIN = timedelta(days=1)
FULL_EVERY = timedelta(hours=2)  # the hourly full run, with room for a late or skipped schedule
SKEW = timedelta(minutes=5)  # runners' clocks may disagree this much
_EVENT_ID = re.compile(r"evt_[A-Za-z0-9_]{1,255}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_FIELDS = {"version", "events", "full_at", "rosters"}


@dataclass(frozen=True)
class Cursor:
    mark: EventMark
    full_at: datetime
    rosters: Mapping[str, str] = field(default_factory=dict)  # roster file name -> sha256 of its bytes


class CursorError(ValueError):
    """A cursor file that cannot be used; the message says why."""


@dataclass(frozen=True)
class CursorRead:
    """What was found: the cursor when usable, else why not (`problem`), and the file's bytes then
    (None: no file), for the compare-and-swap of the write."""

    cursor: Cursor | None
    problem: str
    before: bytes | None


def cursor_path(first_roster: Path) -> Path:
    return first_roster.with_name(first_roster.stem + SUFFIX)


def fingerprint(texts: Mapping[Path, str]) -> dict[str, str]:
    """Each roster file's name and the sha256 of its bytes."""
    return {path.name: hashlib.sha256(text.encode("utf-8")).hexdigest() for path, text in texts.items()}


def read_cursor(path: Path, now: datetime, rosters: Mapping[Path, str]) -> CursorRead:
    """The cursor at `path` if an incremental run may start from it, given the rosters' texts as read."""
    try:
        before = path.read_bytes()
    except FileNotFoundError:
        return CursorRead(None, f"no cursor at {path} (the first run, or it was lost)", None)
    except OSError as exc:
        return CursorRead(None, f"cursor {path} is unreadable ({exc.strerror or type(exc).__name__})", None)
    try:
        cursor = parse_cursor(before)
    except CursorError as exc:
        return CursorRead(None, f"cursor {path} is unreadable ({exc})", before)
    problem = _unusable(cursor, path, now, fingerprint(rosters))
    return CursorRead(None if problem else cursor, problem, before)


def _unusable(cursor: Cursor, path: Path, now: datetime, rosters: Mapping[str, str]) -> str:
    if dict(cursor.rosters) != rosters:
        return (
            f"the rosters changed since cursor {path} was written (a hand edit, a merge, a revert or another "
            "tool's write), so the events before it may not be in them"
        )
    if cursor.full_at > now + SKEW:
        shown = f"{_shown(cursor.full_at)}, later than now ({_shown(now)})"
        return f"cursor {path} says the last full listing was at {shown}: the clocks disagree"
    if now - cursor.full_at > EVENTS_KEPT - MARGIN:
        days = (now - cursor.full_at).days
        return f"cursor {path} is {days} days old and Stripe keeps events {EVENTS_KEPT.days} days"
    if now - cursor.full_at > FULL_EVERY:
        hours = FULL_EVERY.total_seconds() / 3600
        return f"the last full listing was at {_shown(cursor.full_at)}, over {hours:g} h ago: the safety net is due"
    return ""


def _shown(when: datetime) -> str:
    return when.isoformat(timespec="seconds")


def parse_cursor(data: bytes) -> Cursor:
    """A cursor from a file's bytes; CursorError naming the first problem (values quoted, bounded)."""
    if len(data) > MAX_BYTES:
        raise CursorError(f"larger than {MAX_BYTES // 1024} KiB")
    try:
        raw = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise CursorError("not UTF-8") from None
    except (ValueError, RecursionError):
        raise CursorError("not JSON") from None
    if not isinstance(raw, dict):
        raise CursorError("not a JSON object")
    if set(raw) != _FIELDS:
        raise CursorError(f"expected the fields {', '.join(sorted(_FIELDS))}")
    if raw["version"] != VERSION or isinstance(raw["version"], bool):
        raise CursorError(f"version {quote_value(raw['version'])}, expected {VERSION}")
    events = raw["events"]
    if not isinstance(events, dict) or set(events) != {"created", "seen"}:
        raise CursorError("events: expected created and seen")
    created, seen = events["created"], events["seen"]
    if created is not None and (not isinstance(created, int) or isinstance(created, bool) or created < 0):
        raise CursorError(f"events.created: {quote_value(created)} is not a unix time")
    if not isinstance(seen, list) or len(seen) > MAX_SEEN or not all(_is(_EVENT_ID, s) for s in seen):
        raise CursorError(f"events.seen: expected at most {MAX_SEEN} event ids (evt_...)")
    rosters = raw["rosters"]
    if not isinstance(rosters, dict) or not all(
        isinstance(name, str) and 0 < len(name) <= 255 and "/" not in name and _is(_SHA256, digest)
        for name, digest in rosters.items()
    ):
        raise CursorError("rosters: expected roster file names and their sha256")
    return Cursor(EventMark(created, tuple(seen)), _when(raw, "full_at"), dict(rosters))


def _is(pattern: re.Pattern[str], value: Any) -> bool:
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def _when(raw: dict[str, Any], name: str) -> datetime:
    value = raw[name]
    try:
        if not isinstance(value, str) or len(value) > 40:
            raise ValueError
        when = datetime.fromisoformat(value)
    except ValueError:
        raise CursorError(f"{name}: {quote_value(value)} is not an ISO timestamp") from None
    if when.tzinfo is None:
        raise CursorError(f"{name}: {quote_value(value)} has no time zone")
    return when.astimezone(UTC)


def dump_cursor(cursor: Cursor) -> str:
    data = {
        "version": VERSION,
        "events": {"created": cursor.mark.created, "seen": list(cursor.mark.seen)},
        "full_at": _shown(cursor.full_at.astimezone(UTC)),
        "rosters": dict(sorted(cursor.rosters.items())),
    }
    return json.dumps(data, indent=2) + "\n"


CursorWrite = Literal["written", "unchanged", "taken"]


def write_cursor(path: Path, cursor: Cursor, before: bytes | None) -> CursorWrite:
    """Writes the cursor if the file still holds `before` (None: no file): `written`, or `unchanged` when
    it already held this cursor; `taken` when another run wrote it meanwhile (it is left as it is).
    OSError when the disk fails."""
    try:
        return "written" if swap_file(path, dump_cursor(cursor).encode("utf-8"), before) else "unchanged"
    except RosterChanged:
        return "taken"
