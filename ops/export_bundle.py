"""A tenant's export: a zip of its books and newest database snapshot, stored in its bucket and signed.

Reads the tenant's bucket (tenants/bucket_layout.py: `books/` files; the newest valid `db/`
snapshot, the one the image would restore), builds the zip in a temporary file on disk (a tenant may
hold gigabytes; each object is streamed in), stores it under `exports/` in the same bucket and
returns a time-limited download link (an S3 presigned URL). `scripts.export` is its command line.
"""

from __future__ import annotations

import tempfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import IO, TYPE_CHECKING, NoReturn

from botocore.exceptions import BotoCoreError, ClientError

from common.errors import OperationError, Refused
from common.sizes import human_bytes
from components.machine_config import bucket_name
from ops.r2 import S3Object, list_objects
from tenants import bucket_layout
from tenants.roster import RosterEntry
from tenants.states import TenantState

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MAX_EXPIRES_S = 7 * 24 * 3600  # the longest a SigV4 presigned URL may live
CHUNK = 1024 * 1024
PROGRESS_EVERY_BYTES = 256 * 1024 * 1024
_CREDENTIAL_CODES = frozenset(
    {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken", "Unauthorized", "403", "401"}
)

Progress = Callable[[str], None]


class ExportRefused(Refused):
    """The tenant's state forbids an export (purging, or cancelled past its grace window)."""


class StorageFailed(OperationError):
    """R2 refused or failed a request; the message names the bucket, never the secret."""


@dataclass(frozen=True)
class ExportResult:
    bucket: str
    key: str
    books: int
    database: str | None
    zip_bytes: int
    url: str
    expires_at: datetime


def _quiet(message: str) -> None:
    pass


def check_exportable(tenant: RosterEntry, today: date) -> None:
    """Refuses purging tenants and cancelled ones past their grace window (ExportRefused)."""
    if tenant.state == TenantState.PURGING:
        raise ExportRefused(
            f"tenant {tenant.id!r} is purging: its data is being deleted and cannot be exported "
            "(set it back to cancelled in the roster first if the customer still needs it)"
        )
    if tenant.state == TenantState.CANCELLED and tenant.purge_after is not None and today > tenant.purge_after:
        raise ExportRefused(
            f"tenant {tenant.id!r} is cancelled and its grace window ended on {tenant.purge_after.isoformat()}; "
            "extend purge_after in the roster (the Stripe sync keeps a later date) to export it"
        )


def s3_failure(exc: Exception, bucket: str, endpoint: str) -> NoReturn:
    """One StorageFailed per kind of S3 failure, naming the bucket; never the secret."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "unknown"))
        if code in _CREDENTIAL_CODES:
            raise StorageFailed(
                f"R2 rejected the key in R2_ACCESS_KEY_ID / R2_SECRET_ACCESS_KEY for bucket {bucket} ({code})"
            ) from None
        if code == "NoSuchBucket":
            raise StorageFailed(f"bucket {bucket} does not exist at {endpoint}") from None
        raise StorageFailed(f"R2 error on bucket {bucket}: {code} {error.get('Message', '')}".rstrip()) from None
    raise StorageFailed(f"R2 endpoint {endpoint} is unreachable or failed ({type(exc).__name__})") from None


def latest_database(client: S3Client, bucket: str) -> S3Object | None:
    """The snapshot a first boot would restore: the newest valid snapshot name directly under db/."""
    snapshots = {obj.key: obj for obj in list_objects(client, bucket, bucket_layout.DB_PREFIX)}
    newest = bucket_layout.newest_snapshot(snapshots)
    return snapshots[newest] if newest else None


def _copy_into(client: S3Client, bucket: str, obj: S3Object, archive: zipfile.ZipFile, compress: bool) -> None:
    info = zipfile.ZipInfo(obj.key, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    info.file_size = obj.size  # lets zipfile pick ZIP64 for members over 2 GiB
    body = client.get_object(Bucket=bucket, Key=obj.key)["Body"]
    try:
        with archive.open(info, "w") as member:
            for chunk in body.iter_chunks(CHUNK):
                member.write(chunk)
    finally:
        body.close()


def build_zip(
    client: S3Client,
    bucket: str,
    books: Sequence[S3Object],
    database: S3Object | None,
    out: IO[bytes],
    progress: Progress = _quiet,
) -> None:
    """Streams every book (stored: e-books are compressed already) and the snapshot (deflated) into `out`."""
    total = sum(obj.size for obj in books) + (database.size if database else 0)
    done = 0
    next_report = PROGRESS_EVERY_BYTES
    with zipfile.ZipFile(out, "w", allowZip64=True) as archive:
        for index, obj in enumerate(books, start=1):
            _copy_into(client, bucket, obj, archive, compress=False)
            done += obj.size
            if done >= next_report or index % 100 == 0:
                progress(f"  {index}/{len(books)} books, {human_bytes(done)} of {human_bytes(total)}")
                next_report = done + PROGRESS_EVERY_BYTES
        if database is not None:
            _copy_into(client, bucket, database, archive, compress=True)


def export_tenant(
    client: S3Client,
    tenant: RosterEntry,
    endpoint: str,
    now: datetime,
    expires_s: int,
    progress: Progress = _quiet,
) -> ExportResult | None:
    """Builds, stores and signs the export; None when the bucket holds neither books nor a backup."""
    bucket = bucket_name(tenant.id)
    try:
        books = sorted(
            (obj for obj in list_objects(client, bucket, bucket_layout.BOOKS_PREFIX) if not obj.key.endswith("/")),
            key=lambda obj: obj.key,
        )
        database = latest_database(client, bucket)
        if not books and database is None:
            return None
        progress(
            f"exporting {len(books)} book(s) and {database.key if database else 'no database backup'} from {bucket}"
        )
        key = bucket_layout.export_key(tenant.id, now)
        with tempfile.TemporaryFile(prefix=f"export-{tenant.id}-") as spool:
            build_zip(client, bucket, books, database, spool, progress)
            size = spool.tell()
            spool.seek(0)
            progress(f"uploading {human_bytes(size)} to {bucket}/{key}")
            client.upload_fileobj(spool, bucket, key, ExtraArgs={"ContentType": "application/zip"})
        url = client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": bucket,
                "Key": key,
                "ResponseContentDisposition": f'attachment; filename="{tenant.username}-export.zip"',
            },
            ExpiresIn=expires_s,
        )
    except (ClientError, BotoCoreError) as exc:
        s3_failure(exc, bucket, endpoint)
    return ExportResult(
        bucket=bucket,
        key=key,
        books=len(books),
        database=database.key if database else None,
        zip_bytes=size,
        url=url,
        expires_at=now + timedelta(seconds=expires_s),
    )
