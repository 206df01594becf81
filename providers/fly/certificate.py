"""ACME certificate for a hostname or a wildcard `*.<name>` (sent as `%2A` in paths).

`up` does not wait for issuance; status is an output.
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ReadResult, Resource, UpdateResult

from common.provider_inputs import is_unknown
from providers.fly import endpoints
from providers.fly.client import open_client
from providers.fly.common import FlyProvider, changed_keys, check_app_name
from providers.fly.converge import create_or_adopt, delete_until_gone
from providers.fly.errors import FlyResourceError
from tenants.inputs import matches
from tenants.naming import CERTIFICATE_HOSTNAME_RE

KEYS = ("app", "hostname")


# inputs
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


class CertificateProvider(FlyProvider):
    # check
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures: list[CheckFailure] = []
        check_app_name(news, "app", failures)
        host = news.get("hostname")
        if not is_unknown(host) and not (isinstance(host, str) and matches(CERTIFICATE_HOSTNAME_RE, host)):
            failures.append(
                CheckFailure("hostname", f"hostname must be a lowercase DNS name or *.<name>, got {host!r}")
            )
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
            # Already there (a retried create) or maybe made: the GET decides, once; a repeat is not posted.
            cert = create_or_adopt(
                lambda: endpoints.get_certificate(fly, app, hostname),
                lambda: endpoints.request_acme_certificate(fly, app, hostname),
                deadline=fly.deadline(0.0, f"certificate {hostname} of app {app}"),
                retries=0,
                backoff=fly.backoff,
                look_first=False,
                exists=frozenset({409, 422}),
            )
        return CreateResult(hostname, _outs(app, hostname, cert))

    # read
    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        app, hostname = str(props["app"]), str(props.get("hostname") or id_)
        with open_client() as fly:
            cert = endpoints.get_certificate(fly, app, hostname)
        if cert is None:
            return ReadResult("", {})
        return ReadResult(id_, _outs(app, hostname, cert), inputs={"app": app, "hostname": hostname})

    # update
    def update(self, id_: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        app, hostname = str(news["app"]), str(news["hostname"])
        with open_client() as fly:
            cert = endpoints.get_certificate(fly, app, hostname)
        if cert is None:
            raise FlyResourceError(f"certificate {hostname} of app {app} is gone; run `pulumi refresh`")
        return UpdateResult(_outs(app, hostname, cert))

    # delete
    def delete(self, id_: str, props: dict[str, Any]) -> None:
        app, hostname = str(props["app"]), str(props.get("hostname") or id_)
        with open_client() as fly:
            delete_until_gone(lambda: endpoints.delete_certificate(fly, app, hostname))


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
