"""A tenant's R2 storage: its bucket, a token scoped to that bucket alone, the bucket's CORS rule, its
lifecycle rules and the bucket emptier.

Facts from docs/reference/cloudflare.md: the token's S3 key id is the token id and its S3 secret is the
sha256 of the token value (§2); the resource key names one bucket (§1.3); the resources JSON must be
the exact bytes Cloudflare echoes or every token drifts on every `up` (§1.3, §8); Cloudflare refuses to
delete a non-empty bucket (§3.2).

The CORS rule lets the tenant's upload page (served by the companion at `https://<hostname>/_hosted/`)
PUT books straight into the bucket with presigned URLs. `cors_rules` is its one spelling, as plain
data: the Tenant declares it with `R2BucketCors` (`r2_cors_rules`) and the browser test applies the same
rules to moto's S3 server with PutBucketCors (`s3_cors_configuration`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_cloudflare as cloudflare
import pulumi_command as command

from tenants.bucket_layout import STAGING_MAX_AGE_SECONDS, STAGING_PREFIX
from tenants.inputs import matches
from tenants.naming import CLOUDFLARE_ID_RE, R2_BUCKET_RE

R2_JURISDICTIONS = ("default", "eu", "fedramp")

# Permission groups for object access on one bucket (docs/reference/cloudflare.md §1.3). Item Write already
# covers reads; Item Read is added as the dashboard's "Object Read & Write" does.
BUCKET_ITEM_WRITE = "2efd5506f9c8494dacb1fa10a3e7d5b6"
BUCKET_ITEM_READ = "6a018a9f2fc74eb6b293b0c548f38b39"

# The emptier runs at delete time from the project directory, with the project's own virtualenv.
EMPTY_COMMAND = 'exec "${ALEX_PYTHON:-.venv/bin/python}" -m scripts.empty_bucket'


# What a browser upload needs (components/tenant.py declares one rule for all of a tenant's hostnames):
# - PUT for a presigned PutObject and for each presigned UploadPart; GET and HEAD to read back or check
#   an object. No POST or DELETE: the companion creates, completes and aborts multipart uploads itself.
# - Content-Type is the one header the page sets (a PUT with a typed body is not a "simple" request).
# - ETag exposed, as a multipart upload from a browser needs: a page that completes uploads itself reads
#   each part's ETag (ours lets the companion list the parts at completion instead).
CORS_METHODS = ("PUT", "GET", "HEAD")
CORS_HEADERS = ("content-type",)
CORS_EXPOSE_HEADERS = ("ETag",)
CORS_MAX_AGE_SECONDS = 3600  # browsers cache the preflight for up to 2 h anyway


@dataclass(frozen=True)
class CorsRule:
    origins: tuple[str, ...]
    methods: tuple[str, ...] = CORS_METHODS
    headers: tuple[str, ...] = CORS_HEADERS
    expose_headers: tuple[str, ...] = CORS_EXPOSE_HEADERS
    max_age_seconds: int = CORS_MAX_AGE_SECONDS


def https_origins(hostnames: Sequence[str]) -> tuple[str, ...]:
    """The browser origins of a tenant's hostnames: the page is served over HTTPS only (force_https)."""
    return tuple(f"https://{hostname}" for hostname in hostnames)


def cors_rules(origins: Sequence[str]) -> tuple[CorsRule, ...]:
    """The bucket's CORS rules for uploads from `origins` (e.g. `https_origins(hostnames)`)."""
    if not origins:
        raise ValueError("a CORS rule needs at least one origin")
    return (CorsRule(origins=tuple(origins)),)


def r2_cors_rules(rules: Sequence[CorsRule]) -> list[cloudflare.R2BucketCorsRuleArgs]:
    return [
        cloudflare.R2BucketCorsRuleArgs(
            allowed=cloudflare.R2BucketCorsRuleAllowedArgs(
                origins=list(rule.origins), methods=list(rule.methods), headers=list(rule.headers)
            ),
            expose_headers=list(rule.expose_headers),
            max_age_seconds=rule.max_age_seconds,
        )
        for rule in rules
    ]


def s3_cors_configuration(rules: Sequence[CorsRule]) -> dict[str, Any]:
    """The same rules as an S3 PutBucketCors `CORSConfiguration` (R2's S3 API takes this shape too)."""
    return {
        "CORSRules": [
            {
                "AllowedOrigins": list(rule.origins),
                "AllowedMethods": list(rule.methods),
                "AllowedHeaders": list(rule.headers),
                "ExposeHeaders": list(rule.expose_headers),
                "MaxAgeSeconds": rule.max_age_seconds,
            }
            for rule in rules
        ]
    }


def bucket_resource_key(account_id: str, bucket: str, jurisdiction: str = "default") -> str:
    """The policy resource key of one bucket; a part outside its pattern is a ValueError naming it."""
    if not matches(CLOUDFLARE_ID_RE, account_id):
        raise ValueError(f"token policy: Cloudflare account id {account_id!r} is not 32 lowercase hex characters")
    if not matches(R2_BUCKET_RE, bucket):
        raise ValueError(
            f"token policy: R2 bucket name {bucket!r} is not 3-63 lowercase letters, digits and hyphens"
            " starting and ending with a letter or digit"
        )
    if jurisdiction not in R2_JURISDICTIONS:
        raise ValueError(f"token policy: R2 jurisdiction {jurisdiction!r} is not one of {', '.join(R2_JURISDICTIONS)}")
    return f"com.cloudflare.edge.r2.bucket.{account_id}_{jurisdiction}_{bucket}"


