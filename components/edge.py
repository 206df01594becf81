"""The edge: one router app per domain that sends every tenant hostname to its tenant app with fly-replay.

Fly's proxy delivers `*.<domain>` and every custom domain to the router (image/router); the router
answers `fly-replay: app=<tenant app>` and the proxy replays the request to the tenant, starting its
stopped machine. Tenant apps therefore need no IPs, certificates or DNS records of their own.

| resource                        | what                                                              |
| edge-app (protected)            | the Fly app `<appPrefix>-edge`, on its own network                |
| edge-ips                        | its public v6 and shared v4 (API-created apps get none)           |
| edge-machine-<region>           | one always-on router per region, the map in its config            |
| edge-wildcard-cert              | `*.<domain>`, validated by DNS-01 (no per-hostname issuance)      |
| edge-wildcard-dns               | `*.<domain>` CNAME `<edge app>.fly.dev`                           |
| edge-acme-dns                   | `_acme-challenge.<domain>` CNAME to the target Fly asks for       |
| edge-domain-<hostname>          | one certificate per custom domain (roster `domains`)             |

Map delivery without dropped requests: the machines form a chain (each depends on the one before),
so the engine updates them one at a time; each update takes the machine's lease and waits for it to
start and for its health check to pass (`await_checks`) before the next machine is touched, so at least
one router always answers. An unchanged map is an unchanged config: no write.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_cloudflare as cloudflare

from components.machine_config import public_ports
from config.config_keys import NAMESPACE
from config.edge_map import MAP_PATH, EdgeSource, edge_hosts, file_value, map_document
from config.stack_config import StackConfig
from providers.fly.app import App
from providers.fly.certificate import Certificate
from providers.fly.ips import Ips
from providers.fly.machine import Machine
from tenants.states import TenantState

EDGE_TYPE = f"{NAMESPACE}:edge:Edge"
ROUTER_PORT = 8080
# The router answers its health check on a port of its own that no service exposes: Fly's machine checks
# connect to the machine directly, on the port the check names (docs/reference/fly-machines-api.md), while
# the public port is all tenant hostnames (the map's size, digest and reload errors are the operator's).
HEALTH_PORT = 8081
HEALTH_PATH = "/_edge/health"


@dataclass(frozen=True)
class CustomDomain:
    """A customer's own hostname: the tenant it serves and the certificate on the edge app."""

    hostname: str
    tenant_id: str
    certificate: Certificate


def edge_machine_config(settings: StackConfig, map_value: str, digest: str) -> dict[str, Any]:
    return {
        "image": settings.edge_image,
        "env": {"PORT": str(ROUTER_PORT), "HEALTH_PORT": str(HEALTH_PORT), "EDGE_MAP": MAP_PATH},
        "guest": {"cpu_kind": "shared", "cpus": 1, "memory_mb": 256},
        "files": [{"guest_path": MAP_PATH, "raw_value": map_value}],
        "services": [
            {
                "protocol": "tcp",
                "internal_port": ROUTER_PORT,
                # Always on: the router is what wakes every tenant, it must never sleep itself.
                "autostop": "off",
                "autostart": True,
                "ports": public_ports(),
                "concurrency": {"type": "requests", "soft_limit": 500, "hard_limit": 1000},
            }
        ],
        "checks": {
            "health": {
                "type": "http",
                "port": HEALTH_PORT,  # in no service: the check connects, the proxy never routes there
                "method": "GET",
                "path": HEALTH_PATH,
                "interval": "10s",
                "timeout": "2s",
                "grace_period": "5s",
            }
        },
        "restart": {"policy": "always"},
        # The router finishes requests in flight on SIGINT and exits (image/router).
        "stop_config": {"signal": "SIGINT", "timeout": "10s"},
        "metadata": {"role": "edge", "managed_by": NAMESPACE, "map_digest": digest},
    }


def customer_dns_records(hostname: str, edge_app: str, certificate: Certificate) -> pulumi.Output[dict[str, Any]]:
    """What the customer creates at their DNS provider for `hostname`, and the certificate's state."""
    return pulumi.Output.all(
        certificate.status, certificate.acme_challenge_name, certificate.acme_challenge_target
    ).apply(
        lambda values: {
            "certificateStatus": values[0],
            "records": [
                {"type": "CNAME", "name": hostname, "content": f"{edge_app}.fly.dev"},
                # Lets Fly issue the certificate before the CNAME moves traffic (DNS-01).
                {"type": "CNAME", "name": values[1] or f"_acme-challenge.{hostname}", "content": values[2]},
            ],
            "apexInstead": "an apex cannot hold a CNAME: point A and AAAA at the edge's addresses (edge.ips)",
        }
    )


