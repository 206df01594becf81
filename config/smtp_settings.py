"""The SMTP settings of the stack config (`alex-hosted:smtp`) and the checks on addresses and headers.

Configuration, not sending: the stack's config reads these settings and the owner emails' templates check
addresses with them, while the SMTP client (providers/smtp.py) sends. Errors name the key, never a secret.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any

from config.config_keys import ConfigKey
from tenants.emails import email_problem

SETTINGS_CONFIG = ConfigKey.SMTP.qualified
IMPLICIT_TLS_PORT = 465
DEFAULT_TIMEOUT_S = 30.0
MAX_SUBJECT_LEN = 200

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


def has_control(value: str) -> bool:
    return any(ord(c) < 0x20 or ord(c) == 0x7F or c in "\u2028\u2029\x85" for c in value)


def header_problem(value: object, what: str) -> str | None:
    """Why `value` cannot be a header value (subject); None when it can. Never quotes the value."""
    if not isinstance(value, str) or not value.strip():
        return f"{what} is required"
    if has_control(value):
        return f"{what} must be one line: it holds a line break or another control character"
    if len(value) > MAX_SUBJECT_LEN:
        return f"{what} is longer than {MAX_SUBJECT_LEN} characters"
    return None


def address_problem(value: object, what: str) -> str | None:
    """Why `value` is not one plain mailbox (`user@example.com`, tenants.emails); None when it is."""
    if not isinstance(value, str) or not value:
        return f"{what} is required"
    if has_control(value):
        return f"{what} must be one address: it holds a line break or another control character"
    if problem := email_problem(value):
        return f"{what} must be one address like user@example.com: {problem}"
    return None


def sender_problem(value: object, what: str) -> str | None:
    """Why `value` is not a From: `user@example.com` or `Name <user@example.com>`; None when it is."""
    if not isinstance(value, str) or not value:
        return f"{what} is required"
    if has_control(value):
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
    if settings.username is not None and (not settings.username or has_control(settings.username)):
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
