"""Is a username free? The roster's rule, then the names every roster holds, then open checkouts.

Three sources, in order, and the first that refuses gives the reason (never who holds a name):

1. `tenants.roster.username_error`: length, characters, punycode, reserved names.
2. The names file (`SIGNUP_NAMES_FILE`, `{"version": 1, "usernames": [...]}`): every username any roster of
   the domain holds, whatever its state. Re-read when its mtime changes; a file that cannot be read keeps
   the last good list (and the first read must succeed, or the app does not start).
3. Checkout: sessions that are open, or completed recently (the customer paid, but the sync and the
   deploy that put the name in the names file may not have run yet), whose `metadata.username` is the
   name; listed from Stripe at most every `ttl_s` seconds, plus the sessions this process created since
   the last listing (a listing can be up to `ttl_s` old).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import stripe

from tenants.roster import username_error

NAMES_VERSION = 1
LISTING_TTL_S = 10.0
# A completed checkout holds its name this long: the sync workflow, the apply and the names file's
# redeploy all happen within minutes; two days leaves room for a failed run to be retried by hand.
COMPLETED_HOLD_S = 2 * 86400
MAX_PAGES = 20  # 2,000 sessions per listing; more open checkouts than that is an attack, not customers


class NamesFileError(Exception):
    """The names file cannot be used (missing, not JSON, wrong shape)."""


@dataclass(frozen=True)
class Answer:
    username: str
    available: bool
    reason: str | None

    def to_json(self) -> dict[str, Any]:
        return {"username": self.username, "available": self.available, "reason": self.reason}


def read_names(path: Path) -> frozenset[str]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise NamesFileError(f"{path}: cannot be read as JSON ({type(exc).__name__})") from None
    if not isinstance(raw, dict) or raw.get("version") != NAMES_VERSION or not isinstance(raw.get("usernames"), list):
        raise NamesFileError(f'{path}: expected {{"version": {NAMES_VERSION}, "usernames": [...]}}')
    names = raw["usernames"]
    if not all(isinstance(n, str) for n in names):
        raise NamesFileError(f"{path}: every username must be a string")
    return frozenset(names)


class NamesFile:
    """The names file, re-read when its mtime (or size) changes."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._stamp = self._stat()
        self._names = read_names(path)  # the first read must succeed

    def _stat(self) -> tuple[int, int] | None:
        try:
            info = os.stat(self._path)
        except OSError:
            return None
        return info.st_mtime_ns, info.st_size

    def names(self) -> frozenset[str]:
        with self._lock:
            stamp = self._stat()
            if stamp is not None and stamp != self._stamp:
                try:
                    self._names = read_names(self._path)
                    self._stamp = stamp
                except NamesFileError as exc:
                    _log(f"names file: keeping the last good list: {exc}")
            return self._names


def _log(message: str) -> None:
    sys.stderr.write(f"signup: {message}\n")


class CheckoutHolds:
    """Usernames held by open or recently completed Checkout Sessions."""

    def __init__(
        self,
        client: stripe.StripeClient,
        *,
        ttl_s: float = LISTING_TTL_S,
        completed_hold_s: float = COMPLETED_HOLD_S,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._ttl = ttl_s
        self._completed_hold = completed_hold_s
        self._clock = clock
        self._wall = wall
        self._lock = threading.Lock()
        self._listed: frozenset[str] = frozenset()
        self._listed_at: float | None = None
        self._local: dict[str, tuple[str, float]] = {}  # username -> (session id, when created, monotonic)

    def created(self, username: str, session_id: str) -> None:
        """A session this process just created: held at once, whatever the last listing said."""
        with self._lock:
            self._local[username] = (session_id, self._clock())

    def holds(self, username: str) -> bool:
        return username in self.held()

    def held(self) -> frozenset[str]:
        with self._lock:
            now = self._clock()
            if self._listed_at is None or now - self._listed_at >= self._ttl:
                started = now
                try:
                    self._listed = frozenset(self._list())
                    self._listed_at = started
                    # A session created before this listing began is in it, or is no longer open.
                    self._local = {u: v for u, v in self._local.items() if v[1] >= started}
                except stripe.StripeError as exc:
                    # Keep the last listing (and every local hold): a name may be refused for a while, never
                    # given twice because Stripe was slow. Retry on the next question after a short pause.
                    _log(f"listing checkout sessions failed: {type(exc).__name__}")
                    self._listed_at = now - self._ttl + min(self._ttl, 2.0)
            return self._listed | frozenset(self._local)

    def _list(self) -> Iterable[str]:
        since = int(self._wall() - self._completed_hold)
        for status, extra in (("open", {}), ("complete", {"created": {"gte": since}})):
            params: dict[str, Any] = {"status": status, "limit": 100, **extra}
            for page_number in range(MAX_PAGES):
                page = self._client.v1.checkout.sessions.list(params=params)  # type: ignore[arg-type]
                for session in page.data:
                    name = _username_of(session)
                    if name is not None:
                        yield name
                if not page.has_more or not page.data:
                    break
                if page_number == MAX_PAGES - 1:
                    _log(f"more than {MAX_PAGES * 100} {status} checkout sessions; the rest are not read")
                params["starting_after"] = page.data[-1].id


def _username_of(session: Any) -> str | None:
    metadata = getattr(session, "metadata", None)
    if metadata is None or "username" not in metadata:
        return None
    value = metadata["username"]
    return value if isinstance(value, str) else None


class Availability:
    def __init__(self, names: NamesFile, holds: CheckoutHolds) -> None:
        self.names = names
        self.holds = holds

    def check(self, username: str) -> Answer:
        problem = username_error(username)
        if problem is not None:
            return Answer(username, False, problem)
        if username in self.names.names():
            return Answer(username, False, "this name is taken")
        if self.holds.holds(username):
            return Answer(username, False, "someone is signing up with this name right now; pick another")
        return Answer(username, True, None)
