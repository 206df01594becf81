"""Stripe webhook handling without sockets: verify, filter, acknowledge, then run the same reconcile.

The event only triggers a run, later and once per burst (billing.coalesce); its payload is never
trusted over a fresh read of Stripe, because events arrive late, out of order, more than once and in
the endpoint's API version (reference docs/reference/stripe.md §2.3, §3.3). Replays are harmless twice
over: an event id already counted is acknowledged without joining a run, and a run that finds nothing
new leaves the roster byte-identical anyway.
"""

from __future__ import annotations

import json
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import stripe

from billing.coalesce import Coalescer
from billing.report import RunSummary
from billing.sync import SyncError

HANDLED_PREFIXES = ("customer.subscription.",)
HANDLED_TYPES = frozenset({"customer.deleted", "customer.updated"})
TOLERANCE_SECONDS = 300  # Stripe's default; Stripe re-signs every delivery attempt
_SEEN_LIMIT = 1000
MAX_EVENT_BYTES = 1024 * 1024  # a receiver's body cap: Stripe events are a few KB
DEBOUNCE_S = 10.0  # a burst of Stripe events for one change arrives within seconds
RETRY_S = 30.0  # a failed run is tried again after this, doubling up to billing.coalesce.RETRY_CAP_S


def is_handled(event_type: str) -> bool:
    return event_type in HANDLED_TYPES or event_type.startswith(HANDLED_PREFIXES)


def _event_fields(body: bytes) -> tuple[str, str] | None:
    """(id, type) of a JSON object with both as non-empty strings; None for anything else.

    A signed body is still checked: the secret may have leaked, and a valid signature says nothing of
    its shape (a list, nesting deep enough to exhaust the recursion limit, numbers where strings belong).
    """
    try:
        event = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(event, dict):
        return None
    event_id, event_type = event.get("id"), event.get("type")
    if not isinstance(event_id, str) or not isinstance(event_type, str) or not event_id or not event_type:
        return None
    return event_id, event_type


class RejectedEvent(ValueError):
    """A delivery that is not a signed Stripe event; the message is the 400's."""


def verified_event(
    body: bytes, headers: Mapping[str, str], secret: str, tolerance: int = TOLERANCE_SECONDS
) -> tuple[str, str]:
    """(id, type) of a Stripe event signed with `secret`; RejectedEvent for anything else. One check for
    every receiver (this handler, the signup site's)."""
    signature = next((v for k, v in headers.items() if k.lower() == "stripe-signature"), None)
    try:
        stripe.WebhookSignature.verify_header(body.decode("utf-8"), signature or "", secret, tolerance)
    except stripe.SignatureVerificationError as exc:
        raise RejectedEvent(f"signature rejected: {exc.user_message or exc}") from None
    except UnicodeDecodeError:
        raise RejectedEvent("body is not UTF-8") from None
    event = _event_fields(body)
    if event is None:
        raise RejectedEvent("body is not a Stripe event (needs string id and type)")
    return event


@dataclass(frozen=True)
class WebhookResponse:
    status: int
    body: dict[str, Any] = field(default_factory=dict)


class EventIntake:
    """The part every receiver shares: verify, keep the `wanted` event types, count each event id once,
    and `notify` (which must return at once: the answer never waits for the work)."""

    def __init__(
        self,
        secret: str,
        wanted: Callable[[str], bool],
        notify: Callable[[], None],
        *,
        tolerance: int = TOLERANCE_SECONDS,
    ) -> None:
        self._secret = secret
        self._wanted = wanted
        self._notify = notify
        self._tolerance = tolerance
        self._lock = threading.Lock()
        self._seen: OrderedDict[str, None] = OrderedDict()

    def handle(self, body: bytes, headers: Mapping[str, str]) -> WebhookResponse:
        try:
            event_id, event_type = verified_event(body, headers, self._secret, self._tolerance)
        except RejectedEvent as exc:
            return WebhookResponse(400, {"error": str(exc)})
        if not self._wanted(event_type):
            return WebhookResponse(200, {"event": event_id, "ignored": event_type})
        with self._lock:
            if event_id in self._seen:
                return WebhookResponse(200, {"event": event_id, "duplicate": True})
            self._seen[event_id] = None
            while len(self._seen) > _SEEN_LIMIT:
                self._seen.popitem(last=False)
        self._notify()
        return WebhookResponse(200, {"event": event_id, "type": event_type, "sync": "scheduled"})


class WebhookHandler(EventIntake):
    """The standalone receiver: `sync` runs one reconcile (SyncError when it cannot). Events are
    acknowledged at once and coalesce (billing.coalesce): one run per burst, runs one after another, a
    failed run tried again after `retry_s` (doubling, capped), as Stripe no longer needs to redeliver."""

    def __init__(
        self,
        secret: str,
        sync: Callable[[], RunSummary],
        *,
        tolerance: int = TOLERANCE_SECONDS,
        debounce_s: float = DEBOUNCE_S,
        retry_s: float = RETRY_S,
    ) -> None:
        self._sync = sync
        self.runs = Coalescer(self._run, debounce_s, retry_s=retry_s, name="stripe_webhook")
        self.last: RunSummary | None = None  # the last run that finished
        super().__init__(secret, is_handled, self.runs.notify, tolerance=tolerance)

    def _run(self, events: int) -> bool:
        try:
            summary = self._sync()
        except SyncError as exc:
            _log(f"sync for {events} event(s) failed, will try again: {exc}")
            return False
        self.last = summary
        report = summary.report
        attention = ", needs attention" if report.needs_attention else ""
        _log(f"sync for {events} event(s): {len(report.changes)} change(s), written={summary.written}{attention}")
        return True

    def close(self) -> None:
        self.runs.close()


def _log(message: str) -> None:
    sys.stderr.write(f"stripe_webhook: {message}\n")
