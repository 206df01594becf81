"""Acknowledge at once, act later, once per burst: the runner behind both Stripe webhook receivers.

Stripe sends several events for one change, and a burst of sign-ups sends many, while the work an
event asks for (a sync run, or a workflow dispatch that runs one) is level-triggered: one run after the
last event of a burst sees everything. So an event only counts itself in (`notify`, which returns at
once); the first one opens a window of `debounce_s`, every event until it closes joins it, and the
window ends in one call of `action(count)`, on a timer thread. Calls never overlap: events that arrive
while one runs wait, and open the next window when it ends.

`action` returns True when done, False to be tried again: the window's events are kept and a new window
opens after `retry_s`, doubling on each failure in a row up to `retry_cap_s` (0: no retry, they wait for
the next event).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable

RETRY_CAP_S = 600.0


class Coalescer:
    def __init__(
        self,
        action: Callable[[int], bool],
        debounce_s: float,
        *,
        retry_s: float = 0.0,
        retry_cap_s: float = RETRY_CAP_S,
        name: str = "coalesce",
    ) -> None:
        self._action = action
        self._debounce = debounce_s
        self._retry = retry_s
        self._retry_cap = retry_cap_s
        self._name = name
        self._changed = threading.Condition()
        self._pending = 0
        self._timer: threading.Timer | None = None
        self._running = False
        self._closed = False
        self._failures = 0  # in a row
        self.runs = 0  # calls of `action` that finished (done or not)

    def notify(self) -> None:
        """One event: joins the open window or opens one. Returns at once."""
        with self._changed:
            self._pending += 1
            if self._timer is None and not self._running:
                self._arm(self._debounce)

    @property
    def pending(self) -> int:
        with self._changed:
            return self._pending

    def _arm(self, delay: float) -> None:
        if self._closed:
            return
        self._timer = threading.Timer(delay, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        with self._changed:
            count, self._pending, self._timer = self._pending, 0, None
            if not count or self._closed:
                self._changed.notify_all()
                return
            self._running = True
        done = False
        try:
            done = self._action(count)
        except Exception as exc:  # a bug in the action must not kill the runner: log one line, try again later
            sys.stderr.write(f"{self._name}: run failed: {type(exc).__name__}\n")
        with self._changed:
            self._running = False
            self.runs += 1
            if done or not self._retry:
                self._failures = 0
                if self._pending:
                    self._arm(self._debounce)
            else:
                self._pending += count
                self._failures += 1
                self._arm(min(self._retry * 2 ** (self._failures - 1), self._retry_cap))
            self._changed.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Blocks until nothing is pending, armed or running (True), or `timeout` passes (False)."""
        with self._changed:
            return self._changed.wait_for(
                lambda: not self._pending and self._timer is None and not self._running, timeout
            )

    def wait_runs(self, runs: int, timeout: float) -> bool:
        """Blocks until `runs` calls of the action have finished (True), or `timeout` passes (False)."""
        with self._changed:
            return self._changed.wait_for(lambda: self.runs >= runs, timeout)

    def close(self) -> None:
        """Stops a pending window without running it (the process is going away)."""
        with self._changed:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._changed.notify_all()
