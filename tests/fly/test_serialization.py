"""Providers pickle by reference, hold nothing secret, and their modules import without side effects."""

from __future__ import annotations

import base64
import subprocess
import sys

import dill
import pytest
from pulumi.dynamic.dynamic import serialize_provider

from providers.fly.app import AppProvider
from providers.fly.certificate import CertificateProvider
from providers.fly.ips import IpsProvider
from providers.fly.machine import MachineProvider
from providers.fly.secrets import SecretsProvider
from providers.fly.volume import VolumeProvider
from tests.support.engine import REPO_ROOT

PROVIDERS = [AppProvider, IpsProvider, SecretsProvider, VolumeProvider, MachineProvider, CertificateProvider]


@pytest.mark.parametrize("cls", PROVIDERS, ids=lambda c: c.__name__)
def test_provider_serializes_by_reference_without_secrets(cls, monkeypatch):
    monkeypatch.setenv("FLY_API_TOKEN", "tok-must-not-leak")
    provider = cls()
    provider.configure(type("Req", (), {"config": {"alex-hosted:flyApiToken": "cfg-must-not-leak"}})())
    blob = serialize_provider(provider)
    raw = base64.b64decode(blob)
    assert len(raw) < 200, "pickled by value: the class must live in an importable module"
    assert b"must-not-leak" not in raw
    assert cls.serialize_as_secret_always is False
    assert type(dill.loads(raw)) is cls
    assert vars(provider) == {}


def test_provider_modules_import_without_side_effects():
    code = (
        "import sys, threading\n"
        "import providers.fly.app, providers.fly.ips, providers.fly.secrets\n"
        "import providers.fly.volume, providers.fly.machine, providers.fly.certificate\n"
        "from providers.fly import settings, ratelimit\n"
        "assert not settings._received and not ratelimit._shared\n"
        "assert threading.active_count() == 1\n"
        "import pulumi.runtime.settings as s; assert s.SETTINGS.monitor is None\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
