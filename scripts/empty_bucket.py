"""Empties one tenant's R2 bucket; the delete step of the tenant's bucket emptier runs this.

Cloudflare refuses to delete a bucket that still holds objects, so the tenant's bucket is emptied,
with the tenant's own bucket-scoped credentials, just before Pulumi deletes it. It refuses unless the
last `pulumi up` saw the tenant `purging` (ALEX_PURGE_CONFIRMED equals ALEX_TENANT): deleting a
roster line by mistake must never cost a customer their books.

Environment: ALEX_TENANT, ALEX_PURGE_CONFIRMED, R2_ENDPOINT, R2_BUCKET, R2_ACCESS_KEY_ID,
R2_SECRET_ACCESS_KEY, and optionally R2_MAX_ATTEMPTS (default 5).
Exit codes: 0 emptied (or already gone), 1 refused, 2 storage error, unusable R2 settings or a bad flag.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from ops.r2 import BadInput, r2_client
from scripts import cli

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PAGE_SIZE = 1000  # the most DeleteObjects takes in one call
REQUIRED = ("ALEX_TENANT", "R2_ENDPOINT", "R2_BUCKET", "R2_ACCESS_KEY_ID", "R2_SECRET_ACCESS_KEY")


def empty_bucket(client: S3Client, bucket: str, log: TextLog) -> tuple[int, int]:
    """Deletes every object and aborts every unfinished multipart upload; returns (objects, uploads)."""
    deleted = 0
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, PaginationConfig={"PageSize": PAGE_SIZE}):
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if not keys:
            continue
        result = client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})  # type: ignore[typeddict-item]
        errors = result.get("Errors", [])
        if errors:
            first = errors[0]
            raise RuntimeError(f"{len(errors)} object(s) not deleted, first {first.get('Key')!r}: {first.get('Code')}")
        deleted += len(keys)
        log(f"deleted {deleted} object(s) so far")
    aborted = 0
    uploads = client.get_paginator("list_multipart_uploads")
    for upload_page in uploads.paginate(Bucket=bucket):
        for upload in upload_page.get("Uploads", []):
            client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
            aborted += 1
    return deleted, aborted


class TextLog:
    def __init__(self, tenant: str):
        self.tenant = tenant

    def __call__(self, message: str) -> None:
        print(f"empty_bucket [{self.tenant}]: {message}", file=sys.stderr, flush=True)


def build_parser() -> cli.Parser:
    return cli.parser(
        "empty_bucket",
        (__doc__ or "").split("\n\n")[0],
        epilog="Configured through the environment (see the module docstring); normally run by Pulumi.",
    )


def _body(argv: Sequence[str] | None, env: Mapping[str, str]) -> int:
    build_parser().parse_args(argv)
    missing = [name for name in REQUIRED if not env.get(name)]
    tenant = env.get("ALEX_TENANT", "?")
    log = TextLog(tenant)
    if missing:
        raise cli.CliError(f"refusing: missing environment {', '.join(missing)}", cli.EXIT_ATTENTION)
    bucket = env["R2_BUCKET"]
    cli.keep_secret(env["R2_SECRET_ACCESS_KEY"])
    if env.get("ALEX_PURGE_CONFIRMED") != tenant:
        raise cli.CliError(
            f"refusing to empty bucket {bucket}: tenant {tenant} was not 'purging' at the last pulumi up. "
            "If this tenant really is leaving, set its state to purging, run pulumi up, then remove it. "
            "If its roster entry was deleted by mistake, restore it.",
            cli.EXIT_ATTENTION,
        )
    attempts = env.get("R2_MAX_ATTEMPTS", "5")
    # It may come from the operator's shell: a typo is a refusal, not a traceback. ASCII digits only,
    # since str.isdigit() also passes "²", which int() refuses.
    if not (attempts.isascii() and attempts.isdigit() and 1 <= int(attempts) <= 100):
        raise cli.CliError(
            f"refusing: R2_MAX_ATTEMPTS must be a whole number, got {attempts!r} (expected 1 to 100)",
            cli.EXIT_ATTENTION,
        )
    try:
        client = r2_client(
            env["R2_ENDPOINT"], env["R2_ACCESS_KEY_ID"], env["R2_SECRET_ACCESS_KEY"], max_attempts=int(attempts)
        )
    except BadInput as exc:  # could not run: exit 2, like a storage error
        raise cli.CliError(f"cannot run: {exc}") from None
    try:
        objects, uploads = empty_bucket(client, bucket, log)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "NoSuchBucket":
            log(f"bucket {bucket} is already gone")
            return cli.EXIT_OK
        raise cli.CliError(f"storage error on bucket {bucket}: {code or exc}") from None
    except (BotoCoreError, RuntimeError) as exc:
        raise cli.CliError(f"storage error on bucket {bucket}: {exc}") from None
    log(f"bucket {bucket} is empty: deleted {objects} object(s), aborted {uploads} unfinished upload(s)")
    return cli.EXIT_OK


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    env = os.environ if environ is None else environ
    return cli.run("empty_bucket", lambda args: _body(args, env), argv)


if __name__ == "__main__":
    sys.exit(main())
