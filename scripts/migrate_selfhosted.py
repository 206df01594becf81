"""`python -m scripts.migrate_selfhosted --data-dir DIR --bucket alex-<id> [--endpoint URL]`.

Uploads an existing self-hosted Alex data folder into a tenant's R2 bucket so the tenant's machine
restores it on its first boot with an empty volume: every file under `<DIR>/library` goes to
`books/<path>`, the covers Alex drew (`<DIR>/covers/*.jpg`, which it never draws again for a book it
knows) to `covers/`, and a consistent `VACUUM INTO` snapshot of `<DIR>/library.db` goes to
`db/library-<YYYYMMDDTHHMMSSZ>.db` (the bucket layout the image's entrypoint restores from), its cover
paths pointed at the tenant's covers folder. Stop the
self-hosted Alex first so the snapshot holds its last writes.

On first boot the image turns a leftover admin@localhost into the tenant's owner (keeping its reading
progress), or hands its data to the owner if the owner's email already has an account. Book rows whose
paths lie outside the tenant's library folder (/app/data/library) are reported: the tenant's watcher
would drop them and add those books again without their progress.

Credentials: R2_ACCESS_KEY_ID / R2_SECRET_ACCESS_KEY (the tenant's scoped key or an operator key);
endpoint from --endpoint or R2_ENDPOINT. Re-running skips files already uploaded with the same size.
Exit codes: 0 uploaded, 1 user error (missing folder, database or setting; bucket already holds
backups without --force), 2 storage error or a bad flag.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, NoReturn

from botocore.exceptions import BotoCoreError, ClientError

from ops.r2 import BadInput, list_objects, r2_client
from scripts import cli
from tenants import bucket_layout

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PROG = "migrate_selfhosted"
TENANT_LIBRARY = "/app/data/library"
# The tenant's covers sit beside its library: /app/data/covers (the image's COVERS_PATH).
COVERS_FOLDER = "covers"
EXIT_USER_ERROR = 1
EXIT_STORAGE_ERROR = 2


@dataclass(frozen=True)
class Source:
    database: Path
    library: Path
    covers: Path | None  # <data-dir>/covers when there is one


@dataclass(frozen=True)
class MigrationResult:
    uploaded: int
    skipped: int
    uploaded_bytes: int
    snapshot_key: str
    outside_rows: int
    covers: int  # book rows whose cover now points at an uploaded cover


def user_error(message: str) -> NoReturn:
    raise cli.CliError(message, EXIT_USER_ERROR)


def build_parser() -> cli.Parser:
    parser = cli.parser(
        PROG,
        (__doc__ or "").split("\n\n")[1],
        epilog="\n\n".join((__doc__ or "").split("\n\n")[2:]),  # first boot, credentials, exit codes
    )
    parser.add_argument("--data-dir", required=True, type=Path, help="self-hosted Alex data folder")
    parser.add_argument("--bucket", required=True, help="the tenant's bucket, alex-<id>")
    parser.add_argument("--endpoint", help="R2 S3 endpoint; default: env R2_ENDPOINT")
    parser.add_argument("--database", type=Path, help="database file; default: <data-dir>/library.db")
    parser.add_argument("--library", type=Path, help="book folder; default: <data-dir>/library")
    parser.add_argument(
        "--tenant-library-path",
        default=TENANT_LIBRARY,
        help=f"where the tenant keeps books; rows outside it are reported (default {TENANT_LIBRARY})",
    )
    parser.add_argument("--force", action="store_true", help="upload even if the bucket holds db/ snapshots")
    return parser


def check_source(data_dir: Path, database: Path | None, library: Path | None) -> Source:
    if not data_dir.is_dir():
        user_error(f"--data-dir {data_dir}: no such folder")
    covers = data_dir / COVERS_FOLDER
    source = Source(
        database or data_dir / "library.db", library or data_dir / "library", covers if covers.is_dir() else None
    )
    if not source.database.is_file():
        user_error(f"database {source.database}: no such file (an Alex data folder holds library.db)")
    if not source.library.is_dir():
        user_error(f"library folder {source.library}: no such folder")
    return source


def snapshot(database: Path, target: Path) -> int:
    """Writes one consistent copy of a (possibly WAL-mode) database to target; returns its size."""
    try:
        conn = sqlite3.connect(database, timeout=10)
        try:
            conn.execute("SELECT 1 FROM users LIMIT 1")
            conn.execute("VACUUM INTO ?", (str(target),))
        finally:
            conn.close()
    except sqlite3.Error as exc:
        user_error(f"database {database}: not a readable Alex database ({exc})")
    return target.stat().st_size


def rows_outside(snapshot_path: Path, tenant_library: str) -> int:
    prefix = tenant_library.rstrip("/") + "/"
    conn = sqlite3.connect(snapshot_path)
    try:
        (count,) = conn.execute(
            "SELECT count(*) FROM books WHERE substr(file_path, 1, ?) <> ?", (len(prefix), prefix)
        ).fetchone()
    finally:
        conn.close()
    return int(count)


def upload_tree(
    client: S3Client, bucket: str, folder: Path, prefix: str, metadata: dict[str, str]
) -> tuple[int, int, int, list[str]]:
    """Every file under `folder` to `prefix<path>` unless there with the same size: counts and the keys."""
    present = {obj.key: obj.size for obj in list_objects(client, bucket, prefix)}
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    uploaded = skipped = uploaded_bytes = 0
    keys = []
    for n, path in enumerate(files, 1):
        key = prefix + str(PurePosixPath(*path.relative_to(folder).parts))
        keys.append(key)
        size = path.stat().st_size
        if present.get(key) == size:
            skipped += 1
            continue
        cli.progress(f"[{n}/{len(files)}] {key} ({cli.human_bytes(size)})")
        client.upload_file(str(path), bucket, key, ExtraArgs={"Metadata": metadata})
        uploaded += 1
        uploaded_bytes += size
    return uploaded, skipped, uploaded_bytes, keys


def upload_books(client: S3Client, bucket: str, library: Path) -> tuple[int, int, int]:
    # The operator vouches for these books: with the checked mark, a tenant that already has a book
    # ledger (a backup) still restores and pulls them (image/README.md, "Books").
    uploaded, skipped, uploaded_bytes, _ = upload_tree(
        client, bucket, library, bucket_layout.BOOKS_PREFIX, dict([bucket_layout.CHECKED_METADATA])
    )
    return uploaded, skipped, uploaded_bytes


def point_covers(snapshot_path: Path, names: set[str], tenant_covers: str) -> int:
    """Rows whose cover file (by name) went to covers/ get the tenant's path to it; returns how many."""
    conn = sqlite3.connect(snapshot_path)
    try:
        rows = conn.execute("SELECT id, cover_path FROM books WHERE cover_path IS NOT NULL").fetchall()
        moved = [
            (f"{tenant_covers}/{name}", book_id)
            for book_id, path in rows
            if (name := PurePosixPath(path.replace("\\", "/")).name) in names
        ]
        conn.executemany("UPDATE books SET cover_path = ? WHERE id = ?", moved)
        conn.commit()
    finally:
        conn.close()
    return len(moved)


