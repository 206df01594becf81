"""Waiting on a condition with a deadline: the one place a test's wait may look at the wall clock.

A test body never sleeps (tests/test_house_rules.py): it waits for what it needs to be true, here, on an
event, or on an injected clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(condition: Callable[[], object], what: str, *, timeout: float = 5.0, interval: float = 0.01) -> None:
    """Returns as soon as `condition()` is true; AssertionError naming `what` once `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
