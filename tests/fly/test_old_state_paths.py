"""Providers pickled at their old module paths (components.fly.*, components.email) still load.

A resource's `__provider` in the stack state is the provider class pickled by reference: its module path
and name. Resources made before the providers moved to providers/ keep the old path until they are next
updated, and their delete and read run that pickled provider. Each blob below is what `serialize_provider`
wrote for the class at its old path; a fresh `python -m pulumi.dynamic` process, the one the engine\nstarts, must load it into the class that now lives in providers/ and run it.
"""

from __future__ import annotations

import base64
import importlib

import pytest

from providers.fly.app import AppProvider
from tests.fly.lifecycle import refresh, up
from tests.support.engine import BoundProvider

OLD_STATE = {
    "providers.fly.app.AppProvider": "gASVKQAAAAAAAACMEmNvbXBvbmVudHMuZmx5LmFwcJSMC0FwcFByb3ZpZGVylJOUKYGULg==",
    "providers.fly.certificate.CertificateProvider": (
        "gASVOQAAAAAAAACMGmNvbXBvbmVudHMuZmx5LmNlcnRpZmljYXRllIwTQ2VydGlmaWNhdGVQcm92aWRlcpSTlCmBlC4="
    ),
    "providers.fly.ips.IpsProvider": "gASVKQAAAAAAAACMEmNvbXBvbmVudHMuZmx5Lmlwc5SMC0lwc1Byb3ZpZGVylJOUKYGULg==",
    "providers.fly.machine.MachineProvider": (
        "gASVMQAAAAAAAACMFmNvbXBvbmVudHMuZmx5Lm1hY2hpbmWUjA9NYWNoaW5lUHJvdmlkZXKUk5QpgZQu"
    ),
    "providers.fly.secrets.SecretsProvider": (
        "gASVMQAAAAAAAACMFmNvbXBvbmVudHMuZmx5LnNlY3JldHOUjA9TZWNyZXRzUHJvdmlkZXKUk5QpgZQu"
    ),
    "providers.fly.volume.VolumeProvider": (
        "gASVLwAAAAAAAACMFWNvbXBvbmVudHMuZmx5LnZvbHVtZZSMDlZvbHVtZVByb3ZpZGVylJOUKYGULg=="
    ),
    "providers.email.EmailProvider": "gASVKQAAAAAAAACMEGNvbXBvbmVudHMuZW1haWyUjA1FbWFpbFByb3ZpZGVylJOUKYGULg==",
}


def old_state(bound: BoundProvider, blob: str) -> BoundProvider:
    """`bound` speaking with the `__provider` an older release wrote into the state."""
    bound.blob = blob
    return bound


@pytest.mark.parametrize("name", sorted(OLD_STATE))
def test_a_provider_pickled_at_its_old_path_loads_in_the_provider_process(host, name):
    assert b"components." in base64.b64decode(OLD_STATE[name])
    module, _, cls = name.rpartition(".")
    provider = getattr(importlib.import_module(module), cls)()
    outcome = old_state(host.bind(provider), OLD_STATE[name]).check({}, {})  # unpickles, then checks
    assert outcome.failures, "an empty input must be refused: the provider code ran"


def test_an_app_made_before_the_move_is_read_and_deleted_with_its_old_provider(host, emu, app_name):
    id_, outs = up(host.bind(AppProvider()), {"name": app_name, "org": "personal"})
    old = old_state(host.bind(AppProvider()), OLD_STATE["providers.fly.app.AppProvider"])
    assert refresh(old, id_, outs)[0] == id_
    old.delete(id_, outs)
    assert app_name not in emu.state.apps
