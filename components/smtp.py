"""Sending one email over SMTP: the settings, the password's lookup, the message, and errors that quote no secret.

Used by the `Email` dynamic provider (components/email.py) and by the Stripe sync (the name-taken notice).

- Connection: implicit TLS (`SMTP_SSL`) on port 465; otherwise plain SMTP, upgraded with STARTTLS when
  `starttls` is set (a server that does not offer it is an error, never a silent plain-text login).
  Login only when a username is given. Every socket operation has a timeout.
- The password is never an input or a field: it is read at call time, from the environment
  (`ALEX_SMTP_PASSWORD`) first, then from the stack config a provider's `configure()` received
  (secret `alex-hosted:smtpPassword`), like the Fly token (components/fly/settings.py).
- Header values (addresses, subject) with a line break or another control character are refused before
  anything is sent: no header injection. Addresses follow the project's one email rule (tenants.emails):
  whatever the roster, the sign-up form or the Stripe sync accepts, this module can send to, in its
  canonical form.
- Every error is an `SmtpError` whose text has gone through `components.redact.scrub` with the password
  and every secret the caller names (a server reply may quote what it was sent). `may_have_been_sent`
  says whether the server could have accepted the message before the failure (after DATA).
"""

from __future__ import annotations

import json
import os
import re
import smtplib
import socket
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Any

from components.config_keys import SMTP_PASSWORD_ENV, SMTP_TIMEOUT_ENV, ConfigKey
from components.received_config import ConfigLike, ReceivedConfig
from components.redact import scrub
from tenants.emails import canonical_email, email_problem

PASSWORD_ENV = SMTP_PASSWORD_ENV
PASSWORD_CONFIG = ConfigKey.SMTP_PASSWORD.qualified
SETTINGS_CONFIG = ConfigKey.SMTP.qualified
IMPLICIT_TLS_PORT = 465
DEFAULT_TIMEOUT_S = 30.0
MAX_SUBJECT_LEN = 200
_REPLY_LIMIT = 300

HOST_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")


class SmtpError(Exception):
    """Sending failed; the message names the server and the step, never a password or a secret."""

    def __init__(self, message: str, *, may_have_been_sent: bool = False) -> None:
        super().__init__(message)
        self.may_have_been_sent = may_have_been_sent


class SmtpConfigError(SmtpError):
    """Settings missing or malformed (no password for a username, a bad address, a bad port)."""


@dataclass(frozen=True)
class SmtpSettings:
    """Where and as whom to send. `sender` is the From: an address, or `Name <address>`."""

    host: str
    port: int
    sender: str
    username: str | None = None
    starttls: bool = True
    timeout_s: float = DEFAULT_TIMEOUT_S

    @property
    def envelope_sender(self) -> str:
        return parseaddr(self.sender)[1]

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


# --- checks -----------------------------------------------------------------------------------------


def _has_control(value: str) -> bool:
    return any(ord(c) < 0x20 or ord(c) == 0x7F or c in "\u2028\u2029\x85" for c in value)


def header_problem(value: object, what: str) -> str | None:
    """Why `value` cannot be a header value (subject); None when it can. Never quotes the value."""
    if not isinstance(value, str) or not value.strip():
        return f"{what} is required"
    if _has_control(value):
        return f"{what} must be one line: it holds a line break or another control character"
    if len(value) > MAX_SUBJECT_LEN:
        return f"{what} is longer than {MAX_SUBJECT_LEN} characters"
    return None


def address_problem(value: object, what: str) -> str | None:
    """Why `value` is not one plain mailbox (`user@example.com`, tenants.emails); None when it is."""
    if not isinstance(value, str) or not value:
        return f"{what} is required"
    if _has_control(value):
        return f"{what} must be one address: it holds a line break or another control character"
    if problem := email_problem(value):
        return f"{what} must be one address like user@example.com: {problem}"
    return None


def sender_problem(value: object, what: str) -> str | None:
    """Why `value` is not a From: `user@example.com` or `Name <user@example.com>`; None when it is."""
    if not isinstance(value, str) or not value:
        return f"{what} is required"
    if _has_control(value):
        return f"{what} must be one line: it holds a line break or another control character"
    name, addr = parseaddr(value)
    if addr_problem := address_problem(addr, what):
        return addr_problem
    if value not in (addr, f"{name} <{addr}>") or any(c in name for c in '<>"@,;'):
        return f"{what} must be an address, or a plain name and an address: Name <user@example.com>"
    return None


