"""The Fly machine config of one tenant: image, env, guest, volume mount, service, checks.

A pure function of the roster entry, its plan and the stack settings, so that a username change
touches only NEXTAUTH_URL and a plan change only the guest and STORAGE_QUOTA_BYTES.
"""

from __future__ import annotations

from typing import Any

import pulumi

from config.config_keys import NAMESPACE
from config.hostnames import primary_hostname
from config.stack_config import StackConfig
from tenants.plans import Plan
from tenants.roster import RosterEntry
from tenants.states import TenantState

DATA_PATH = "/app/data"
# The port Fly's proxy and the check reach: the image's upload companion listens here, serves
# `/_hosted/` and proxies everything else to Alex on the next port (image/README.md).
APP_PORT = 3000
VOLUME_NAME = "data"  # the tenant's Fly volume, mounted at DATA_PATH

# Non-secret settings only: everything secret goes through Fly app secrets (providers.fly.secrets).
SECRET_NAMES = ("NEXTAUTH_SECRET", "R2_ACCESS_KEY_ID", "R2_SECRET_ACCESS_KEY", "OWNER_INITIAL_PASSWORD")

# Roster state -> the machine's desired run state (providers.fly.machine's run_state). `purging` has no
# machine at all: the keys are exactly the states that keep one.
RUN_STATES: dict[str, str] = {
    TenantState.ACTIVE: "active",
    TenantState.SUSPENDED: "stopped",
    TenantState.CANCELLED: "stopped",
}


def tenant_env(tenant: RosterEntry, plan: Plan, settings: StackConfig) -> dict[str, str]:
    return {
        "DATABASE_PATH": f"{DATA_PATH}/library.db",
        "LIBRARY_PATH": f"{DATA_PATH}/library",
        "COVERS_PATH": f"{DATA_PATH}/covers",
        "NEXTAUTH_URL": f"https://{primary_hostname(tenant, settings)}",
        "OWNER_EMAIL": tenant.email,
        "R2_ENDPOINT": settings.r2_endpoint,
        "R2_BUCKET": bucket_name(tenant.id),
        # The plan's R2 quota: the upload companion refuses an upload that would take the bucket past it.
        "STORAGE_QUOTA_BYTES": str(plan.quota_bytes),
    }


def public_ports() -> list[dict[str, Any]]:
    """A service's public face on Fly's proxy: HTTP on 80, redirected to HTTPS; TLS on 443."""
    return [
        {"port": 80, "handlers": ["http"], "force_https": True},
        {"port": 443, "handlers": ["tls", "http"]},
    ]


def bucket_name(tenant_id: str) -> str:
    return f"alex-{tenant_id}"


def machine_config(
    tenant: RosterEntry, plan: Plan, settings: StackConfig, volume_id: pulumi.Input[str]
) -> dict[str, Any]:
    return {
        "image": settings.image,
        "env": tenant_env(tenant, plan, settings),
        "guest": {"cpu_kind": plan.cpu_kind, "cpus": plan.cpus, "memory_mb": plan.memory_mb},
        "mounts": [{"volume": volume_id, "path": DATA_PATH}],
        "services": [
            {
                "protocol": "tcp",
                "internal_port": APP_PORT,
                # Scale to zero: the proxy stops an idle machine and starts it on the next request.
                "autostop": "stop",
                "autostart": True,
                "min_machines_running": 0,
                "ports": public_ports(),
                "concurrency": {"type": "requests", "soft_limit": 20, "hard_limit": 25},
            }
        ],
        # on-failure, not always: a clean exit after autostop must stay stopped.
        "restart": {"policy": "on-failure", "max_retries": 10},
        # Alex has no health endpoint; the companion's answers 200 only while Alex answers it too (at boot
        # the companion listens a second or two before Alex), so the check passes only when both are up.
        "checks": {
            "health": {
                "type": "http",
                "port": APP_PORT,
                "method": "GET",
                "path": "/_hosted/healthz",
                "interval": "30s",
                "timeout": "5s",
                "grace_period": "60s",
            }
        },
        "metadata": {"tenant": tenant.id, "managed_by": NAMESPACE},
        # The image's entrypoint makes a final backup to R2 on SIGTERM; Fly's default 5 s is too short.
        "stop_config": {"signal": "SIGTERM", "timeout": "30s"},
    }
