"""Fixtures for the Fly emulator tests: a fresh emulator per test and an authorised client."""

from __future__ import annotations

import pytest

from tests.emulators.test_fly_support import create_app, running


@pytest.fixture
def fly():
    with running() as pair:
        yield pair


@pytest.fixture
def client(fly):
    return fly[1]


@pytest.fixture
def app(client):
    return create_app(client)
