"""One clock for a test, a Node server under test and the stand-in for R2's clock.

`FakeClock` starts at the real time. `node_env()` gives the environment that preloads
tests/support/node_clock.cjs into a Node process, so its Date and timers follow this clock and stand still
otherwise; `advance(seconds)` moves the clock of every such process and of `now()` (pass it to
tests/support/sigv4_proxy.py as R2's clock), and returns once each process has run the timers due.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import httpx

from tests.support.servers import free_port

PRELOAD = Path(__file__).with_name("node_clock.cjs")


class FakeClock:
    def __init__(self) -> None:
        self.offset = 0.0
        self.ports: list[int] = []

    def now(self) -> float:
        return time.time() + self.offset

    def node_env(self) -> dict[str, str]:
        """Environment for one Node process on this clock (each gets its own control port)."""
        port = free_port()
        self.ports.append(port)
        return {"NODE_OPTIONS": f"--require={PRELOAD}", "FAKE_CLOCK_PORT": str(port)}

    def advance(self, seconds: float) -> None:
        self.offset += seconds
        for port in self.ports:
            with contextlib.suppress(httpx.ConnectError):  # that process has stopped
                httpx.post(f"http://127.0.0.1:{port}/advance", params={"ms": int(seconds * 1000)}, timeout=10)
