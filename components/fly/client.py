"""FlyClient: the one small HTTP client for the Fly Machines REST API.

- Auth: a token that starts with `FlyV1 ` is sent as it is; any other gets `Bearer ` in front.
- Retries with exponential backoff and full jitter on 408/429/5xx and on dropped connections, but only
  for calls that are safe to repeat: GET/PUT/DELETE by default, a POST only when the caller says it is
  idempotent by construction. Machine create is never retried here (its provider adopts instead).
- A token bucket per (action, app) before every request (Fly: 1 req/s, burst 3).
- Errors come from `errors.raise_for_status`: status, Fly's message, fly-request-id; never the token.
- `transport=` is the httpx seam for unit tests (`httpx.MockTransport`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

import httpx

from components.fly import settings
from components.fly.errors import FlyRequestError, raise_for_status
from components.fly.ratelimit import RateLimiter, shared_limiter

TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_SAFE_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE"})
_MAX_BACKOFF_S = 8.0


def auth_header(token: str) -> str:
    return token if token.startswith("FlyV1 ") else f"Bearer {token}"


class FlyClient:
    """Synchronous Machines API client; build one per provider call (`open_client()`), then close it."""

    def __init__(
        self,
        *,
        base_url: str,
        token: str,
        transport: httpx.BaseTransport | None = None,
        limiter: RateLimiter | None = None,
        retries: int = 4,
        retry_base_s: float = 0.5,
        timeout: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._http = httpx.Client(
            base_url=base_url,
            headers={"Authorization": auth_header(token), "Accept": "application/json"},
            timeout=httpx.Timeout(timeout, connect=10.0),
            transport=transport,
            trust_env=False,  # never route Fly traffic through a proxy taken from the environment
        )
        self._limiter = limiter
        self._retries = retries
        self._retry_base_s = retry_base_s
        self._sleep = sleep
        self._jitter = jitter
        self.requests_sent = 0

    def __enter__(self) -> FlyClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def backoff(self, attempt: int) -> float:
        """Full jitter: a random delay in [0, base * 2**attempt], capped."""
        return float(min(_MAX_BACKOFF_S, self._retry_base_s * (2**attempt)) * self._jitter())

    def request(
        self,
        method: str,
        path: str,
        *,
        action: str,
        app: str,
        json: Any = None,
        params: Mapping[str, str | int | bool] | None = None,
        headers: Mapping[str, str] | None = None,
        retry: bool | None = None,
        timeout: float | None = None,
        expect: frozenset[int] = frozenset(),
    ) -> httpx.Response:
        """Send one call (retrying when safe); returns the response or raises a FlyError.

        `expect` lists error statuses the caller handles itself (returned, not raised or retried).
        """
        method = method.upper()
        repeatable = method in _SAFE_METHODS if retry is None else retry
        attempts = 1 + (self._retries if repeatable else 0)
        query = {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in (params or {}).items()}
        for attempt in range(attempts):
            last = attempt == attempts - 1
            if self._limiter is not None:
                self._limiter.acquire(action, app)
            self.requests_sent += 1
            try:
                response = self._http.request(
                    method,
                    path,
                    json=json,
                    params=query or None,
                    headers=dict(headers or {}),
                    timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
                )
            except httpx.TransportError as exc:
                if last:
                    raise FlyRequestError(method, path, type(exc).__name__) from None
                self._sleep(self.backoff(attempt))
                continue
            status = response.status_code
            if status in expect or status < 400:
                return response
            if status in TRANSIENT_STATUSES and not last:
                self._sleep(self.backoff(attempt))
                continue
            raise_for_status(response)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def call(self, method: str, path: str, *, action: str, app: str, **kwargs: Any) -> Any:
        """`request()` and decode the JSON body (None when empty)."""
        response = self.request(method, path, action=action, app=app, **kwargs)
        return response.json() if response.content else None


def open_client(*, transport: httpx.BaseTransport | None = None) -> FlyClient:
    """A client from the settings as they are now (env, then configure(), then defaults)."""
    tune = settings.tunables()
    limiter = shared_limiter(tune.rate_per_s, tune.burst) if tune.rate_per_s > 0 else None
    return FlyClient(
        base_url=settings.api_url(),
        token=settings.api_token(),
        transport=transport,
        limiter=limiter,
        retries=tune.retries,
        retry_base_s=tune.retry_base_s,
    )