def edge_dns_records(
    zone_id: str,
    domain: str,
    edge_app: str,
    acme_target: pulumi.Input[str],
    *,
    parent: pulumi.Resource,
    after: Sequence[pulumi.Resource] = (),
) -> tuple[cloudflare.DnsRecord, cloudflare.DnsRecord]:
    """The edge's two CNAMEs: `*.<domain>` to the edge app (once `after`, the app, exists) and
    `_acme-challenge.<domain>` to the target Fly gives for the wildcard certificate's DNS-01 validation."""
    wildcard = cloudflare.DnsRecord(
        "edge-wildcard-dns",
        zone_id=zone_id,
        name=f"*.{domain}",
        type="CNAME",
        content=f"{edge_app}.fly.dev",
        proxied=False,  # Fly terminates TLS with the wildcard certificate
        ttl=1,
        comment=f"{NAMESPACE} edge: every tenant hostname",
        opts=pulumi.ResourceOptions(parent=parent, depends_on=list(after)),
    )
    acme = cloudflare.DnsRecord(
        "edge-acme-dns",
        zone_id=zone_id,
        name=f"_acme-challenge.{domain}",
        type="CNAME",
        content=acme_target,
        proxied=False,
        ttl=1,
        comment=f"{NAMESPACE} edge: DNS-01 validation of *.{domain}",
        opts=pulumi.ResourceOptions(parent=parent),
    )
    return wildcard, acme


class Edge(pulumi.ComponentResource):
    app_name: str
    map_digest: str
    map_hosts: int
    wildcard_certificate: Certificate
    ips: Ips
    custom_domains: list[CustomDomain]

    def __init__(
        self,
        settings: StackConfig,
        sources: Sequence[EdgeSource],
        apps: Mapping[str, str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`apps`: the control plane's own hostnames under the wildcard (hostname -> app), e.g. signup."""
        super().__init__(EDGE_TYPE, "edge", None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.app_name = settings.edge_app_name
        hosts = edge_hosts(sources, apps)
        document = map_document(hosts)
        self.map_digest, self.map_hosts = document["digest"], len(hosts)

        # Protected: deleting the edge takes every tenant offline at once.
        app = App(
            "edge-app", name=self.app_name, org=settings.fly_org, opts=pulumi.ResourceOptions(parent=self, protect=True)
        )
        self.ips = Ips("edge-ips", app=app.name, opts=child)
        config = edge_machine_config(settings, file_value(hosts, document), self.map_digest)
        previous: pulumi.Resource = self.ips
        for region in settings.edge_regions:
            previous = Machine(
                f"edge-machine-{region}",
                app=app.name,
                region=region,
                name=f"edge-{region}",
                config=config,
                run_state="active",
                await_checks=True,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[previous]),
            )

        # Certificates validate against the app's IPv6 (docs/reference/fly-machines-api.md §1.8).
        after_ips = pulumi.ResourceOptions(parent=self, depends_on=[self.ips])
        domain = settings.domain
        self.wildcard_certificate = Certificate(
            "edge-wildcard-cert", app=app.name, hostname=f"*.{domain}", opts=after_ips
        )
        edge_dns_records(
            settings.cloudflare_zone_id,
            domain,
            self.app_name,
            self.wildcard_certificate.acme_challenge_target,
            parent=self,
            after=[app],
        )
        self.custom_domains = [
            CustomDomain(
                hostname,
                entry.id,
                Certificate(f"edge-domain-{hostname}", app=app.name, hostname=hostname, opts=after_ips),
            )
            for source in sources
            for entry in source.roster
            if entry.state != TenantState.PURGING
            for hostname in entry.domains or ()
        ]
        self.register_outputs({"app": self.app_name, "mapDigest": self.map_digest, "mapHosts": self.map_hosts})

    def outputs(self) -> dict[str, Any]:
        """The stack output `edge`: what an operator checks, and what each customer must set in DNS."""
        return {
            "app": self.app_name,
            "mapHosts": self.map_hosts,
            "mapDigest": self.map_digest,
            "ipv6": self.ips.v6,
            "sharedIpv4": self.ips.shared_v4,
            "wildcardCertificateStatus": self.wildcard_certificate.status,
            "customDomains": {
                domain.hostname: pulumi.Output.all(
                    tenant=domain.tenant_id,
                    dns=customer_dns_records(domain.hostname, self.app_name, domain.certificate),
                ).apply(lambda v: {"tenant": v["tenant"], **v["dns"]})
                for domain in self.custom_domains
            },
        }
