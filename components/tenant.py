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
upload page can PUT straight into the bucket), `tenant_fly` (app, IPs, secrets, volume, machine,
certificate) and `tenant_dns` (the CNAME); then the bucket emptier, which depends on all of them so it
is deleted first.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_cloudflare as cloudflare
import pulumi_random as random

from components.config_keys import NAMESPACE
from components.fly.app import App
from components.fly.certificate import Certificate
from components.fly.ips import Ips
from components.fly.machine import Machine
from components.fly.secrets import Secrets
from components.fly.volume import Volume
from components.machine_config import RUN_STATES, VOLUME_NAME, bucket_name, machine_config
from components.stack_config import StackConfig
from components.storage import TenantStorage, bucket_cors, bucket_emptier, https_origins, tenant_storage
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
    ips: Ips
    secrets: Secrets
    volume: Volume
    machine: Machine | None  # None while purging: the machine is destroyed
    certificate: Certificate
    owner_password: random.RandomPassword

    @property
    def resources(self) -> list[pulumi.Resource]:
        machine: list[pulumi.Resource] = [self.machine] if self.machine is not None else []
        return [self.app, self.ips, self.secrets, self.volume, *machine, self.certificate]


def tenant_hostnames(entry: RosterEntry, settings: StackConfig) -> tuple[str, ...]:
    """Every hostname the tenant's Alex answers on, first the canonical `<username>.<domain>`.

    The one list the CORS rule is built from; custom domains join it here when the roster gains them.
    """
    return (settings.hostname(entry.username),)


def tenant_fly(
    args: TenantArgs, storage: TenantStorage, hostname: str, app_name: str, *, parent: pulumi.Resource, protect: bool
) -> TenantFly:
    """The Fly app, its IPs, secrets, volume, machine (not while purging) and the hostname's certificate."""
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
    ips = Ips(f"{tid}-ips", app=app.name, opts=child)
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
    # The certificate needs the app's IPv6 to validate (docs/reference/fly-machines-api.md §1.8).
    certificate = Certificate(
        f"{tid}-cert",
        app=app.name,
        hostname=hostname,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[ips]),
    )
    return TenantFly(app, ips, secrets, volume, machine, certificate, owner_password)


def tenant_dns(
    tenant_id: str, hostname: str, app: App, zone_id: str, *, parent: pulumi.Resource
) -> cloudflare.DnsRecord:
    """The hostname's CNAME to the Fly app, in the stack's Cloudflare zone."""
    return cloudflare.DnsRecord(
        f"{tenant_id}-dns",
        zone_id=zone_id,
        name=hostname,
        type="CNAME",
        content=app.name.apply(lambda name: f"{name}.fly.dev"),
        proxied=False,  # Fly terminates TLS with its own certificate for the hostname
        ttl=1,
        comment=f"{NAMESPACE} tenant {tenant_id}",
        opts=pulumi.ResourceOptions(parent=parent),
    )


class Tenant(pulumi.ComponentResource):
    hostname: str
    app_name: str
    certificate_status: pulumi.Output[str]
    initial_password: pulumi.Output[str]

    def __init__(self, args: TenantArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        entry, settings = args.entry, args.settings
        super().__init__(TENANT_TYPE, entry.id, None, opts)
        tid = entry.id
        purging = entry.state == TenantState.PURGING
        keep = not purging  # protect data holders until the roster says purging
        self.hostname = settings.hostname(entry.username)
        self.app_name = settings.app_name(tid)

        storage = tenant_storage(tid, bucket_name(tid), settings.cloudflare_account_id, parent=self, protect=keep)
        origins = https_origins(tenant_hostnames(entry, settings))
        cors = bucket_cors(tid, storage, settings.cloudflare_account_id, origins, parent=self)
        fly = tenant_fly(args, storage, self.hostname, self.app_name, parent=self, protect=keep)
        dns = tenant_dns(tid, self.hostname, fly.app, settings.cloudflare_zone_id, parent=self)
        bucket_emptier(
            tid,
            storage,
            settings.r2_endpoint,
            purging=purging,
            parent=self,
            guards=[cors, *fly.resources, dns],
        )
        self.certificate_status = fly.certificate.status
        self.initial_password = pulumi.Output.secret(fly.owner_password.result)
        self.register_outputs(
            {
                "hostname": self.hostname,
                "app": self.app_name,
                "state": entry.state,
                "plan": entry.plan,
                "certificateStatus": self.certificate_status,
                "initialPassword": self.initial_password,
            }
        )
