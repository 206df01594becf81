"""Fixtures for the email tests: a local SMTP server (aiosmtpd) with AUTH that keeps what it receives.

The server listens on 127.0.0.1 on a free port, advertises AUTH over the plain connection
(`auth_require_tls=False`: tests have no certificates) and accepts one user. Each accepted message is
parsed with the default email policy and kept with its envelope and the login that sent it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from providers import smtp
from providers.smtp import SmtpSettings
from tests.support.engine import ProviderHost
from tests.support.servers import free_port

SMTP_USER = "mailer@books.example.com"
SMTP_PASSWORD = "smtp-passw0rd/with+odd=chars&more_0123"
SENDER = "Alex Books <hello@books.example.com>"
ENV_SMTP = ("ALEX_SMTP_PASSWORD", "ALEX_SMTP_TIMEOUT_S")


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    login: str | None
    raw: bytes
    message: EmailMessage

    @property
    def body(self) -> str:
        """The decoded text/plain body with the wire's CRLF line ends back to LF."""
        return str(self.message.get_content()).replace("\r\n", "\n")

    def header(self, name: str) -> str:
        """A header unfolded (a long Message-ID is folded onto its own line; the parser keeps the space)."""
        return str(self.message[name]).strip()


class SmtpServer:
    """aiosmtpd on 127.0.0.1 with AUTH PLAIN/LOGIN for `users`; `reject_with` makes DATA answer that reply."""

    def __init__(self, users: dict[str, str] | None = None) -> None:
        self.users = dict(users if users is not None else {SMTP_USER: SMTP_PASSWORD})
        self.received: list[Received] = []
        self.auth_attempts: list[str] = []
        self.reject_with: str | None = None
        self.drop_after_data = False  # take the message, then hang up before answering (an ambiguous failure)
        self._lock = threading.Lock()
        self.port = free_port()
        self.controller = Controller(
            self,
            hostname="127.0.0.1",
            port=self.port,
            authenticator=self._authenticate,
            auth_require_tls=False,
        )

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.controller.stop()

    def _authenticate(self, _server: Any, _session: Any, _envelope: Any, _mechanism: str, data: Any) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login, password = data.login.decode(), data.password.decode()
        with self._lock:
            self.auth_attempts.append(login)
        if self.users.get(login) == password:
            return AuthResult(success=True, auth_data=login)
        return AuthResult(success=False, handled=False)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook
        if self.reject_with is not None:
            return self.reject_with
        if self.drop_after_data:
            server.transport.abort()
            return "250 OK"
        raw = envelope.original_content or envelope.content
        message = message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), session.auth_data, raw, message))
        return "250 OK"

    def clear(self) -> None:
        with self._lock:
            self.received.clear()
            self.auth_attempts.clear()
        self.reject_with = None
        self.drop_after_data = False

    def settings(self, **changes: Any) -> SmtpSettings:
        base: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": self.port,
            "sender": SENDER,
            "username": SMTP_USER,
            "starttls": False,
            "timeout_s": 5.0,
        }
        return SmtpSettings(**{**base, **changes})


@pytest.fixture(autouse=True)
def clean_smtp_environ(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test sees an SMTP password from the developer's shell, or one a configure() stored here."""
    for name in ENV_SMTP:
        monkeypatch.delenv(name, raising=False)
    yield
    smtp.forget_config()


@pytest.fixture(scope="module")
def smtp_server() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
def mailbox(smtp_server: SmtpServer) -> Iterator[SmtpServer]:
    """The module's server, emptied and accepting again around each test."""
    smtp_server.clear()
    yield smtp_server
    smtp_server.clear()


def provider_env(**extra: str) -> dict[str, str]:
    """The provider process's environment: the SMTP password from env, short timeouts."""
    return {"ALEX_SMTP_PASSWORD": SMTP_PASSWORD, "ALEX_SMTP_TIMEOUT_S": "5", **extra}


@pytest.fixture(scope="module")
def host() -> Iterator[ProviderHost]:
    with ProviderHost(env=provider_env()) as h:
        yield h
