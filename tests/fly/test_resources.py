"""The Resource classes as the Tenant uses them, under Pulumi mocks: tokens, secrets, serialized providers."""

from __future__ import annotations

import base64

import pulumi
import pytest
from pulumi.runtime import settings as pulumi_settings

from providers.fly.app import App
from providers.fly.certificate import Certificate
from providers.fly.ips import Ips
from providers.fly.machine import Machine
from providers.fly.secrets import Secrets
from providers.fly.volume import Volume
from tests.support.recording import SECRET_SIG, Recording, Registration, record_under


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


def registered(recording: Recording) -> list[Registration]:
    return [r for r in recording.registrations.values() if r.type != "pulumi:pulumi:Stack"]


@pulumi.runtime.test
def test_resources_have_fly_type_tokens_and_small_public_providers(monitor):
    resources = [
        App("app", name="t-app", org="personal"),
        Ips("ips", app="t-app"),
        Volume("vol", app="t-app", name="data", region="ams", size_gb=1),
        Machine("web", app="t-app", region="ams", name="web", config={"image": "img"}),
        Certificate("cert", app="t-app", hostname="r.example.com"),
    ]

    def verify(_):
        tokens = {r.name: r.type for r in registered(monitor)}
        assert tokens == {
            "app": "pulumi-python:dynamic/fly:App",
            "ips": "pulumi-python:dynamic/fly:Ips",
            "vol": "pulumi-python:dynamic/fly:Volume",
            "web": "pulumi-python:dynamic/fly:Machine",
            "cert": "pulumi-python:dynamic/fly:Certificate",
        }
        for request in registered(monitor):
            provider = request.inputs["__provider"]
            assert isinstance(provider, str), f"{request.name}: __provider must not be secret-wrapped"
            assert len(base64.b64decode(provider)) < 200, f"{request.name}: provider pickled by value"

    return pulumi.Output.all(*[r.urn for r in resources]).apply(verify)


@pulumi.runtime.test
def test_secrets_values_are_secret_in_and_out(monitor):
    secrets = Secrets("sec", app="t-app", values={"NEXTAUTH_SECRET": "s3cr3t"})

    def verify(_):
        request = monitor.one("sec")
        assert request.additional_secret_outputs == ["values"]
        values = request.inputs["values"]
        assert values[SECRET_SIG], "values must reach the engine as a secret"
        assert "s3cr3t" not in str(request.inputs["__provider"])

    return pulumi.Output.all(secrets.urn, secrets.values).apply(verify)