def settings_problems(settings: SmtpSettings) -> list[str]:
    problems = []
    if not isinstance(settings.host, str) or not HOST_RE.fullmatch(settings.host):
        problems.append("host must be a host name or IP address")
    if isinstance(settings.port, bool) or not isinstance(settings.port, int) or not 0 < settings.port < 65536:
        problems.append("port must be a number from 1 to 65535")
    if problem := sender_problem(settings.sender, "sender"):
        problems.append(problem)
    if settings.username is not None and (not settings.username or _has_control(settings.username)):
        problems.append("username must be one line of text, or absent for no login")
    if not isinstance(settings.starttls, bool):
        problems.append("starttls must be true or false")
    return problems


def _port(value: Any) -> int:
    """A port from config (a number, or digits as text); -1 for anything else, which the checks refuse."""
    if isinstance(value, bool):
        return -1
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return -1


def parse_settings(value: Any, *, timeout_s: float | None = None) -> SmtpSettings:
    """SmtpSettings from the stack config mapping `alex-hosted:smtp` (host, port, user, from, starttls).

    `port` defaults to 587 (with STARTTLS), `starttls` to true except on port 465 (implicit TLS).
    A JSON text (what `pulumi.Config.get` returns for an object) is accepted too.
    Raises SmtpConfigError naming the key and every problem.
    """
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise SmtpConfigError(f"{SETTINGS_CONFIG}: expected a mapping (JSON object), got text") from None
    if not isinstance(value, Mapping):
        raise SmtpConfigError(f"{SETTINGS_CONFIG}: expected a mapping with host, port, user, from, starttls")
    unknown = sorted(str(k) for k in value if k not in ("host", "port", "user", "from", "starttls"))
    port = _port(value.get("port", 587))
    starttls = value.get("starttls", port != IMPLICIT_TLS_PORT)
    if isinstance(starttls, str) and starttls.lower() in ("true", "false"):
        starttls = starttls.lower() == "true"
    user = value.get("user")
    settings = SmtpSettings(
        host=value.get("host"),  # type: ignore[arg-type]  # checked below
        port=port,
        sender=value.get("from"),  # type: ignore[arg-type]
        username=user if user not in (None, "") else None,
        starttls=starttls,
        timeout_s=timeout_s if timeout_s is not None else DEFAULT_TIMEOUT_S,
    )
    problems = [f"unknown key {k!r}" for k in unknown] + settings_problems(settings)
    if problems:
        raise SmtpConfigError(f"{SETTINGS_CONFIG}: " + "; ".join(problems))
    return settings


# --- the password -----------------------------------------------------------------------------------

_received = ReceivedConfig((PASSWORD_CONFIG,))


def remember_config(config: ConfigLike) -> None:
    """Keep the SMTP password of the stack config a provider's configure() received (provider process only)."""
    _received.remember(config)


def forget_config() -> None:
    """Drop what configure() handed over (tests)."""
    _received.forget()


def password() -> str | None:
    """The SMTP password now: env ALEX_SMTP_PASSWORD, else the configure()d secret; None when neither is set."""
    value = os.environ.get(PASSWORD_ENV) or _received.get(PASSWORD_CONFIG)
    return value if value and value.strip() else None


def timeout_s() -> float:
    """Seconds for each socket operation: env ALEX_SMTP_TIMEOUT_S (tests shorten it), else 30."""
    raw = os.environ.get(SMTP_TIMEOUT_ENV, "")
    try:
        value = float(raw) if raw else DEFAULT_TIMEOUT_S
    except ValueError:
        raise SmtpConfigError(f"environment variable {SMTP_TIMEOUT_ENV} must be a number of seconds") from None
    return value if value > 0 else DEFAULT_TIMEOUT_S


# --- the message ------------------------------------------------------------------------------------


def build_message(
    settings: SmtpSettings,
    *,
    to: str,
    subject: str,
    body: str,
    message_id: str,
    reply_to: str | None = None,
    date: float | None = None,
) -> EmailMessage:
    """A text/plain UTF-8 message; SmtpConfigError (quoting nothing) for a header that could inject another."""
    problems = [
        p
        for p in (
            address_problem(to, "the recipient (to)"),
            header_problem(subject, "the subject"),
            sender_problem(settings.sender, "the sender"),
            address_problem(reply_to, "reply_to") if reply_to is not None else None,
            None if isinstance(body, str) and body.strip() else "the body is required",
        )
        if p
    ]
    if problems:
        raise SmtpConfigError("; ".join(problems))
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = Address(addr_spec=canonical_email(to))
    message["Subject"] = subject
    message["Date"] = formatdate(date, localtime=False, usegmt=True)
    message["Message-ID"] = message_id
    if reply_to:
        message["Reply-To"] = Address(addr_spec=canonical_email(reply_to))
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to a notice
    message.set_content(body if body.endswith("\n") else body + "\n", charset="utf-8")
    return message


