"""`python -m scripts.export --stack S --tenant ID`: a zip of a tenant's books and latest database backup.

Reads the tenant's bucket (`books/<path>` book files; `db/library-<YYYYMMDDTHHMMSSZ>.db` snapshots, the
newest being the last key), builds the zip in a temporary file on disk (a tenant may hold gigabytes; each
object is streamed in), stores it as `exports/<id>-<time>.zip` in the same bucket and prints a
time-limited download link (an S3 presigned URL). Works for active, suspended and cancelled tenants
until `purge_after`; refuses purging ones.

Credentials: an operator R2 key in R2_ACCESS_KEY_ID / R2_SECRET_ACCESS_KEY; endpoint from the stack
(`https://<account>.r2.cloudflarestorage.com`) unless R2_ENDPOINT is set.
Exit codes: 0 exported, 1 exported without a database backup or nothing to export, 2 could not run.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import IO, TYPE_CHECKING, Any, NoReturn

from botocore.exceptions import BotoCoreError, ClientError

from components.machine_config import bucket_name
from scripts import cli
from scripts.r2 import BadInput, S3Object, list_objects, r2_client
from tenants.roster import RosterEntry

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

BOOKS_PREFIX = "books/"
DB_PREFIX = "db/library-"
EXPORTS_PREFIX = "exports/"
MAX_EXPIRES_S = 7 * 24 * 3600  # the longest a SigV4 presigned URL may live
CHUNK = 1024 * 1024
PROGRESS_EVERY_BYTES = 256 * 1024 * 1024
_CREDENTIAL_CODES = frozenset(
    {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken", "Unauthorized", "403", "401"}
)


@dataclass(frozen=True)
class ExportResult:
    bucket: str
    key: str
    books: int
    database: str | None
    zip_bytes: int
    url: str
    expires_at: datetime


def check_exportable(tenant: RosterEntry, today: date) -> None:
    """Refuses purging tenants and cancelled ones past their grace window."""
    if tenant.state == "purging":
        raise cli.CliError(
            f"tenant {tenant.id!r} is purging: its data is being deleted and cannot be exported "
            "(set it back to cancelled in the roster first if the customer still needs it)"
        )
    if tenant.state == "cancelled" and tenant.purge_after is not None and today > tenant.purge_after:
        raise cli.CliError(
            f"tenant {tenant.id!r} is cancelled and its grace window ended on {tenant.purge_after.isoformat()}; "
            "extend purge_after in the roster (the Stripe sync keeps a later date) to export it"
        )


def s3_failure(exc: Exception, bucket: str, endpoint: str) -> NoReturn:
    """One CliError per kind of S3 failure, naming the bucket; never the secret."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "unknown"))
        if code in _CREDENTIAL_CODES:
            raise cli.CliError(
                f"R2 rejected the key in R2_ACCESS_KEY_ID / R2_SECRET_ACCESS_KEY for bucket {bucket} ({code})"
            ) from None
        if code == "NoSuchBucket":
            raise cli.CliError(f"bucket {bucket} does not exist at {endpoint}") from None
        raise cli.CliError(f"R2 error on bucket {bucket}: {code} {error.get('Message', '')}".rstrip()) from None
    raise cli.CliError(f"R2 endpoint {endpoint} is unreachable or failed ({type(exc).__name__})") from None


def latest_database(client: S3Client, bucket: str) -> S3Object | None:
    snapshots = [obj for obj in list_objects(client, bucket, DB_PREFIX) if obj.key.endswith(".db")]
    return max(snapshots, key=lambda obj: obj.key) if snapshots else None


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
    client: S3Client, bucket: str, books: Sequence[S3Object], database: S3Object | None, out: IO[bytes]
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
                cli.progress(f"  {index}/{len(books)} books, {cli.human_bytes(done)} of {cli.human_bytes(total)}")
                next_report = done + PROGRESS_EVERY_BYTES
        if database is not None:
            _copy_into(client, bucket, database, archive, compress=True)


