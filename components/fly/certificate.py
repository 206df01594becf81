"""ACME certificate for a tenant hostname. `up` does not wait for issuance; status is an output."""

from __future__ import annotations

import contextlib
import re
from typing import Any
from urllib.parse import quote

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ReadResult, Resource, UpdateResult

from components.fly.client import FlyClient, open_client
from components.fly.common import FlyProvider, changed_keys, check_app_name, is_ambiguous, is_unknown
from components.fly.errors import FlyError, FlyNotFoundError, FlyResourceError, FlyStatusError

HOSTNAME_RE = re.compile(r"(?=.{1,253}\Z)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")  # fullmatch
KEYS = ("app", "hostname")


# inputs
def _path(app: str, hostname: str = "") -> str:
    return f"/v1/apps/{app}/certificates" + (f"/{quote(hostname, safe='')}" if hostname else "")


def _outs(app: str, hostname: str, cert: dict[str, Any]) -> dict[str, Any]:
    dns = cert.get("dns_requirements") or {}
    acme = dns.get("acme_challenge") or {}
    ownership = dns.get("ownership") or {}
    errors = cert.get("validation_errors") or []
    return {
        "app": app,
        "hostname": hostname,
        "status": str(cert.get("status") or ""),
        "cname_target": str(dns.get("cname") or f"{app}.fly.dev"),
        "acme_challenge_name": str(acme.get("name") or ""),
        "acme_challenge_target": str(acme.get("target") or ""),
        "ownership_name": str(ownership.get("name") or ""),
        "ownership_value": str(ownership.get("app_value") or ownership.get("value") or ""),
        "validation_errors": [e if isinstance(e, str) else str(e.get("message") or e) for e in errors],
    }


def _get(fly: FlyClient, app: str, hostname: str) -> dict[str, Any] | None:
    try:
        return dict(fly.call("GET", _path(app, hostname), action="get_certificate", app=app))
    except FlyNotFoundError:
        return None


class CertificateProvider(FlyProvider):
    # check
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures: list[CheckFailure] = []
        check_app_name(news, "app", failures)
        host = news.get("hostname")
        if not is_unknown(host) and not (isinstance(host, str) and HOSTNAME_RE.fullmatch(host)):
            failures.append(CheckFailure("hostname", f"hostname must be a lowercase DNS name, got {host!r}"))
        return CheckResult({k: news.get(k) for k in KEYS}, failures)

    # diff
    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # Status moves by itself (pending -> active): an output, never a diff.
        replaces = changed_keys(olds, news, KEYS)
        return DiffResult(changes=bool(replaces), replaces=replaces)

    # create
    def create(self, props: dict[str, Any]) -> CreateResult:
        app, hostname = str(props["app"]), str(props["hostname"])
        with open_client() as fly:
            try:
                cert = fly.call(
                    "POST",
                    _path(app, "") + "/acme",
                    action="create_certificate",
                    app=app,
                    json={"hostname": hostname},
                    retry=False,
                )
            except FlyError as exc:
                # Already there (a retried create) or maybe made: the GET decides.
                exists = isinstance(exc, FlyStatusError) and exc.status in (409, 422)
                if not (exists or is_ambiguous(exc)):
                    raise
                cert = _get(fly, app, hostname)
                if cert is None:
                    raise
        return CreateResult(hostname, _outs(app, hostname, cert))

    # read
    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        app, hostname = str(props["app"]), str(props.get("hostname") or id_)
        with open_client() as fly:
            cert = _get(fly, app, hostname)
        if cert is None:
            return ReadResult("", {})
        return ReadResult(id_, _outs(app, hostname, cert), inputs={"app": app, "hostname": hostname})

    # update
    def update(self, id_: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        app, hostname = str(news["app"]), str(news["hostname"])
        with open_client() as fly:
            cert = _get(fly, app, hostname)
        if cert is None:
            raise FlyResourceError(f"certificate {hostname} of app {app} is gone; run `pulumi refresh`")
        return UpdateResult(_outs(app, hostname, cert))

    # delete
    def delete(self, id_: str, props: dict[str, Any]) -> None:
        app, hostname = str(props["app"]), str(props.get("hostname") or id_)
        with open_client() as fly, contextlib.suppress(FlyNotFoundError):
            fly.request("DELETE", _path(app, hostname), action="delete_certificate", app=app)


class Certificate(Resource, module="fly", name="Certificate"):
    """An ACME certificate for `hostname` on `app`, with the DNS records Fly asks for."""

    status: pulumi.Output[str]
    cname_target: pulumi.Output[str]
    acme_challenge_name: pulumi.Output[str]
    acme_challenge_target: pulumi.Output[str]
    ownership_name: pulumi.Output[str]
    ownership_value: pulumi.Output[str]
    validation_errors: pulumi.Output[list[str]]

    def __init__(
        self,
        resource_name: str,
        *,
        app: pulumi.Input[str],
        hostname: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {"app": app, "hostname": hostname}
        props.update(
            dict.fromkeys(
                (
                    "status",
                    "cname_target",
                    "acme_challenge_name",
                    "acme_challenge_target",
                    "ownership_name",
                    "ownership_value",
                    "validation_errors",
                )
            )
        )
        super().__init__(CertificateProvider(), resource_name, props, opts)
