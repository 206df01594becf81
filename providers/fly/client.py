"""FlyClient: the one small HTTP client for the Fly Machines REST API.

- Auth: a token that starts with `FlyV1 ` is sent as it is; any other gets `Bearer ` in front.
- 429 is retried for every method, POST included: Fly refused the request before doing anything, so
  repeating it cannot make a second app, volume, machine, address or certificate. It waits what
  `Retry-After` asks (seconds or an HTTP date, capped at `MAX_RETRY_AFTER_S`), else the jittered backoff,
  and keeps at it until the call's deadline (`deadline_s`; `open_client` sets `call_deadline_s`), or
  `retries` times when the call has none.
- 408, 5xx and dropped connections are retried with exponential backoff and full jitter only for calls
  that are safe to repeat: GET/PUT/DELETE by default, a POST only when the caller says it is idempotent
  by construction. A create's 5xx may have been processed: its provider looks before posting again
  (`converge.create_or_adopt`). A 503 with `Retry-After` waits that long, as a 429 does.
  An unreadable `Retry-After` falls back to the jittered backoff; a wait that would pass the call's
  deadline ends the retries with the error at hand.
- A token bucket per (action, app) before every request (Fly: 1 req/s, burst 3). `app` is the app in the
  path, or the new app's name for an app create (`POST /v1/apps`), so app creates are never paced
  against each other here; Fly's limit on them is its own, met by the 429 retries.
- Errors come from `errors.raise_for_status`: status, Fly's message, fly-request-id; scrubbed of the
  token and of every value the caller marks secret (`secrets=`), whatever an echoing endpoint sends back.
- `transport=` is the httpx seam for unit tests (`httpx.MockTransport`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from common.closing import ClosesOnExit
from common.redact import scrub
from common.retry_after import retry_after_s
from config.inputs import credential_problem
from providers.fly import settings
from providers.fly.deadline import Deadline
from providers.fly.errors import FlyConfigError, FlyRequestError, FlyResponseError, raise_for_status
from providers.fly.ratelimit import RateLimiter, shared_limiter

THROTTLED = 429  # Fly did not process the request: safe to repeat for every method
TRANSIENT_STATUSES = frozenset({408, THROTTLED, 500, 502, 503, 504})
RETRY_AFTER_STATUSES = frozenset({THROTTLED, 503})
MAX_RETRY_AFTER_S = 60.0  # a longer ask is treated as this: a provider call must not hang for hours
_SAFE_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE"})
_MAX_BACKOFF_S = 8.0
_MAX_THROTTLED_RETRIES = 100  # a fail-safe for a server that answers 429 with `Retry-After: 0` for ever


def auth_header(token: str) -> str:
    return token if token.startswith("FlyV1 ") else f"Bearer {token}"


class FlyClient(ClosesOnExit):
    """Synchronous Machines API client; build one per provider call (`open_client()`), then close it.

    `clock` and `sleep` are the time every wait of a call runs on: the backoff between attempts here and
    the provider loops' deadlines (`deadline()`), so a test can hand in a fake clock.
    """

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
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        deadline_s: float | None = None,
    ) -> None:
        problem = credential_problem(token)
        if problem:
            raise FlyConfigError(f"the Fly API token cannot be used: {problem}")
        token = token.strip()
        # Everything an echoing endpoint could hand back of our credentials.
        self._secrets: tuple[str, ...] = (token, auth_header(token))
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
        self._clock = clock
        self._wall_clock = wall_clock
        self._deadline_s = deadline_s
        self.requests_sent = 0

    def close(self) -> None:
        self._http.close()

    def deadline(self, seconds: float, what: str) -> Deadline:
        """A Deadline on this client's clock and sleep."""
        return Deadline(seconds, what, clock=self._clock, sleep=self._sleep)

    def backoff(self, attempt: int) -> float:
        """Full jitter: a random delay in [0, base * 2**attempt], capped."""
        return float(min(_MAX_BACKOFF_S, self._retry_base_s * (2**attempt)) * self._jitter())

    def retry_delay(self, response: httpx.Response, attempt: int, remaining: float | None) -> float | None:
        """How long to wait before the next attempt; None when the wait would outlast the call's deadline."""
        asked = None
        if response.status_code in RETRY_AFTER_STATUSES:
            asked = retry_after_s(response.headers.get("Retry-After"), self._wall_clock())
        delay = min(asked, MAX_RETRY_AFTER_S) if asked is not None else self.backoff(attempt)
        if remaining is not None and delay > remaining:
            return None
        return delay

    def scrub(self, text: str, extra: Iterable[str] = ()) -> str:
        """`text` without the token (any form) or any of `extra`."""
        return scrub(text, (*self._secrets, *extra))

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
        secrets: Iterable[str] = (),
        deadline_s: float | None = None,
    ) -> httpx.Response:
        """Send one call (retrying when safe); returns the response or raises a FlyError.

        `action` and `app` key the rate limiter: `app` is the app in the path, or the new app's name for
        an app create. `retry` says whether a 408/5xx/dropped call may be sent again (default: by method);
        a 429 is retried whatever it says.
        `expect` lists error statuses the caller handles itself (returned, not raised or retried).
        `secrets` are values this call sends that no error text may echo (the token always counts).
        `deadline_s` bounds the retries and the waits between them (default: the client's, else none).
        """
        hidden = (*self._secrets, *secrets)
        budget = deadline_s if deadline_s is not None else self._deadline_s
        end = None if budget is None else self._clock() + budget
        method = method.upper()
        repeatable = method in _SAFE_METHODS if retry is None else retry
        # 429s are bounded by the deadline; without one, by `retries` like the other failures.
        throttle_limit = _MAX_THROTTLED_RETRIES if end is not None else self._retries
        query = {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in (params or {}).items()}
        attempt = failed = throttled = 0  # retries so far: all (backoff exponent), after 408/5xx/no answer, after 429
        while True:
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
                if not repeatable or failed >= self._retries:
                    raise FlyRequestError(method, self.scrub(path, secrets), type(exc).__name__) from None
                self._sleep(self.backoff(attempt))
                attempt, failed = attempt + 1, failed + 1
                continue
            status = response.status_code
            if status in expect or status < 400:
                return response
            if status == THROTTLED:
                may_retry = throttled < throttle_limit
            else:
                may_retry = status in TRANSIENT_STATUSES and repeatable and failed < self._retries
            remaining = None if end is None else end - self._clock()
            delay = self.retry_delay(response, attempt, remaining) if may_retry else None
            if delay is not None:
                self._sleep(delay)
                attempt += 1
                throttled, failed = (throttled + 1, failed) if status == THROTTLED else (throttled, failed + 1)
                continue
            raise_for_status(response, hidden)
            raise AssertionError("unreachable: raise_for_status raises for every status >= 400")

    def call(self, method: str, path: str, *, action: str, app: str, **kwargs: Any) -> Any:
        """`request()` and decode the JSON body (None when empty)."""
        return self.decode(self.request(method, path, action=action, app=app, **kwargs))

    def decode(self, response: httpx.Response) -> Any:
        """The JSON body (None when empty); a body that is not JSON is a FlyResponseError, never quoted."""
        if not response.content:
            return None
        try:
            return response.json()
        except (ValueError, RecursionError):  # the body may echo what we sent: name its size only
            request = response.request
            raise FlyResponseError(
                request.method, self.scrub(request.url.path), response.status_code, len(response.content)
            ) from None


def open_client(
    *,
    transport: httpx.BaseTransport | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> FlyClient:
    """A client from the settings as they are now (env, then configure(), then defaults).

    `clock` and `sleep` are what the client, its deadlines and the process's limiter run on (tests).
    """
    tune = settings.tunables()
    limiter = shared_limiter(tune.rate_per_s, tune.burst, clock=clock, sleep=sleep) if tune.rate_per_s > 0 else None
    return FlyClient(
        base_url=settings.api_url(),
        token=settings.api_token(),
        transport=transport,
        limiter=limiter,
        retries=tune.retries,
        retry_base_s=tune.retry_base_s,
        clock=clock,
        sleep=sleep,
        deadline_s=tune.call_deadline_s,
    )
