"""One tenant: everything a customer's private Alex needs, as one ComponentResource.

The logical name is the tenant's immutable id and every child name starts with it; physical names
(bucket, Fly app) derive from the id too, never from the username. Lifecycle (DESIGN.md):

| roster state          | machine                          | protect bucket, volume, app |
| active                | running as configured            | yes                         |
| suspended, cancelled  | stopped, autostart off           | yes                         |
| purging               | destroyed (not declared)         | no                          |
| removed from roster   | everything deleted, bucket emptied first (only after purging) |

The component composes four parts, each a function of the roster entry: `tenant_storage` (bucket,
token; components.storage), `bucket_cors` (the bucket's CORS rule for the tenant's hostnames, so the
upload page can PUT straight into the bucket), `bucket_lifecycle` (staging/ emptied after a day: the
backstop for uploads nobody completed) and `tenant_fly` (app, secrets, volume, machine); then the bucket
emptier, which depends on all of them so it is deleted first.

A tenant has no public face of its own: no IPs, certificate or DNS record. Every hostname reaches it
through the edge (components/edge.py), whose router answers `fly-replay: app=<tenant app>`; the
machine keeps its service definition, which the proxy needs to replay into it and to autostart it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_random as random

from components.machine_config import RUN_STATES, VOLUME_NAME, bucket_name, machine_config
from components.owner_emails import owner_emails
from components.storage import (
    TenantStorage,
    bucket_cors,
    bucket_emptier,
    bucket_lifecycle,
    https_origins,
    tenant_storage,
)
from config.config_keys import NAMESPACE
from config.hostnames import primary_hostname, tenant_hostnames
from config.stack_config import StackConfig
from providers.email import Email
from providers.fly.app import App
from providers.fly.machine import Machine
from providers.fly.secrets import Secrets
from providers.fly.volume import Volume
from tenants.plans import Plan
from tenants.roster import RosterEntry
from tenants.states import TenantState

TENANT_TYPE = f"{NAMESPACE}:tenant:Tenant"


@dataclass(frozen=True)
class TenantArgs:
    entry: RosterEntry
    plan: Plan
    settings: StackConfig


@dataclass(frozen=True)
class TenantFly:
    """The tenant's Fly resources; `resources` lists them in declaration order (the emptier's guards)."""

    app: App
    secrets: Secrets
    volume: Volume
    machine: Machine | None  # None while purging: the machine is destroyed
    owner_password: random.RandomPassword

    @property
    def resources(self) -> list[pulumi.Resource]:
        machine: list[pulumi.Resource] = [self.machine] if self.machine is not None else []
        return [self.app, self.secrets, self.volume, *machine]


def tenant_fly(
    args: TenantArgs, storage: TenantStorage, app_name: str, *, parent: pulumi.Resource, protect: bool
) -> TenantFly:
    """The Fly app, its secrets, volume and machine (not while purging)."""
    entry, plan, settings = args.entry, args.plan, args.settings
    tid = entry.id
    region = entry.region or settings.fly_region
    child = pulumi.ResourceOptions(parent=parent)
    app = App(
        f"{tid}-app",
        name=app_name,
        org=settings.fly_org,
        opts=pulumi.ResourceOptions(parent=parent, protect=protect),
    )
    nextauth = random.RandomPassword(f"{tid}-nextauth-secret", length=48, special=False, opts=child)
    owner_password = random.RandomPassword(f"{tid}-owner-password", length=20, special=False, opts=child)
    secrets = Secrets(
        f"{tid}-secrets",
        app=app.name,
        values={
            "NEXTAUTH_SECRET": nextauth.result,
            "R2_ACCESS_KEY_ID": storage.access_key_id,
            "R2_SECRET_ACCESS_KEY": storage.secret_access_key,
            "OWNER_INITIAL_PASSWORD": owner_password.result,
        },
        opts=child,
    )
    volume = Volume(
        f"{tid}-volume",
        app=app.name,
        name=VOLUME_NAME,
        region=region,
        size_gb=plan.volume_gb,
        encrypted=True,
        opts=pulumi.ResourceOptions(parent=parent, protect=protect),
    )
    machine = None
    if entry.state != TenantState.PURGING:
        machine = Machine(
            f"{tid}-machine",
            app=app.name,
            region=region,
            name=f"{tid}-web",
            config=machine_config(entry, plan, settings, volume.volume_id),
            run_state=RUN_STATES[entry.state],
            min_secrets_version=secrets.version,
            opts=child,
        )
    return TenantFly(app, secrets, volume, machine, owner_password)


class Tenant(pulumi.ComponentResource):
    hostname: str  # the primary hostname: NEXTAUTH_URL's
    hostnames: tuple[str, ...]
    app_name: str
    initial_password: pulumi.Output[str]
    emails: list[Email]

    def __init__(self, args: TenantArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        entry, settings = args.entry, args.settings
        super().__init__(TENANT_TYPE, entry.id, None, opts)
        tid = entry.id
        purging = entry.state == TenantState.PURGING
        keep = not purging  # protect data holders until the roster says purging
        self.hostname = primary_hostname(entry, settings)
        self.hostnames = tenant_hostnames(entry, settings)
        self.app_name = settings.app_name(tid)

        storage = tenant_storage(tid, bucket_name(tid), settings.cloudflare_account_id, parent=self, protect=keep)
        cors = bucket_cors(tid, storage, settings.cloudflare_account_id, https_origins(self.hostnames), parent=self)
        lifecycle = bucket_lifecycle(tid, storage, settings.cloudflare_account_id, parent=self)
        fly = tenant_fly(args, storage, self.app_name, parent=self, protect=keep)
        self.emails = owner_emails(entry, settings, self.hostname, fly.owner_password, fly.machine, parent=self)
        bucket_emptier(
            tid,
            storage,
            settings.r2_endpoint,
            purging=purging,
            parent=self,
            guards=[cors, lifecycle, *fly.resources],
        )
        self.initial_password = pulumi.Output.secret(fly.owner_password.result)
        self.register_outputs(
            {
                "hostname": self.hostname,
                "app": self.app_name,
                "state": entry.state,
                "plan": entry.plan,
                "initialPassword": self.initial_password,
            }
        )
