"""One tenant: everything a customer's private Alex needs, as one ComponentResource.

The logical name is the tenant's immutable id and every child name starts with it; physical names
(bucket, Fly app) derive from the id too, never from the username. Lifecycle (DESIGN.md):

| roster state          | machine                          | protect bucket, volume, app |
| active                | running as configured            | yes                         |
| suspended, cancelled  | stopped, autostart off           | yes                         |
| purging               | destroyed (not declared)         | no                          |
| removed from roster   | everything deleted, bucket emptied first (only after purging) |
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_cloudflare as cloudflare
import pulumi_random as random

from components.fly.app import App
from components.fly.certificate import Certificate
from components.fly.ips import Ips
from components.fly.machine import Machine
from components.fly.secrets import Secrets
from components.fly.volume import Volume
from components.machine_config import RUN_STATES, VOLUME_NAME, bucket_name, machine_config
from components.stack_config import StackConfig
from components.storage import bucket_emptier, tenant_storage
from tenants.plans import Plan
from tenants.roster import RosterEntry

TENANT_TYPE = "alex-hosted:tenant:Tenant"


@dataclass(frozen=True)
class TenantArgs:
    entry: RosterEntry
    plan: Plan
    settings: StackConfig


class Tenant(pulumi.ComponentResource):
    hostname: str
    app_name: str
    certificate_status: pulumi.Output[str]
    initial_password: pulumi.Output[str]

    def __init__(self, args: TenantArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        entry, plan, settings = args.entry, args.plan, args.settings
        super().__init__(TENANT_TYPE, entry.id, None, opts)
        tid = entry.id
        purging = entry.state == "purging"
        keep = not purging  # protect data holders until the roster says purging
        region = entry.region or settings.fly_region
        self.hostname = settings.hostname(entry.username)
        self.app_name = settings.app_name(tid)
        child = pulumi.ResourceOptions(parent=self)

        storage = tenant_storage(tid, bucket_name(tid), settings.cloudflare_account_id, parent=self, protect=keep)
        app = App(
            f"{tid}-app",
            name=self.app_name,
            org=settings.fly_org,
            opts=pulumi.ResourceOptions(parent=self, protect=keep),
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
            opts=pulumi.ResourceOptions(parent=self, protect=keep),
        )
        guards: list[pulumi.Resource] = [app, ips, secrets, volume]
        if not purging:
            guards.append(
                Machine(
                    f"{tid}-machine",
                    app=app.name,
                    region=region,
                    name=f"{tid}-web",
                    config=machine_config(entry, plan, settings, volume.volume_id),
                    run_state=RUN_STATES[entry.state],
                    min_secrets_version=secrets.version,
                    opts=child,
                )
            )
        # The certificate needs the app's IPv6 to validate (reference/fly-machines-api.md §1.8).
        certificate = Certificate(
            f"{tid}-cert",
            app=app.name,
            hostname=self.hostname,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[ips]),
        )
        dns = cloudflare.DnsRecord(
            f"{tid}-dns",
            zone_id=settings.cloudflare_zone_id,
            name=self.hostname,
            type="CNAME",
            content=app.name.apply(lambda name: f"{name}.fly.dev"),
            proxied=False,  # Fly terminates TLS with its own certificate for the hostname
            ttl=1,
            comment=f"alex-hosted tenant {tid}",
            opts=child,
        )
        guards += [certificate, dns]
        bucket_emptier(
            tid,
            storage,
            settings.r2_endpoint,
            purging=purging,
            parent=self,
            guards=guards,
        )
        self.certificate_status = certificate.status
        self.initial_password = pulumi.Output.secret(owner_password.result)
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