def migrate(client: S3Client, bucket: str, source: Source, tenant_library: str, force: bool) -> MigrationResult:
    # Only what a first boot would restore counts: other files under db/ never shadow the upload.
    backups = bucket_layout.snapshot_keys(obj.key for obj in list_objects(client, bucket, bucket_layout.DB_PREFIX))
    if backups and not force:
        user_error(
            f"bucket {bucket} already holds {len(backups)} database backup(s) (newest {backups[-1]}); "
            "a tenant restores only on an empty volume: rerun with --force to upload a newer snapshot anyway"
        )
    with tempfile.TemporaryDirectory(prefix="alex-migrate-") as tmp:
        snap = Path(tmp) / "library.db"
        snap_size = snapshot(source.database, snap)
        outside = rows_outside(snap, tenant_library)
        cli.progress(f"uploading book files from {source.library} to {bucket}/{bucket_layout.BOOKS_PREFIX}")
        uploaded, skipped, uploaded_bytes = upload_books(client, bucket, source.library)
        covers = 0
        if source.covers is not None:
            cli.progress(f"uploading covers from {source.covers} to {bucket}/{bucket_layout.COVERS_PREFIX}")
            *_, keys = upload_tree(client, bucket, source.covers, bucket_layout.COVERS_PREFIX, {})
            names = {key.removeprefix(bucket_layout.COVERS_PREFIX) for key in keys}
            tenant_covers = str(PurePosixPath(tenant_library).parent / COVERS_FOLDER)
            covers = point_covers(snap, {name for name in names if "/" not in name}, tenant_covers)
        # The database goes last: a tenant that boots mid-migration finds no snapshot and waits for none.
        key = bucket_layout.snapshot_key(datetime.now(UTC))
        cli.progress(f"uploading database snapshot {key} ({cli.human_bytes(snap_size)})")
        client.upload_file(str(snap), bucket, key)
    return MigrationResult(uploaded, skipped, uploaded_bytes, key, outside, covers)


def body(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    source = check_source(args.data_dir, args.database, args.library)
    endpoint = args.endpoint or os.environ.get("R2_ENDPOINT", "").strip()
    if not endpoint:
        user_error("no endpoint: pass --endpoint or set R2_ENDPOINT")
    key_id = cli.keep_secret(os.environ.get("R2_ACCESS_KEY_ID", "").strip())
    secret = cli.keep_secret(os.environ.get("R2_SECRET_ACCESS_KEY", "").strip())
    if not key_id or not secret:
        user_error("R2_ACCESS_KEY_ID and R2_SECRET_ACCESS_KEY must be set (the bucket's S3 credentials)")
    try:
        client = r2_client(endpoint, key_id, secret, endpoint_name="--endpoint" if args.endpoint else "R2_ENDPOINT")
    except BadInput as exc:
        user_error(str(exc))
    try:
        result = migrate(client, args.bucket, source, args.tenant_library_path, args.force)
    except (ClientError, BotoCoreError) as exc:
        raise cli.CliError(f"storage error on bucket {args.bucket}: {exc}", EXIT_STORAGE_ERROR) from None
    print(
        f"migrated to {args.bucket}: {result.uploaded} book file(s) uploaded "
        f"({cli.human_bytes(result.uploaded_bytes)}), {result.skipped} already present; "
        f"{result.covers} book(s) with their cover; database {result.snapshot_key}"
    )
    if result.outside_rows:
        print(
            f"warning: {result.outside_rows} book row(s) point outside {args.tenant_library_path}; "
            "the tenant will re-add those books without their reading progress"
        )
    print("the tenant restores this on its first boot with an empty volume")
    return cli.EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    return cli.run(PROG, body, argv)


if __name__ == "__main__":
    raise SystemExit(main())