def export_tenant(
    client: S3Client, tenant: RosterEntry, endpoint: str, now: datetime, expires_s: int
) -> ExportResult | None:
    """Builds, stores and signs the export; None when the bucket holds neither books nor a backup."""
    bucket = bucket_name(tenant.id)
    try:
        books = sorted(
            (obj for obj in list_objects(client, bucket, BOOKS_PREFIX) if not obj.key.endswith("/")),
            key=lambda obj: obj.key,
        )
        database = latest_database(client, bucket)
        if not books and database is None:
            return None
        cli.progress(
            f"exporting {len(books)} book(s) and {database.key if database else 'no database backup'} from {bucket}"
        )
        key = f"{EXPORTS_PREFIX}{tenant.id}-{now.strftime('%Y%m%dT%H%M%SZ')}.zip"
        with tempfile.TemporaryFile(prefix=f"export-{tenant.id}-") as spool:
            build_zip(client, bucket, books, database, spool)
            size = spool.tell()
            spool.seek(0)
            cli.progress(f"uploading {cli.human_bytes(size)} to {bucket}/{key}")
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


def _body(argv: Sequence[str] | None) -> int:
    parser = cli.parser("export", __doc__ or "")
    parser.add_argument("--tenant", required=True, metavar="ID", help="the tenant id (roster field id)")
    parser.add_argument(
        "--expires",
        type=cli.whole_number,
        default=86400,
        metavar="SECONDS",
        help="link lifetime (default 86400, max 604800)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON envelope instead of text")
    parser.add_argument("--now", help="the current time, ISO (for tests)")
    parser.add_argument("--timeout", type=cli.seconds, default=30.0, help="S3 timeout in seconds (default 30)")
    args = parser.parse_args(argv)
    if not 1 <= args.expires <= MAX_EXPIRES_S:
        raise cli.CliError(f"--expires: expected 1 to {MAX_EXPIRES_S} seconds, got {args.expires}")
    now = cli.parse_now(args.now)
    config, tenants = cli.load_stack(args.stack, args.roster)
    tenant = cli.find_tenant(tenants, args.tenant, args.stack)
    check_exportable(tenant, now.date())
    key_id = cli.require_credential("R2_ACCESS_KEY_ID", "an operator R2 key with read and write on tenant buckets")
    secret = cli.require_credential("R2_SECRET_ACCESS_KEY", "the secret of that R2 key")
    endpoint = os.environ.get("R2_ENDPOINT") or config.r2_endpoint
    source = "R2_ENDPOINT" if os.environ.get("R2_ENDPOINT") else f"the r2 endpoint of stack {args.stack}"
    try:
        client = r2_client(endpoint, key_id, secret, timeout=args.timeout, endpoint_name=source)
    except BadInput as exc:
        raise cli.CliError(str(exc)) from None
    result = export_tenant(client, tenant, endpoint, now, args.expires)
    if result is None:
        message = f"bucket {bucket_name(tenant.id)} holds no books and no database backup: nothing to export"
        if args.json:
            empty: dict[str, Any] = {"tenant": tenant.id, "export": None, "note": message}
            cli.print_json("export", args.stack, cli.EXIT_ATTENTION, empty)
        else:
            print(message)
        return cli.EXIT_ATTENTION
    code = cli.EXIT_OK if result.database else cli.EXIT_ATTENTION
    if args.json:
        data: dict[str, Any] = {"tenant": tenant.id, "export": asdict(result)}
        cli.print_json("export", args.stack, code, data)
        return code
    print(
        f"tenant {tenant.id} ({tenant.username}, {tenant.state}): {result.books} book(s), "
        f"database {result.database or 'MISSING (no db/library-*.db backup found)'}, "
        f"{cli.human_bytes(result.zip_bytes)} zip stored at {result.bucket}/{result.key}"
    )
    print(f"download link, valid until {result.expires_at.strftime('%Y-%m-%d %H:%M UTC')}:")
    print(result.url)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    return cli.run("export", _body, argv)


if __name__ == "__main__":
    raise SystemExit(main())
