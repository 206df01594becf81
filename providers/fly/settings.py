"""Where the Fly client finds its base URL, token and tunables: read at call time, never stored in state.

Order: environment first (`FLY_API_URL`, `FLY_API_TOKEN`), then the stack config that Pulumi handed to
a provider's `configure()` (`alex-hosted:flyApiUrl`, secret `alex-hosted:flyApiToken`), then the default
URL. `configure()` stores what it received in the module-level holder below. That holder lives only in
the provider process: provider classes are pickled by reference and have no attributes, so nothing here
ever reaches `__provider` in the state.

Tunables (deadlines, rate) come from `ALEX_FLY_*` environment variables so tests can shorten them in a
provider process they start; production uses the defaults.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from common.received_config import ConfigLike, ReceivedConfig
from config.config_keys import FLY_API_TOKEN_ENV, FLY_API_URL_ENV, FLY_DEFAULT_API_URL, ConfigKey
from config.inputs import BadUrl, check_http_url, credential_problem
from providers.fly.errors import FlyConfigError

DEFAULT_API_URL = FLY_DEFAULT_API_URL
URL_ENV = FLY_API_URL_ENV
TOKEN_ENV = FLY_API_TOKEN_ENV
URL_CONFIG = ConfigKey.FLY_API_URL.qualified
TOKEN_CONFIG = ConfigKey.FLY_API_TOKEN.qualified

_received = ReceivedConfig((URL_CONFIG, TOKEN_CONFIG))


def remember_config(config: ConfigLike) -> None:
    """Keep the Fly keys of the stack config a provider's configure() received (provider process only)."""
    _received.remember(config)


def forget_config() -> None:
    """Drop what configure() handed over (tests)."""
    _received.forget()


def api_url() -> str:
    """Base URL without the `/v1` suffix and without a trailing slash; FlyConfigError naming its source if malformed."""
    from_env = os.environ.get(URL_ENV)
    url = from_env or _received.get(URL_CONFIG) or DEFAULT_API_URL
    source = f"environment variable {URL_ENV}" if from_env else f"stack config {URL_CONFIG}"
    try:
        url = check_http_url(url, source).rstrip("/")
    except BadUrl as exc:
        raise FlyConfigError(str(exc)) from None
    return url[: -len("/v1")] if url.endswith("/v1") else url


def api_token() -> str:
    """The token, or a FlyConfigError naming where it came from (never quoting it)."""
    from_env = os.environ.get(TOKEN_ENV)
    token = from_env or _received.get(TOKEN_CONFIG)
    if not token or not token.strip():
        raise FlyConfigError(
            f"no Fly API token: set the environment variable {TOKEN_ENV} "
            f"or the secret stack config {TOKEN_CONFIG} (pulumi config set --secret {TOKEN_CONFIG} ...)"
        )
    problem = credential_problem(token.strip())
    if problem:
        source = f"environment variable {TOKEN_ENV}" if from_env else f"stack config {TOKEN_CONFIG}"
        raise FlyConfigError(f"the Fly API token in {source} cannot be used: {problem}")
    return token.strip()


def _float_env(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise FlyConfigError(f"environment variable {name} must be a number of seconds, got {raw!r}") from exc


@dataclass(frozen=True)
class Tunables:
    """Deadlines and rates; every field has an `ALEX_FLY_*` environment override (see `tunables()`)."""

    rate_per_s: float = 1.0  # Fly's published limit per (action, app)
    burst: float = 3.0
    retry_base_s: float = 0.5  # backoff start for retried requests
    retries: int = 4
    wait_deadline_s: float = 300.0  # machine /wait loops
    app_visible_deadline_s: float = 60.0  # polling a new app until GET answers 200
    delete_deadline_s: float = 120.0  # volume "currently bound" retries, machine destroy wait
    create_deadline_s: float = 120.0  # machine/volume create attempts after ambiguous failures
    call_deadline_s: float = 120.0  # one API call's retries, 429s above all (Fly publishes no Retry-After)


def tunables() -> Tunables:
    """Read the tunables now (call time), so a provider process honours its environment."""
    base = Tunables()
    return Tunables(
        rate_per_s=_float_env("ALEX_FLY_RATE_PER_S", base.rate_per_s),
        burst=_float_env("ALEX_FLY_BURST", base.burst),
        retry_base_s=_float_env("ALEX_FLY_RETRY_BASE_S", base.retry_base_s),
        retries=int(_float_env("ALEX_FLY_RETRIES", base.retries)),
        wait_deadline_s=_float_env("ALEX_FLY_WAIT_DEADLINE_S", base.wait_deadline_s),
        app_visible_deadline_s=_float_env("ALEX_FLY_APP_VISIBLE_DEADLINE_S", base.app_visible_deadline_s),
        delete_deadline_s=_float_env("ALEX_FLY_DELETE_DEADLINE_S", base.delete_deadline_s),
        create_deadline_s=_float_env("ALEX_FLY_CREATE_DEADLINE_S", base.create_deadline_s),
        call_deadline_s=_float_env("ALEX_FLY_CALL_DEADLINE_S", base.call_deadline_s),
    )
