"""A Tenant-shaped machine config for the machine and volume tests."""

from __future__ import annotations

from typing import Any


def machine_config(volume_id: str | None = None, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "image": "registry-1.docker.io/jamesacklin/alex:1.2.3",
        "env": {"DATABASE_PATH": "/app/data/library.db", "NEXTAUTH_URL": "https://reader.example.com"},
        "guest": {"cpu_kind": "shared", "cpus": 1, "memory_mb": 256},
        "services": [
            {
                "protocol": "tcp",
                "internal_port": 3000,
                "autostop": "stop",
                "autostart": True,
                "min_machines_running": 0,
                "concurrency": {"type": "requests", "soft_limit": 20, "hard_limit": 25},
                "ports": [
                    {"port": 80, "handlers": ["http"], "force_https": True},
                    {"port": 443, "handlers": ["tls", "http"]},
                ],
            }
        ],
        "restart": {"policy": "on-failure", "max_retries": 10},
        "checks": {
            "login": {
                "type": "http",
                "port": 3000,
                "method": "GET",
                "path": "/login",
                "interval": "30s",
                "timeout": "5s",
                "grace_period": "10s",
            }
        },
        "metadata": {"tenant": "t1"},
    }
    if volume_id:
        config["mounts"] = [{"volume": volume_id, "path": "/app/data"}]
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
