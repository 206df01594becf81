"""One way to build an S3 client for Cloudflare R2 (or a local S3 server in tests), and to list a prefix.

`r2_client` checks its inputs first and raises `BadInput` (a ValueError) naming the setting at fault:
botocore would raise a bare ValueError for "host:9000", try DNS for "http://h:99999", and fail inside
request signing on a non-ASCII key.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

from config.inputs import BadInput, check_credential, check_http_url

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["BadInput", "S3Object", "list_objects", "r2_client"]


def r2_client(
    endpoint: str,
    access_key_id: str,
    secret_access_key: str,
    *,
    timeout: float = 30.0,
    max_attempts: int = 5,
    endpoint_name: str = "R2_ENDPOINT",
) -> S3Client:
    """R2 speaks S3 with region "auto"; retries use botocore's standard mode (backoff on 5xx and throttling)."""
    return boto3.client(
        "s3",
        endpoint_url=check_http_url(endpoint, endpoint_name),
        aws_access_key_id=check_credential(access_key_id, "R2_ACCESS_KEY_ID"),
        aws_secret_access_key=check_credential(secret_access_key, "R2_SECRET_ACCESS_KEY"),
        region_name="auto",
        config=Config(
            retries={"max_attempts": max_attempts, "mode": "standard"},
            connect_timeout=timeout,
            read_timeout=timeout,
            s3={"addressing_style": "path"},
        ),
    )


@dataclass(frozen=True)
class S3Object:
    key: str
    size: int


def list_objects(client: S3Client, bucket: str, prefix: str) -> Iterator[S3Object]:
    """Every object under `prefix`, page by page."""
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            yield S3Object(item["Key"], int(item.get("Size", 0)))
