"""Checkout Sessions by id, for /welcome and /api/ready: Stripe is asked at most once per id in a while.

A completed session of ours is remembered (it never changes back); one Stripe does not know, or one
that is not a completed signup of ours, is remembered as such for `missing_ttl_s`, and one not
finished yet for `unfinished_ttl_s` (it may finish any moment). Both memories are bounded, oldest
first out. A lookup that misses both is the only one that costs a Stripe call, and the app rate-limits
those (signup/app.py): fresh made-up ids cost one call each, at that rate and no faster.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import stripe

from tenants.roster import username_error

KNOWN_LIMIT = 1000
MISSING_LIMIT = 10_000
MISSING_TTL_S = 600.0
UNFINISHED_TTL_S = 5.0


@dataclass(frozen=True)
class Completed:
    username: str
    email: str | None


@dataclass(frozen=True)
class Missing:
    """No completed signup of ours: `unfinished` when the session exists but is not complete yet."""

    unfinished: bool = False


Lookup = Completed | Missing


class Sessions:
    def __init__(
        self,
        client: stripe.StripeClient,
        *,
        known_limit: int = KNOWN_LIMIT,
        missing_limit: int = MISSING_LIMIT,
        missing_ttl_s: float = MISSING_TTL_S,
        unfinished_ttl_s: float = UNFINISHED_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._known_limit = known_limit
        self._missing_limit = missing_limit
        self._missing_ttl = missing_ttl_s
        self._unfinished_ttl = unfinished_ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._known: OrderedDict[str, Completed] = OrderedDict()
        self._missing: OrderedDict[str, tuple[Missing, float]] = OrderedDict()  # id -> (answer, until)

    def cached(self, session_id: str) -> Lookup | None:
        """What is remembered of the id, or None when only Stripe can say."""
        with self._lock:
            known = self._known.get(session_id)
            if known is not None:
                return known
            missing = self._missing.get(session_id)
            if missing is None:
                return None
            answer, until = missing
            if self._clock() < until:
                return answer
            del self._missing[session_id]
            return None

    def lookup(self, session_id: str) -> Lookup:
        """Asks Stripe (raises stripe.StripeError other than "no such session"), and remembers the answer."""
        try:
            session = self._client.v1.checkout.sessions.retrieve(session_id)
        except stripe.InvalidRequestError:
            return self._remember_missing(session_id, Missing())
        found = _completed_signup(session)
        if isinstance(found, Missing):
            return self._remember_missing(session_id, found)
        with self._lock:
            self._missing.pop(session_id, None)
            self._known[session_id] = found
            while len(self._known) > self._known_limit:
                self._known.popitem(last=False)
        return found

    def _remember_missing(self, session_id: str, answer: Missing) -> Missing:
        ttl = self._unfinished_ttl if answer.unfinished else self._missing_ttl
        with self._lock:
            self._missing.pop(session_id, None)
            self._missing[session_id] = (answer, self._clock() + ttl)
            while len(self._missing) > self._missing_limit:
                self._missing.popitem(last=False)
        return answer

    def __len__(self) -> int:
        with self._lock:
            return len(self._known) + len(self._missing)


def _completed_signup(session: Any) -> Lookup:
    metadata = getattr(session, "metadata", None)
    username = metadata["username"] if metadata is not None and "username" in metadata else None
    if not isinstance(username, str) or username_error(username):
        return Missing()
    if session.status != "complete":
        return Missing(unfinished=session.status == "open")
    details = getattr(session, "customer_details", None)
    email = getattr(details, "email", None) or getattr(session, "customer_email", None)
    return Completed(username, email if isinstance(email, str) else None)
