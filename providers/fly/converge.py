"""The two loops that drive a Fly resource to exist or to be gone, written once for every provider.

`create_or_adopt`: Fly's creates are not idempotent (a second POST is a second volume or machine), and
an ambiguous failure (no answer, a timeout, a 5xx) may come after the work was done. So the resource is
looked up after every ambiguous failure, and only posted again when the lookup finds nothing. An
earlier run may have made it too: a volume is looked up before the first POST; a resource whose name
Fly keeps unique (a machine, a certificate) is posted at once, and its refusal (`exists`) sends us
looking. A 429 is not ambiguous (Fly did nothing) and the client has already retried it until the
call's deadline: it ends the create.

`delete_until_gone`: 404 means gone; a "busy" answer (409/412: a volume still bound to a machine
destroyed moments ago) is retried under a Deadline, or, without one, left to the caller's own wait.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from providers.fly.client import THROTTLED, TRANSIENT_STATUSES
from providers.fly.deadline import Deadline
from providers.fly.errors import FlyError, FlyNotFoundError, FlyRequestError, FlyStatusError

T = TypeVar("T")

BUSY_STATUSES = frozenset({409, 412})  # Fly: the resource is in a state where it cannot go yet


def is_ambiguous(exc: FlyError) -> bool:
    """A write that may or may not have happened: no answer, a timeout or a server fault (never a 429)."""
    if isinstance(exc, FlyStatusError):
        return exc.status in TRANSIENT_STATUSES and exc.status != THROTTLED
    return isinstance(exc, FlyRequestError)


def create_or_adopt(
    find: Callable[[], T | None],
    create: Callable[[], T],
    *,
    deadline: Deadline,
    retries: int,
    backoff: Callable[[int], float],
    look_first: bool = True,
    exists: frozenset[int] = frozenset(),
) -> T:
    """What `find` sees, else what `create` makes; after an ambiguous failure, `find` before posting again.

    `exists` are statuses saying the resource is already there (a certificate's 409/422): adopt what
    `find` then sees, or raise. Posting again stops after `retries` repeats or at the deadline; the last
    failure is still followed by a look, since that very POST may have made the resource.
    """
    if look_first:
        found = find()
        if found is not None:
            return found
    attempt = 0
    while True:
        try:
            return create()
        except FlyError as exc:
            taken = isinstance(exc, FlyStatusError) and exc.status in exists
            if not (taken or is_ambiguous(exc)):
                raise
            final = taken or attempt >= retries or deadline.passed()
            if not final:
                deadline.sleep(backoff(attempt))
            found = find()  # never post again before looking
            if found is not None:
                return found
            if final:
                raise
            attempt += 1


def delete_until_gone(
    delete: Callable[[], object],
    *,
    busy: frozenset[int] = frozenset(),
    deadline: Deadline | None = None,
    pause: Callable[[int], float] = lambda _attempt: 0.0,
) -> bool:
    """Send `delete`; True when Fly took it (or, with no deadline, answered busy), False when already gone (404).

    A `busy` status is retried after `pause(attempt)` until `deadline` passes; with no deadline it is
    taken as "on its way out already" and the caller waits for the end itself.
    """
    attempt = 0
    while True:
        try:
            delete()
            return True
        except FlyNotFoundError:
            return False
        except FlyStatusError as exc:
            if exc.status not in busy:
                raise
            if deadline is None:
                return True
            if deadline.passed():
                raise
            deadline.sleep(pause(attempt))
            attempt += 1
