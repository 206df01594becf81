"""Sending one email over SMTP: the password's lookup, the message, and errors that quote no secret.

The settings and the address checks are configuration (config/smtp_settings.py), re-exported here.

Used by the `Email` dynamic provider (providers/email.py) and by the Stripe sync (the name-taken notice).

- Connection: implicit TLS (`SMTP_SSL`) on port 465; otherwise plain SMTP, upgraded with STARTTLS when
  `starttls` is set (a server that does not offer it is an error, never a silent plain-text login).
  Login only when a username is given. Every socket operation has a timeout.
- The password is never an input or a field: it is read at call time, from the environment
  (`ALEX_SMTP_PASSWORD`) first, then from the stack config a provider's `configure()` received
  (secret `alex-hosted:smtpPassword`), like the Fly token (providers/fly/settings.py).
- Header values (addresses, subject) with a line break or another control character are refused before
  anything is sent: no header injection. Addresses follow the project's one email rule (tenants.emails):
  whatever the roster, the sign-up form or the Stripe sync accepts, this module can send to, in its
  canonical form.
- Every error is an `SmtpError` whose text has gone through `common.redact.scrub` with the password
  and every secret the caller names (a server reply may quote what it was sent). `may_have_been_sent`
  says whether the server could have accepted the message before the failure (after DATA).
"""

from __future__ import annotations

import os
import smtplib
import socket
import ssl
from collections.abc import Iterable
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate

from common.received_config import ConfigLike, ReceivedConfig
from common.redact import scrub
from config.config_keys import SMTP_PASSWORD_ENV, SMTP_TIMEOUT_ENV, ConfigKey
from config.smtp_settings import (  # the settings and checks, re-exported: callers know them as smtp.*
    DEFAULT_TIMEOUT_S as DEFAULT_TIMEOUT_S,
)
from config.smtp_settings import (
    HOST_RE as HOST_RE,
)
from config.smtp_settings import (
    IMPLICIT_TLS_PORT as IMPLICIT_TLS_PORT,
)
from config.smtp_settings import (
    MAX_SUBJECT_LEN as MAX_SUBJECT_LEN,
)
from config.smtp_settings import (
    SETTINGS_CONFIG as SETTINGS_CONFIG,
)
from config.smtp_settings import (
    SmtpConfigError as SmtpConfigError,
)
from config.smtp_settings import (
    SmtpError as SmtpError,
)
from config.smtp_settings import (
    SmtpSettings as SmtpSettings,
)
from config.smtp_settings import (
    address_problem as address_problem,
)
from config.smtp_settings import (
    has_control as has_control,
)
from config.smtp_settings import (
    header_problem as header_problem,
)
from config.smtp_settings import (
    parse_settings as parse_settings,
)
from config.smtp_settings import (
    sender_problem as sender_problem,
)
from config.smtp_settings import (
    settings_problems as settings_problems,
)
from tenants.emails import canonical_email

PASSWORD_ENV = SMTP_PASSWORD_ENV
PASSWORD_CONFIG = ConfigKey.SMTP_PASSWORD.qualified
_REPLY_LIMIT = 300


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
    if password is not None and (not password.isascii() or has_control(password)):
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
