"""The Cloudflare side of hosted Alex, declared by the program's own helpers, for a real `pulumi` run.

Per tenant: the bucket and its token (components.storage.tenant_storage), the bucket's CORS rule
(components.storage.bucket_cors) and its lifecycle rules (components.storage.bucket_lifecycle); once: the edge's two CNAMEs
(components.edge.edge_dns_records). Nothing of Fly is declared, so the provider's requests are all there is.

Config (namespace of this project):
- accountId, zoneId, domain: the Cloudflare account, zone and domain;
- tenants: tenant ids (list);
- extraOrigin: one more browser origin for every bucket's CORS rule (an update in place);
- tokenNameSuffix: appended to every token's name (an update in place, by a transform so the helper's
  own arguments stay as they are);
- acmeTarget: the `_acme-challenge` CNAME's target.
It runs in a workspace copy beside the program's packages (tests/support/pulumi_cli.Workspace(program=...)).
"""

from __future__ import annotations

import pulumi

from components.edge import edge_dns_records
from components.machine_config import bucket_name
from components.storage import bucket_cors, bucket_lifecycle, https_origins, tenant_storage

config = pulumi.Config()
account_id = config.require("accountId")
zone_id = config.require("zoneId")
domain = config.require("domain")
tenants: list[str] = config.require_object("tenants")
extra_origin = config.get("extraOrigin")
token_suffix = config.get("tokenNameSuffix") or ""


def rename_tokens(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
    if args.type_ != "cloudflare:index/accountToken:AccountToken" or not token_suffix:
        return None
    return pulumi.ResourceTransformResult(
        props={**args.props, "name": f"{args.props['name']}{token_suffix}"}, opts=args.opts
    )


for tenant_id in tenants:
    holder = pulumi.ComponentResource(
        "alex-hosted:tenant:Tenant", tenant_id, None, pulumi.ResourceOptions(transforms=[rename_tokens])
    )
    storage = tenant_storage(tenant_id, bucket_name(tenant_id), account_id, parent=holder, protect=False)
    origins = [*https_origins([f"{tenant_id}.{domain}"]), *([extra_origin] if extra_origin else [])]
    bucket_cors(tenant_id, storage, account_id, origins, parent=holder)
    bucket_lifecycle(tenant_id, storage, account_id, parent=holder)
    pulumi.export(f"{tenant_id}-bucket", storage.bucket.name)
    pulumi.export(f"{tenant_id}-accessKeyId", storage.access_key_id)
    pulumi.export(f"{tenant_id}-secretAccessKey", storage.secret_access_key)

edge = pulumi.ComponentResource("alex-hosted:edge:Edge", "edge")
edge_dns_records(zone_id, domain, "alex-edge", config.get("acmeTarget") or f"{domain}.acme.example.net", parent=edge)
