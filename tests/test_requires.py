"""A test that needs a missing tool skips on a workstation and fails under CI, where .ci/run installs it."""

from __future__ import annotations

import pytest

from tests.support.requires import missing


def test_missing_fails_under_ci(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="rclone missing.*under CI this is a failure"):
        missing("rclone missing")


def test_missing_skips_on_a_workstation(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="rclone missing"):
        missing("rclone missing")
