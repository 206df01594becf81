"""What a test needs from the machine: under CI a missing piece is a failure, on a workstation a skip.

`.ci/run` installs everything the suite needs (Debian packages, Go tools, node modules, Chromium), so a
test that would skip under CI proves nothing and fails instead; a developer without, say, Chromium
still gets the rest of the suite.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def missing(why: str) -> NoReturn:
    """Ends the test: pytest.fail under CI (`CI` set, as .ci/run runs), pytest.skip elsewhere."""
    if os.environ.get("CI"):
        pytest.fail(f"{why} (under CI this is a failure: .ci/run installs it)")
    pytest.skip(why)
