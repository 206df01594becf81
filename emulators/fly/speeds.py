"""The emulator's delay presets, in one place: each test suite and benchmark picks one by name.

`FlyEmulator(**speeds.PROVIDER_TESTS.kwargs())`; any single setting can still be overridden.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Speeds:
    app_visible_after: float  # GET /v1/apps/{app} answers 404 this long after the create
    volume_unbind_after: float  # a destroyed machine's volume stays bound this long
    wait_cap: float  # /wait gives up (408) after this, whatever timeout the client asked for
    transition: float  # seconds in each transient machine or volume state

    def kwargs(self, **overrides: Any) -> dict[str, Any]:
        return {**asdict(self), **overrides}


# The emulator's defaults: Fly's delays shortened to fractions of a second, Fly's 60 s /wait cap.
REFERENCE = Speeds(app_visible_after=0.2, volume_unbind_after=0.5, wait_cap=60.0, transition=0.05)
# Provider and program tests: the same delays (the providers must poll through them), a short /wait cap
# so a test that waits for a state never reached fails in seconds.
PROVIDER_TESTS = Speeds(app_visible_after=0.2, volume_unbind_after=0.5, wait_cap=2.0, transition=0.05)
# Emulator and script tests that are not about the delays.
INSTANT = Speeds(app_visible_after=0.0, volume_unbind_after=0.3, wait_cap=1.0, transition=0.01)
