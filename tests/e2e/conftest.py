"""The e2e lane: the real `pulumi` CLI and provider plugins against the emulators on 127.0.0.1."""

from __future__ import annotations

import pytest

from tests.e2e.pulumi_run import Engine, find_engine
from tests.support import cloudflare_api as cloudflare_support
from tests.support.requires import missing

cloudflare_api = cloudflare_support.cloudflare_api


@pytest.fixture
def engine() -> Engine:
    found = find_engine()
    if found is None:
        missing("the Pulumi engine v3.274.0 with the cloudflare 6.17.0 plugin is not installed (../shared/engine)")
    return found
