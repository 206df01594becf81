"""Pieces every Fly dynamic provider shares: the provider base class, input checks, diff helpers."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pulumi.dynamic import CheckFailure, ConfigureRequest, ResourceProvider

from common.provider_inputs import is_unknown
from providers.fly import settings
from tenants.naming import APP_NAME_RE, REGION_RE

# Whole-string patterns (fullmatch): `$` would also accept a trailing newline.


class FlyProvider(ResourceProvider):
    """Base for the Fly providers: no attributes, nothing secret, config handed to `settings`."""

    serialize_as_secret_always = False

    def configure(self, req: ConfigureRequest) -> None:
        settings.remember_config(req.config)


def changed_keys(
    olds: Mapping[str, Any],
    news: Mapping[str, Any],
    keys: Iterable[str],
    normalise: Callable[[Any], Any] = lambda v: v,
) -> list[str]:
    """Keys whose new value is unknown or differs (after `normalise`) from the stored one."""
    out = []
    for key in keys:
        new = news.get(key)
        if is_unknown(new) or normalise(olds.get(key)) != normalise(new):
            out.append(key)
    return out


def require_str(news: Mapping[str, Any], key: str, failures: list[CheckFailure], what: str) -> None:
    value = news.get(key)
    if is_unknown(value):
        return
    if not isinstance(value, str) or not value.strip():
        failures.append(CheckFailure(key, f"{key} is required: {what}"))


def check_app_name(news: Mapping[str, Any], key: str, failures: list[CheckFailure]) -> None:
    value = news.get(key)
    if is_unknown(value):
        return
    if not isinstance(value, str) or not APP_NAME_RE.fullmatch(value):
        failures.append(
            CheckFailure(key, f"{key} must be a Fly app name: lowercase a-z, 0-9 and '-', 1-63 chars, got {value!r}")
        )


def check_region(news: Mapping[str, Any], key: str, failures: list[CheckFailure]) -> None:
    value = news.get(key)
    if is_unknown(value):
        return
    if not isinstance(value, str) or not REGION_RE.fullmatch(value):
        failures.append(CheckFailure(key, f"{key} must be a three-letter Fly region code, got {value!r}"))
