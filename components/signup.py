"""The signup site: the control plane's only running part, at `https://www.<domain>` through the edge.

One always-on Fly app `<appPrefix>-signup` (signup/, image/signup/) serves the plans, the username
check and Stripe Checkout, and receives Stripe's webhooks, which it turns into a debounced run of the
Stripe sync workflow: it never writes a roster. Declared only when `alex-hosted:signupImage` is set.

| resource          | what                                                                           |
| signup-app        | the Fly app, on its own network, no IPs: the edge replays `www.<domain>` to it |
| signup-secrets    | the restricted Stripe key (Checkout Sessions and Prices only), the webhook     |
|                   | signing secret, a GitHub token that can only dispatch the sync workflow         |
| signup-machine    | always on; the names file (every username the domain's rosters hold)           |

The names file is how the site knows which usernames are taken without reading git or holding any
roster: the program writes it into the machine's config on every `up` that changes it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

import pulumi

from components.machine_config import public_ports
from config.config_keys import NAMESPACE, ConfigKey
from config.edge_map import EdgeSource
from config.stack_config import StackConfig
from providers.fly.app import App
from providers.fly.machine import Machine
from providers.fly.secrets import Secrets

SIGNUP_TYPE = f"{NAMESPACE}:signup:Signup"
SIGNUP_PORT = 8080
NAMES_PATH = "/etc/alex-signup/names.json"
HEALTH_PATH = "/_signup/health"
SYNC_WORKFLOW = "stripe-sync.yml"
SECRET_ENV = {
    "STRIPE_API_KEY": ConfigKey.STRIPE_RESTRICTED_KEY,
    "STRIPE_WEBHOOK_SECRET": ConfigKey.STRIPE_WEBHOOK_SECRET,
    "GITHUB_DISPATCH_TOKEN": ConfigKey.GITHUB_DISPATCH_TOKEN,
}


def signup_host(settings: StackConfig) -> str:
    """Where the site lives: `www` is a reserved username, so no tenant can ever take it."""
    return f"www.{settings.domain}"


def names_document(sources: Sequence[EdgeSource]) -> dict[str, Any]:
    """Every username the domain's rosters hold, in any state (a purging tenant's name is not free yet)."""
    names = sorted({entry.username for source in sources for entry in source.roster})
    return {"version": 1, "usernames": names}


def signup_machine_config(settings: StackConfig, sources: Sequence[EdgeSource]) -> dict[str, Any]:
    names = json.dumps(names_document(sources), separators=(",", ":")).encode()
    return {
        "image": settings.signup_image,
        "env": {
            "PORT": str(SIGNUP_PORT),
            "SIGNUP_DOMAIN": settings.domain,
            "SIGNUP_NAMES_FILE": NAMES_PATH,
            "GITHUB_REPOSITORY": settings.github_repository,
            "SYNC_WORKFLOW": SYNC_WORKFLOW,
        },
        "guest": {"cpu_kind": "shared", "cpus": 1, "memory_mb": 256},
        "files": [{"guest_path": NAMES_PATH, "raw_value": base64.b64encode(names).decode("ascii")}],
        "services": [
            {
                "protocol": "tcp",
                "internal_port": SIGNUP_PORT,
                # Always on: Stripe's webhooks must find it awake, and a sign-up should not wait for a boot.
                "autostop": "off",
                "autostart": True,
                "ports": public_ports(),
                "concurrency": {"type": "requests", "soft_limit": 50, "hard_limit": 100},
            }
        ],
        "checks": {
            "health": {
                "type": "http",
                "port": SIGNUP_PORT,
                "method": "GET",
                "path": HEALTH_PATH,
                "interval": "15s",
                "timeout": "2s",
                "grace_period": "10s",
            }
        },
        "restart": {"policy": "always"},
        "metadata": {"role": "signup", "managed_by": NAMESPACE},
    }


class Signup(pulumi.ComponentResource):
    app_name: str
    hostname: str

    def __init__(
        self,
        settings: StackConfig,
        sources: Sequence[EdgeSource],
        config: pulumi.Config | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(SIGNUP_TYPE, "signup", None, opts)
        config = config or pulumi.Config(NAMESPACE)
        child = pulumi.ResourceOptions(parent=self)
        self.app_name = f"{settings.app_prefix}-signup"
        self.hostname = signup_host(settings)
        app = App("signup-app", name=self.app_name, org=settings.fly_org, opts=child)
        secrets = Secrets(
            "signup-secrets",
            app=app.name,
            # require_secret: a missing key fails the program naming it; the values stay secret in state.
            values={env: config.require_secret(key.value) for env, key in SECRET_ENV.items()},
            opts=child,
        )
        Machine(
            "signup-machine",
            app=app.name,
            region=settings.fly_region,
            name="signup",
            config=signup_machine_config(settings, sources),
            run_state="active",
            min_secrets_version=secrets.version,
            await_checks=True,
            opts=child,
        )
        self.register_outputs({"app": self.app_name, "hostname": self.hostname})
