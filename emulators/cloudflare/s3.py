"""R2's S3 side, for the emulator: buckets mirrored into an S3 server (moto in the tests).

With it, creating an R2 bucket creates it in moto, deleting one is refused while moto still holds its
objects or unfinished multipart uploads, and the bucket emptier (scripts/empty_bucket.py) empties the same
bucket the provider then deletes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import boto3
from botocore.exceptions import ClientError
from mypy_boto3_s3 import S3Client


class S3Objects:
    def __init__(self, endpoint: str, key_id: str = "emulator", secret: str = "emulator") -> None:
        self.endpoint = endpoint
        self._client: S3Client = boto3.client(
            "s3", endpoint_url=endpoint, aws_access_key_id=key_id, aws_secret_access_key=secret, region_name="us-east-1"
        )

    def create_bucket(self, name: str) -> None:
        with _unless("BucketAlreadyOwnedByYou"):
            self._client.create_bucket(Bucket=name)

    def holds_objects(self, name: str) -> bool:
        """Objects or unfinished multipart uploads; a bucket S3 does not have holds nothing."""
        held = False
        with _unless("NoSuchBucket"):
            objects = self._client.list_objects_v2(Bucket=name, MaxKeys=1)
            uploads = self._client.list_multipart_uploads(Bucket=name, MaxUploads=1)
            held = bool(objects.get("KeyCount")) or bool(uploads.get("Uploads"))
        return held

    def delete_bucket(self, name: str) -> None:
        with _unless("NoSuchBucket"):
            self._client.delete_bucket(Bucket=name)


@contextmanager
def _unless(code: str) -> Iterator[None]:
    """S3's error `code` is the state already wanted: carry on; any other error is raised."""
    try:
        yield
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") != code:
            raise
