"""Email: one email to a tenant's owner as a Pulumi dynamic resource, sent when the resource is created.

Creating the resource sends the email; nothing else ever does. `diff` never reports a change, whatever
changed (a new owner address must not resend the welcome), so later `up`s never resend; `update` is a
no-op; `delete` is a no-op (an email cannot be unsent); `read` keeps the state as it is.
`pulumi up --replace <urn>` (delete, then create) is the one way to send it again, on purpose.

Secrets:
- `body` may hold the owner's first password. The Resource wraps it in `Output.secret`, so the engine
  keeps the stored input secret; it is never an output: the outputs hold only `body_sha256`, itself
  marked secret (a digest of a text whose only unknown part is a password).
- The SMTP password is no input either: it is read at call time, from env `ALEX_SMTP_PASSWORD` or the
  secret stack config `alex-hosted:smtpPassword` handed to `configure()` (providers/smtp.py), the way
  the Fly providers read their token. The provider class has no attributes: nothing reaches `__provider`.
- Error text names the tenant, the kind and the server, never the password or the body: it goes through
  `common.redact.scrub` with the password, the body, its lines and its longer words.

The Message-ID is derived from the tenant, the kind and the resource name, so a send repeated after an
ambiguous failure (the connection dropped after DATA) carries the same Message-ID as the first try.

This module's dotted path and class names are part of the stored state: `pulumi-python:dynamic/notify:Email`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parseaddr
from enum import StrEnum
from typing import Any

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    ConfigureRequest,
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    ResourceProvider,
    UpdateResult,
)

from common.provider_inputs import as_int, is_unknown
from common.redact import scrub
from providers import smtp
from providers.smtp import SmtpError, SmtpSettings
from tenants.inputs import matches
from tenants.naming import TENANT_ID_RE

PROVIDER_KEY = "__provider"
_MIN_WORD = 8  # shorter body lines and words are not scrubbed from server replies (ordinary words)
_DETAIL_LIMIT = 300


class EmailKind(StrEnum):
    WELCOME = "welcome"
    SUSPENDED = "suspended"
    CANCELLED = "cancelled"


class EmailError(Exception):
    """The email was not sent (or may not have been): names the tenant and the kind, never a secret."""


# inputs
INPUT_KEYS = (
    "to", "subject", "body", "kind", "tenant", "name", "reply_to",
    "host", "port", "username", "sender", "starttls",
)  # fmt: skip
OUTPUT_KEYS = ("to", "subject", "kind", "tenant", "sender", "message_id", "sent_at", "body_sha256")


def settings_of(props: Mapping[str, Any]) -> SmtpSettings:
    username = props.get("username")
    return SmtpSettings(
        host=props.get("host"),  # type: ignore[arg-type]  # checked by smtp.settings_problems
        port=as_int(props.get("port")) or -1,
        sender=props.get("sender"),  # type: ignore[arg-type]
        username=username if isinstance(username, str) and username else None,
        starttls=props.get("starttls", True),
        timeout_s=smtp.timeout_s(),
    )


def message_id(tenant: str, kind: str, name: str, sender: str) -> str:
    """`<kind.tenant.digest@sender-domain>`: the same for the same tenant, kind and resource name."""
    digest = hashlib.sha256(f"alex-hosted\0{tenant}\0{kind}\0{name}".encode()).hexdigest()[:16]
    domain = parseaddr(sender)[1].rpartition("@")[2] or "alex-hosted.invalid"
    return f"<{kind}.{tenant}.{digest}@{domain}>"


def body_sha256(body: str) -> str:
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def _secret_like(word: str) -> bool:
    """A word that may be a credential: long, and not plain prose (digits, symbols or inner capitals)."""
    bare = word.strip(".,:;!?\"'()")
    return len(bare) >= _MIN_WORD and not (bare.isalpha() and bare[1:].islower())


def body_secrets(body: str) -> list[str]:
    """What of the body no server reply quoted in error text may hold: the whole, each line, each secret-like word.

    The provider is not told which part of the body is secret (the first password); a word like that is.
    """
    lines = [line.strip() for line in body.splitlines() if len(line.strip()) >= _MIN_WORD]
    return [body, *lines, *(w for w in body.split() if _secret_like(w))]


def _check(news: Mapping[str, Any]) -> list[CheckFailure]:
    """Every input's problem, each naming the tenant: Pulumi shows a check failure without our create's context."""
    failures: list[CheckFailure] = []
    tenant = news.get("tenant")
    tenant_ok = isinstance(tenant, str) and matches(TENANT_ID_RE, tenant)
    kind = news.get("kind")
    kind_ok = isinstance(kind, str) and kind in set(EmailKind)
    who = (f"the {kind} email" if kind_ok else "the email") + (f" for tenant {tenant}" if tenant_ok else "")

    def fail(key: str, reason: str | None) -> None:
        if reason and not is_unknown(news.get(key)):
            failures.append(CheckFailure(key, f"{who}: {reason}"))

    fail("kind", None if kind_ok else f"kind must be one of {', '.join(EmailKind)}")
    fail("tenant", None if tenant_ok else "tenant must be a tenant id (6-20 lowercase letters and digits)")
    name = news.get("name")
    fail("name", None if isinstance(name, str) and name else "name (the resource name) is required")
    fail("to", smtp.address_problem(news.get("to"), "to"))
    fail("subject", smtp.header_problem(news.get("subject"), "subject"))
    body = news.get("body")
    fail("body", None if isinstance(body, str) and body.strip() else "body is required (text/plain)")
    if news.get("reply_to") is not None:
        fail("reply_to", smtp.address_problem(news.get("reply_to"), "reply_to"))
    # The SMTP settings, each named; unknown values (preview) are checked at the next `up`.
    known = {k: v for k, v in news.items() if not is_unknown(v)}
    for problem in smtp.settings_problems(settings_of({"host": "h.invalid", "sender": "a@b.example", **known})):
        key = problem.split(" ", 1)[0]
        fail(key if key in INPUT_KEYS else "host", problem)
    return failures


class EmailProvider(ResourceProvider):
    """Sends on create and never again; no attributes, nothing secret in `__provider`."""

    serialize_as_secret_always = False

    def configure(self, req: ConfigureRequest) -> None:
        smtp.remember_config(req.config)

    # check
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        inputs = {k: news[k] for k in INPUT_KEYS if k in news and news[k] is not None}
        return CheckResult(inputs, _check(news))

    # diff: never a change, so no `up` resends (a changed owner address included)
    def diff(self, _id: str, _olds: dict[str, Any], _news: dict[str, Any]) -> DiffResult:
        return DiffResult(changes=False, replaces=[], delete_before_replace=False)

    # create: the one place an email is sent
    def create(self, props: dict[str, Any]) -> CreateResult:
        """Sends the email; any failure is one EmailError naming the tenant and the kind, never a secret.

        Whatever goes wrong (the server, a value no check foresaw, a bug), the operator reads which
        tenant's email failed and why, in one line: not a library's traceback, not the password or body.
        """
        kind, tenant = str(props.get("kind")), str(props.get("tenant"))
        body = str(props.get("body") or "")
        password = smtp.password()
        hidden = [password, *body_secrets(body)]
        what = f"the {kind} email for tenant {tenant}"
        try:
            settings = settings_of(props)
            mid = message_id(tenant, kind, str(props.get("name")), settings.sender or "")
            message = smtp.build_message(
                settings,
                to=str(props.get("to")),
                subject=str(props.get("subject")),
                body=body,
                message_id=mid,
                reply_to=props.get("reply_to") or None,
            )
            smtp.send(settings, password, message, secrets=hidden)
        except SmtpError as exc:
            detail = scrub(str(exc), hidden)
            if exc.may_have_been_sent:
                raise EmailError(
                    f"{what} may or may not have been sent: {detail}; the next `pulumi up` sends it again "
                    f"with the same Message-ID {mid}"
                ) from None
            raise EmailError(f"{what} was not sent: {detail}") from None
        except Exception as exc:  # smtp.send maps its own; this is everything before it
            detail = scrub(" ".join(f"{type(exc).__name__}: {exc}".split()), hidden)[:_DETAIL_LIMIT]
            raise EmailError(f"{what} was not sent: {detail}") from None
        outs = {
            "to": props.get("to"),
            "subject": props.get("subject"),
            "kind": kind,
            "tenant": tenant,
            "sender": settings.sender,
            "message_id": mid,
            "sent_at": datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
            "body_sha256": body_sha256(body),
        }
        return CreateResult(mid.strip("<>"), outs)

    # read: nothing to read remotely; the state stays as it is (inputs too)
    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_, {k: v for k, v in props.items() if k != PROVIDER_KEY})

    # update: never called (diff reports no change); keeps the old outputs if it ever is
    def update(self, _id: str, olds: dict[str, Any], _news: dict[str, Any]) -> UpdateResult:
        return UpdateResult({k: v for k, v in olds.items() if k != PROVIDER_KEY})

    # delete: an email cannot be unsent
    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None


class Email(Resource, module="notify", name="Email"):
    """One email to a tenant's owner, sent when this resource is created and never again.

    Declare one per occasion, named for it (`<tenant>-welcome`, `<tenant>-suspended-<date>`): the name
    feeds the Message-ID. `body` is kept secret whatever is passed; the SMTP password is read by the
    provider at call time (env ALEX_SMTP_PASSWORD or secret config alex-hosted:smtpPassword).
    """

    to: pulumi.Output[str]
    subject: pulumi.Output[str]
    kind: pulumi.Output[str]
    tenant: pulumi.Output[str]
    sender: pulumi.Output[str]
    message_id: pulumi.Output[str]
    sent_at: pulumi.Output[str]
    body_sha256: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        to: pulumi.Input[str],
        subject: pulumi.Input[str],
        body: pulumi.Input[str],
        kind: EmailKind | str,
        tenant: str,
        smtp_settings: SmtpSettings,
        reply_to: pulumi.Input[str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "to": to,
            "subject": subject,
            "body": pulumi.Output.secret(body),
            "kind": str(kind),
            "tenant": tenant,
            "name": resource_name,
            "reply_to": reply_to,
            "host": smtp_settings.host,
            "port": smtp_settings.port,
            "username": smtp_settings.username,
            "sender": smtp_settings.sender,
            "starttls": smtp_settings.starttls,
            # outputs only
            "message_id": None,
            "sent_at": None,
            "body_sha256": None,
        }
        secret_opts = pulumi.ResourceOptions(additional_secret_outputs=["body_sha256"])
        super().__init__(EmailProvider(), resource_name, props, pulumi.ResourceOptions.merge(opts, secret_opts))