# --- sending ----------------------------------------------------------------------------------------


def _reply(exc: smtplib.SMTPResponseException, hidden: Iterable[str | None]) -> str:
    """The server's reply (code and text), scrubbed of `hidden`: a reply may quote what it was sent."""
    text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
    text = scrub(" ".join(text.split()), hidden)
    return f"{exc.smtp_code} {text[:_REPLY_LIMIT]}".strip()


def send(
    settings: SmtpSettings,
    password: str | None,
    message: EmailMessage,
    *,
    secrets: Iterable[str | None] = (),
) -> None:
    """Send `message` to its To over the configured server; SmtpError (scrubbed) on any failure.

    `secrets` are further values no server reply quoted in error text may hold (the body's secret, the
    body itself); the password is scrubbed from all of the text.
    """
    hidden = (password, *secrets)
    if problems := settings_problems(settings):
        raise SmtpConfigError("SMTP settings: " + "; ".join(problems))
    if settings.username and not password:
        raise SmtpConfigError(
            f"SMTP user is set but no password: set the environment variable {PASSWORD_ENV} "
            f"or the secret stack config {PASSWORD_CONFIG} (pulumi config set --secret {PASSWORD_CONFIG} ...)"
        )
    if password is not None and (not password.isascii() or _has_control(password)):
        raise SmtpConfigError("the SMTP password cannot be used: it holds a non-ASCII or control character")
    recipients = [str(a.addr_spec) for a in message["To"].addresses]
    step = "connect"
    try:
        client: smtplib.SMTP
        if settings.port == IMPLICIT_TLS_PORT:
            context = ssl.create_default_context()
            client = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout_s, context=context)
        else:
            client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_s)
        with client:
            step = "say hello (EHLO)"
            client.ehlo()
            if settings.starttls and settings.port != IMPLICIT_TLS_PORT:
                step = "start TLS"
                if not client.has_extn("starttls"):
                    raise SmtpError(f"SMTP server {settings.where} does not offer STARTTLS (starttls is set)")
                client.starttls(context=ssl.create_default_context())
                client.ehlo()
            if settings.username:
                step = "log in"
                client.login(settings.username, password or "")
            step = "send"
            refused = client.send_message(message, from_addr=settings.envelope_sender, to_addrs=recipients)
            if refused:
                raise SmtpError(f"SMTP server {settings.where} refused the recipient", may_have_been_sent=False)
    except SmtpError as exc:
        raise SmtpError(scrub(str(exc), [password]), may_have_been_sent=exc.may_have_been_sent) from None
    except smtplib.SMTPAuthenticationError as exc:
        user = settings.username or ""
        detail = f"SMTP server {settings.where} refused the login of user {user!r}: {_reply(exc, hidden)}"
        raise SmtpError(scrub(detail, [password])) from None
    except smtplib.SMTPRecipientsRefused as exc:
        replies = "; ".join(_reply(smtplib.SMTPResponseException(*r), hidden) for r in exc.recipients.values())
        raise SmtpError(scrub(f"SMTP server {settings.where} refused the recipient: {replies}", [password])) from None
    except smtplib.SMTPSenderRefused as exc:
        detail = f"SMTP server {settings.where} refused the sender {settings.envelope_sender}: {_reply(exc, hidden)}"
        raise SmtpError(scrub(detail, [password])) from None
    except smtplib.SMTPResponseException as exc:
        detail = f"SMTP server {settings.where} answered {_reply(exc, hidden)} at step: {step}"
        raise SmtpError(scrub(detail, [password])) from None
    except smtplib.SMTPNotSupportedError:
        raise SmtpError(f"SMTP server {settings.where} does not support the step: {step}") from None
    except Exception as exc:  # every other failure is an SmtpError too, never a traceback
        # Refused or dropped connections, timeouts, TLS failures, and whatever smtplib or the email package
        # raise that no branch above names. Once DATA was under way the server may have kept the message:
        # say so, the caller decides whether a retry (same Message-ID) is right.
        unsure = step == "send" and not isinstance(exc, ConnectionRefusedError | socket.gaierror)
        detail = f"SMTP server {settings.where}: {type(exc).__name__} at step: {step}"
        if isinstance(exc, ssl.SSLError | ssl.CertificateError):
            detail += f" ({scrub(str(exc), hidden)[:_REPLY_LIMIT]})"
        if unsure:
            detail += " (the server may or may not have accepted the message)"
        raise SmtpError(scrub(detail, [password]), may_have_been_sent=unsure) from None
