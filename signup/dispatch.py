"""Ask GitHub to run the Stripe sync workflow, at most once per debounce window.

Stripe sends several events for one signup (customer.created, customer.subscription.created,
checkout.session.completed, invoice.*), and a burst of signups sends many: the windows are
billing.coalesce's (the first event opens one of `debounce_s`, every event until it closes joins it),
and a window ends in one `workflow_dispatch` (`POST /repos/{repo}/actions/workflows/{workflow}/dispatches`,
ref `main`, inputs `{"reason": "webhook: N events", "mode": "incremental"}`). Events that arrive while a
dispatch is being sent open the next window when it is done. A dispatch says only "look again": the run
reads Stripe's own events since its cursor, never this site's deliveries (billing/incremental.py), so
one that fails after every retry is logged, and the next event's run or the hourly full run catches up.

Retries: network errors, 429 and 5xx, with exponential backoff (`Retry-After` when GitHub sends one,
capped). One log line per dispatch; the token is never logged.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from billing.coalesce import Coalescer

API_VERSION = "2022-11-28"
RETRY_CAP_S = 60.0


@dataclass(frozen=True)
class DispatchTarget:
    api_url: str
    repository: str
    token: str
    workflow: str
    ref: str = "main"

    @property
    def url(self) -> str:
        return f"{self.api_url.rstrip('/')}/repos/{self.repository}/actions/workflows/{self.workflow}/dispatches"


def _log(message: str) -> None:
    sys.stderr.write(f"signup: {message}\n")


class Dispatcher:
    def __init__(
        self,
        target: DispatchTarget | None,
        debounce_s: float,
        *,
        attempts: int = 5,
        backoff_s: float = 2.0,
        timeout_s: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._target = target
        self._attempts = attempts
        self._backoff = backoff_s
        self._timeout = timeout_s
        self._sleep = sleep
        self._windows = Coalescer(self._window, debounce_s, name="signup")
        self._session = requests.Session()
        if target is not None:
            self._session.trust_env = urlsplit(target.api_url).hostname not in ("127.0.0.1", "localhost", "::1")
        self.sent: list[int] = []  # events per finished window (a dispatch GitHub accepted); for health and tests
        self.failed = 0

    def notify(self) -> None:
        """One event: joins the open window or opens one. Returns at once."""
        self._windows.notify()

    @property
    def pending(self) -> int:
        return self._windows.pending

    def wait_idle(self, timeout: float) -> bool:
        """Blocks until no window is open or being sent (True), or `timeout` passes; for tests."""
        return self._windows.wait_idle(timeout)

    def _window(self, count: int) -> bool:
        self._send(count)
        return True  # sent, or given up after the retries: the scheduled sync catches up

    def _send(self, count: int) -> None:
        target = self._target
        reason = f"webhook: {count} event{'s' if count != 1 else ''}"
        if target is None:
            _log(f"dispatch skipped ({reason}): GITHUB_REPOSITORY or GITHUB_DISPATCH_TOKEN is not set")
            return
        headers = {
            "Authorization": f"Bearer {target.token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": "alex-hosted-signup",
        }
        body: dict[str, Any] = {"ref": target.ref, "inputs": {"reason": reason, "mode": "incremental"}}
        outcome = "no answer"
        for attempt in range(1, self._attempts + 1):
            retry_after: float | None = None
            try:
                response = self._session.post(target.url, json=body, headers=headers, timeout=self._timeout)
            except requests.RequestException as exc:
                outcome = type(exc).__name__
            else:
                outcome = f"HTTP {response.status_code}"
                if response.status_code < 300:
                    self.sent.append(count)
                    _log(f"dispatched {target.workflow} on {target.ref} ({reason}): {outcome}, attempt {attempt}")
                    return
                if response.status_code != 429 and response.status_code < 500:
                    break  # GitHub refused the request itself (bad token, unknown workflow or input): no retry
                header = response.headers.get("Retry-After", "")
                retry_after = float(header) if header.isascii() and header.isdigit() else None
            if attempt < self._attempts:
                delay = retry_after if retry_after is not None else self._backoff * 2 ** (attempt - 1)
                self._sleep(min(delay, RETRY_CAP_S))
        self.failed += 1
        _log(f"dispatch of {target.workflow} failed ({reason}): {outcome}; the scheduled sync will catch up")

    def close(self) -> None:
        """Stops a pending window without sending (the process is going away)."""
        self._windows.close()
