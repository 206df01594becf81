"""The engine's floor: `resources` bare dynamic resources whose provider does no I/O (bare.py).

Each carries a payload of `payloadBytes` characters so the checkpoint grows like the program's does
(bench.engine --floor sets it to the program's bytes per resource). What a run of this costs is the
engine's and the SDK's own work per resource: registration, Check/Diff in the dynamic-provider process,
steps and checkpoint writes, with no API behind them.
"""

from __future__ import annotations

import pulumi
from bare import Bare  # type: ignore[import-not-found]  # copied beside this file by bench.engine

config = pulumi.Config()
payload = "x" * config.get_int("payloadBytes", 0)
for index in range(config.require_int("resources")):
    Bare(f"bare{index:06d}", payload)
