"""App secrets: the whole map set in one write; its version feeds the machine's `min_secrets_version`.

Values are Pulumi secrets end to end: the Resource wraps them in `Output.secret` and marks the `values`
output secret; this module never logs them and never puts them in error text.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from typing import Any

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ReadResult, Resource, UpdateResult

from common.provider_inputs import as_int, is_unknown
from providers.fly import endpoints
from providers.fly.client import FlyClient, open_client
from providers.fly.common import FlyProvider, changed_keys, check_app_name
from providers.fly.errors import FlyNotFoundError, FlyResourceError

SECRET_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # whole string: fullmatch


# inputs
def _values(props: Mapping[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in dict(props.get("values") or {}).items()}


def _write(fly: FlyClient, app: str, values: Mapping[str, str | None]) -> int:
    """One POST setting (str) and unsetting (None) names; the same write twice is harmless, so retry is safe."""
    try:
        body = endpoints.set_secrets(fly, app, values)  # the values are marked secret for error text
    except FlyNotFoundError:
        raise FlyResourceError(f"cannot set secrets: Fly app {app!r} does not exist") from None
    version = as_int(body.get("version", body.get("Version")))
    return version if version is not None else 0


def _outs(app: str, values: Mapping[str, str], version: int) -> dict[str, Any]:
    return {"app": app, "values": dict(values), "version": version}


class SecretsProvider(FlyProvider):
    # check
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures: list[CheckFailure] = []
        check_app_name(news, "app", failures)
        values = news.get("values")
        if not is_unknown(values) and not isinstance(values, Mapping):
            failures.append(CheckFailure("values", "values must be a map of secret name to string value"))
        elif isinstance(values, Mapping):
            for key, value in values.items():
                if not SECRET_NAME_RE.fullmatch(str(key)):
                    failures.append(CheckFailure("values", f"secret name {key!r} must match {SECRET_NAME_RE.pattern}"))
                elif not is_unknown(value) and not isinstance(value, str):
                    # Name the key, never echo the value.
                    failures.append(CheckFailure("values", f"secret {key} must be a string"))
        return CheckResult({"app": news.get("app"), "values": values}, failures)

    # diff
    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = changed_keys(olds, news, ("app",))
        changes = changed_keys(olds, news, ("values",))
        return DiffResult(changes=bool(replaces or changes), replaces=replaces)

    # create
    def create(self, props: dict[str, Any]) -> CreateResult:
        app, values = str(props["app"]), _values(props)
        with open_client() as fly:
            version = _write(fly, app, values)
        return CreateResult(app, _outs(app, values, version))

    # read
    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        app, values = str(props.get("app") or id_), _values(props)
        with open_client() as fly:
            try:
                listed = endpoints.list_secrets(fly, app)
            except FlyNotFoundError:
                return ReadResult("", {})
        names = {str(s.get("name")) for s in listed}
        # Values are not read back (that would pull plain secrets); a name gone out of band drops out, so
        # the next diff restores it.
        kept = {k: v for k, v in values.items() if k in names}
        version = as_int(props.get("version")) or 0
        return ReadResult(id_, _outs(app, kept, version), inputs={"app": app, "values": kept})

    # update
    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        app, values = str(news["app"]), _values(news)
        removed: dict[str, str | None] = {k: None for k in _values(olds) if k not in values}
        with open_client() as fly:
            version = _write(fly, app, {**removed, **values})
        return UpdateResult(_outs(app, values, version))

    # delete
    def delete(self, id_: str, props: dict[str, Any]) -> None:
        app, values = str(props.get("app") or id_), _values(props)
        if not values:
            return
        # A missing app has taken its secrets with it.
        with open_client() as fly, contextlib.suppress(FlyResourceError):
            _write(fly, app, {k: None for k in values})


class Secrets(Resource, module="fly", name="Secrets"):
    """The app's secrets, set in one write; `version` is the write's version."""

    app: pulumi.Output[str]
    values: pulumi.Output[Mapping[str, str]]
    version: pulumi.Output[int]

    def __init__(
        self,
        resource_name: str,
        *,
        app: pulumi.Input[str],
        values: pulumi.Input[Mapping[str, pulumi.Input[str]]],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        secret_opts = pulumi.ResourceOptions(additional_secret_outputs=["values"])
        props = {"app": app, "values": pulumi.Output.secret(values), "version": None}
        super().__init__(SecretsProvider(), resource_name, props, pulumi.ResourceOptions.merge(opts, secret_opts))
