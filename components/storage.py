"""A tenant's R2 storage: its bucket, a token scoped to that bucket alone, and the bucket emptier.

Facts from docs/reference/cloudflare.md: the token's S3 key id is the token id and its S3 secret is the
sha256 of the token value (§2); the resource key names one bucket (§1.3); the resources JSON must be
compact or it drifts on every read (§1.3); Cloudflare refuses to delete a non-empty bucket (§3.2).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_cloudflare as cloudflare
import pulumi_command as command

# Permission groups for object access on one bucket (docs/reference/cloudflare.md §1.3). Item Write already
# covers reads; Item Read is added as the dashboard's "Object Read & Write" does.
BUCKET_ITEM_WRITE = "2efd5506f9c8494dacb1fa10a3e7d5b6"
BUCKET_ITEM_READ = "6a018a9f2fc74eb6b293b0c548f38b39"

# The emptier runs at delete time from the project directory, with the project's own virtualenv.
EMPTY_COMMAND = 'exec "${ALEX_PYTHON:-.venv/bin/python}" -m scripts.empty_bucket'


def bucket_resource_key(account_id: str, bucket: str, jurisdiction: str = "default") -> str:
    return f"com.cloudflare.edge.r2.bucket.{account_id}_{jurisdiction}_{bucket}"


def token_resources_json(account_id: str, bucket: str) -> str:
    """The policy's resources, compact and with one key, so the string the API echoes is identical."""
    return json.dumps({bucket_resource_key(account_id, bucket): "*"}, separators=(",", ":"))


def s3_secret_from_token_value(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class TenantStorage:
    bucket: cloudflare.R2Bucket
    token: cloudflare.AccountToken
    access_key_id: pulumi.Output[str]
    secret_access_key: pulumi.Output[str]


def tenant_storage(
    tenant_id: str,
    bucket_name: str,
    account_id: str,
    *,
    parent: pulumi.Resource,
    protect: bool,
) -> TenantStorage:
    bucket = cloudflare.R2Bucket(
        f"{tenant_id}-bucket",
        account_id=account_id,
        name=bucket_name,
        jurisdiction="default",
        opts=pulumi.ResourceOptions(parent=parent, protect=protect),
    )
    token = cloudflare.AccountToken(
        f"{tenant_id}-r2-token",
        account_id=account_id,
        name=f"r2-{bucket_name}",
        policies=[
            cloudflare.AccountTokenPolicyArgs(
                effect="allow",
                permission_groups=[
                    cloudflare.AccountTokenPolicyPermissionGroupArgs(id=BUCKET_ITEM_WRITE),
                    cloudflare.AccountTokenPolicyPermissionGroupArgs(id=BUCKET_ITEM_READ),
                ],
                resources=token_resources_json(account_id, bucket_name),
            )
        ],
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[bucket]),
    )
    derived: pulumi.Output[str] = token.value.apply(lambda value: s3_secret_from_token_value(value or ""))
    secret: pulumi.Output[str] = pulumi.Output.secret(derived)  # already secret; stated so it stays so
    return TenantStorage(bucket=bucket, token=token, access_key_id=token.id, secret_access_key=secret)


def bucket_emptier(
    tenant_id: str,
    storage: TenantStorage,
    endpoint: str,
    *,
    purging: bool,
    parent: pulumi.Resource,
    guards: Sequence[pulumi.Resource],
) -> command.local.Command:
    """A resource whose delete empties the bucket, so Cloudflare will then delete the bucket.

    Two guards keep a mistaken roster deletion from emptying a live tenant's bucket:
    - the delete only empties when the last `up` saw the tenant `purging` (ALEX_PURGE_CONFIRMED, read
      from state at delete time); otherwise it fails and says why;
    - it depends on every other resource of the tenant, so Pulumi deletes it first: when it refuses,
      nothing else of the tenant has been touched.
    The create/update commands are constant no-ops, so a changed environment is an in-place update,
    never a replacement (a replacement would run the old delete).
    """
    armed = f"echo 'bucket emptier for tenant {tenant_id} is in place'"
    return command.local.Command(
        f"{tenant_id}-bucket-emptier",
        create=armed,
        update=armed,
        delete=EMPTY_COMMAND,
        environment={
            "ALEX_TENANT": tenant_id,
            "ALEX_PURGE_CONFIRMED": tenant_id if purging else "",
            "R2_ENDPOINT": endpoint,
            "R2_BUCKET": storage.bucket.name,
            "R2_ACCESS_KEY_ID": storage.access_key_id,
            "R2_SECRET_ACCESS_KEY": storage.secret_access_key,
        },
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[storage.bucket, storage.token, *guards]),
    )
