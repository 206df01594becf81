"""A tenant's machine config for the machine and volume tests, built by the production function.

`components.machine_config.machine_config` is the config the Tenant sends; a hand copy here had
drifted from it (grace period, stop_config), so the provider tests now exercise the real one.
"""

from __future__ import annotations

from typing import Any

from components.machine_config import machine_config as tenant_machine_config
from tenants.roster import RosterEntry
from tests.program.harness import settings

TENANT = RosterEntry("t1", "reader", "reader@example.com", "free", "active")


def machine_config(volume_id: str | None = None, **overrides: Any) -> dict[str, Any]:
    """The Tenant's config for `TENANT`; without a volume it has no mount."""
    stack = settings()
    config = tenant_machine_config(TENANT, stack.plans[TENANT.plan], stack, volume_id or "")
    if not volume_id:
        del config["mounts"]
    config.update(overrides)
    return config


def machine_inputs(app: str, volume_id: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "app": app,
        "region": "ams",
        "name": "web",
        "config": machine_config(volume_id),
        "run_state": "active",
        **extra,
    }
