"""The Email resource under Pulumi mocks: its type token, a body that stays secret, a small public provider."""

from __future__ import annotations

import base64

import pulumi
import pytest
from pulumi.runtime import settings as pulumi_settings

from providers.email import Email, EmailKind
from providers.smtp import SmtpSettings
from tests.support.recording import is_secret, plain_strings, record_under

SETTINGS = SmtpSettings("smtp.example.com", 587, "Alex Books <hello@books.example.com>", "mailer", True)
FIRST_PASSWORD = "Fp-9xQ2#vL7m!Rt4wZ8k"


class EchoMocks(pulumi.runtime.Mocks):
    def new_resource(self, args):
        return [f"{args.name}-id", dict(args.inputs)]

    def call(self, args):
        return {}


@pytest.fixture
def monitor():
    saved = pulumi_settings.SETTINGS
    yield record_under(EchoMocks())
    pulumi_settings.SETTINGS = saved


def declare(body: pulumi.Input[str], name: str = "s0a1b2c3d4-welcome") -> Email:
    return Email(
        name,
        to="alice@example.com",
        subject="Your Alex library is ready",
        body=body,
        kind=EmailKind.WELCOME,
        tenant="s0a1b2c3d4",
        smtp_settings=SETTINGS,
        reply_to="help@books.example.com",
    )


@pulumi.runtime.test
def test_email_resource_keeps_a_secret_body_secret(monitor):
    body = pulumi.Output.secret(f"Password: {FIRST_PASSWORD}\n")
    email = declare(body)

    def verify(_):
        request = monitor.one("s0a1b2c3d4-welcome")
        assert request.type == "pulumi-python:dynamic/notify:Email"
        assert is_secret(request.inputs["body"]), "the body must reach the engine as a secret"
        assert all(FIRST_PASSWORD not in s for s in plain_strings(request.inputs))
        assert request.additional_secret_outputs == ["body_sha256"]
        provider = request.inputs["__provider"]
        assert isinstance(provider, str), "__provider must not be secret-wrapped (nothing secret captured)"
        assert len(base64.b64decode(provider)) < 200, "provider pickled by value"
        assert request.inputs["name"] == "s0a1b2c3d4-welcome" and request.inputs["kind"] == "welcome"
        assert {k: request.inputs[k] for k in ("host", "port", "username", "sender", "starttls")} == {
            "host": "smtp.example.com",
            "port": 587,
            "username": "mailer",
            "sender": "Alex Books <hello@books.example.com>",
            "starttls": True,
        }
        assert not any(k in request.inputs for k in ("password", "smtp_password"))

    return pulumi.Output.all(email.urn, email.id).apply(verify)


@pulumi.runtime.test
def test_email_resource_makes_a_plain_body_secret_too(monitor):
    email = declare("A notice with no password.\n", name="s0a1b2c3d4-suspended-2026-03-01")

    def verify(_):
        request = monitor.one("s0a1b2c3d4-suspended-2026-03-01")
        assert is_secret(request.inputs["body"])
        assert "message_id" not in request.inputs and "sent_at" not in request.inputs  # outputs only

    return pulumi.Output.all(email.urn).apply(verify)
