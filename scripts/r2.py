"""One way to build an S3 client for Cloudflare R2 (or a local S3 server in tests), and to list a prefix."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def r2_client(
    endpoint: str, access_key_id: str, secret_access_key: str, *, timeout: float = 30.0, max_attempts: int = 5
) -> S3Client:
    """R2 speaks S3 with region "auto"; retries use botocore's standard mode (backoff on 5xx and throttling)."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
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