def token_resources_json(account_id: str, bucket: str, jurisdiction: str = "default") -> str:
    """The policy's `resources`: the one byte string Cloudflare echoes for it.

    The provider keeps `resources` as the raw bytes of the API's answer and compares them with this string
    as text (TF account_token/custom.go; docs/reference/cloudflare.md §1.3), so any other spelling of the
    same JSON is an update of every token on every `up`. Cloudflare answers compact JSON; the key's parts
    are checked to hold only characters JSON writes one way (no quote, backslash, control or non-ASCII
    character), and there is one key (no order to differ in). Compact output is then the only spelling.
    """
    return json.dumps({bucket_resource_key(account_id, bucket, jurisdiction): "*"}, separators=(",", ":"))


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


def bucket_cors(
    tenant_id: str,
    storage: TenantStorage,
    account_id: str,
    origins: Sequence[str],
    *,
    parent: pulumi.Resource,
) -> cloudflare.R2BucketCors:
    """The bucket's CORS rule for the tenant's origins.

    Not protected: it holds no data and is rebuilt from the roster. A changed origin list (a rename) is
    an in-place update: the provider replaces only on a new account or bucket name (TF provider
    `r2_bucket_cors` schema), and its update PUTs the whole rule set. `deleted_with` the bucket: deleting
    the bucket deletes its CORS configuration, so no separate call is made then.
    """
    return cloudflare.R2BucketCors(
        f"{tenant_id}-bucket-cors",
        account_id=account_id,
        bucket_name=storage.bucket.name,
        jurisdiction="default",
        rules=r2_cors_rules(cors_rules(origins)),
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[storage.bucket], deleted_with=storage.bucket),
    )


# R2 gives every bucket a rule aborting multipart uploads 7 days after they start; declaring rules
# replaces the whole set, so that one is declared again (a backup's interrupted upload of a big book).
DEFAULT_MULTIPART_ABORT_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class LifecycleRule:
    id: str
    prefix: str
    delete_objects_after_seconds: int | None
    abort_multipart_after_seconds: int


# The backstop for readers' uploads: the companion deletes what a presigned URL wrote once the URL can no
# longer write (minutes), but a companion that dies or loses its memory leaves staging/ to this rule.
LIFECYCLE_RULES = (
    LifecycleRule("staging-uploads", STAGING_PREFIX, STAGING_MAX_AGE_SECONDS, STAGING_MAX_AGE_SECONDS),
    LifecycleRule("abort-stale-multipart-uploads", "", None, DEFAULT_MULTIPART_ABORT_SECONDS),
)


def r2_lifecycle_rules(rules: Sequence[LifecycleRule]) -> list[cloudflare.R2BucketLifecycleRuleArgs]:
    """The rules as the provider takes them (argument names of pulumi-cloudflare 6.17.0's schema)."""
    return [
        cloudflare.R2BucketLifecycleRuleArgs(
            id=rule.id,
            enabled=True,
            conditions=cloudflare.R2BucketLifecycleRuleConditionsArgs(prefix=rule.prefix),
            delete_objects_transition=(
                None
                if rule.delete_objects_after_seconds is None
                else cloudflare.R2BucketLifecycleRuleDeleteObjectsTransitionArgs(
                    condition=cloudflare.R2BucketLifecycleRuleDeleteObjectsTransitionConditionArgs(
                        type="Age", max_age=rule.delete_objects_after_seconds
                    )
                )
            ),
            abort_multipart_uploads_transition=cloudflare.R2BucketLifecycleRuleAbortMultipartUploadsTransitionArgs(
                condition=cloudflare.R2BucketLifecycleRuleAbortMultipartUploadsTransitionConditionArgs(
                    type="Age", max_age=rule.abort_multipart_after_seconds
                )
            ),
        )
        for rule in rules
    ]


def bucket_lifecycle(
    tenant_id: str, storage: TenantStorage, account_id: str, *, parent: pulumi.Resource
) -> cloudflare.R2BucketLifecycle:
    """The bucket's lifecycle rules (`LIFECYCLE_RULES`): staging/ emptied after a day, stale multipart
    uploads aborted.

    Like the CORS rule: not protected (it holds no data), `deleted_with` the bucket (deleting the bucket
    deletes its rules, so no separate call is made then). Constant for every tenant: an unchanged roster
    never updates it.
    """
    return cloudflare.R2BucketLifecycle(
        f"{tenant_id}-bucket-lifecycle",
        account_id=account_id,
        bucket_name=storage.bucket.name,
        jurisdiction="default",
        rules=r2_lifecycle_rules(LIFECYCLE_RULES),
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[storage.bucket], deleted_with=storage.bucket),
    )


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
