"""Where things live in a tenant's R2 bucket: the one Python spelling of the layout image/entrypoint.sh uses.

The tenant image's entrypoint writes and restores these keys; the operator scripts (export,
migrate_selfhosted) read and write the same ones. tests/scripts/test_bucket_layout.py checks that the
shell script and this module agree.

- `books/<path>`: the library's book files, mirrored from the volume, and books the upload companion
  copied there after its checks (user metadata `hosted-upload: checked`, `CHECKED_METADATA`).
- `staging/<final seconds>-<random>`: readers' uploads in flight (the only keys a presigned URL can
  write); the companion deletes each once no URL can write it, the bucket's lifecycle rule
  (`STAGING_MAX_AGE_SECONDS`) is the backstop. Never restored, pulled or backed up.
- `db/library-<YYYYMMDDTHHMMSSZ>.db`: database snapshots, directly under `db/`; the newest valid name
  is restored on a first boot (anything else under `db/` is never restored).
- `covers/<book id>.jpg`: the covers Alex drew when it first indexed each book (it never draws them
  again for a file it knows), mirrored from the volume's covers folder and restored with the database.
- `deleted/<YYYYMMDDTHHMMSSZ>/books/<path>`: books the reader deleted, kept for a grace period.
- `exports/<tenant>-<YYYYMMDDTHHMMSSZ>.zip`: operator exports.
- `status/health.json`: the image's own health (last good backup, last restore attempt, book files it
  could not copy or account for), rewritten after every successful backup and on a failed restore;
  `parse_health` reads it for the fleet collector.
- `status/books.manifest`: the ledger, the book keys the last backup knew (one a line): what a restore
  or a pull may bring into the library besides checked uploads.
On the volume, `.hosted/books.manifest` (under the data folder) remembers which books were on both sides,
and the companion leaves `.hosted/uploaded/<id>.key` for each upload it put in the library.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

BOOKS_PREFIX = "books/"
COVERS_PREFIX = "covers/"
DB_PREFIX = "db/"
DELETED_PREFIX = "deleted/"
EXPORTS_PREFIX = "exports/"
STATUS_PREFIX = "status/"
STAGING_PREFIX = "staging/"
HEALTH_KEY = f"{STATUS_PREFIX}health.json"
BOOKS_LEDGER_KEY = f"{STATUS_PREFIX}books.manifest"
# The companion's mark on a book it checked (x-amz-meta-hosted-upload: checked); image/companion/lib/layout.js.
CHECKED_METADATA = ("hosted-upload", "checked")
# The lifecycle rule's backstop for staging/: far longer than any presigned URL lives (at most an hour).
STAGING_MAX_AGE_SECONDS = 24 * 3600
HOSTED_STATE_DIR = ".hosted"  # under the data folder, on the volume
BOOKS_MANIFEST = f"{HOSTED_STATE_DIR}/books.manifest"
UPLOADS_DIR = f"{HOSTED_STATE_DIR}/uploaded"  # <id>.key files: books the companion put in the library
STAMP_FORMAT = "%Y%m%dT%H%M%SZ"  # UTC; sorts as text in time order
# A snapshot's name under db/ (the entrypoint's SNAPSHOT_RE, an ERE that Python reads the same way).
SNAPSHOT_NAME = re.compile(r"^library-[0-9]{8}T[0-9]{6}Z\.db$")
# A prefix under deleted/ (the entrypoint's DELETED_RE).
DELETED_NAME = re.compile(r"^[0-9]{8}T[0-9]{6}Z/$")


def stamp(when: datetime) -> str:
    return when.strftime(STAMP_FORMAT)


def snapshot_key(when: datetime) -> str:
    """The key a snapshot taken at `when` (UTC) is stored under."""
    return f"{DB_PREFIX}library-{stamp(when)}.db"


def export_key(tenant_id: str, when: datetime) -> str:
    return f"{EXPORTS_PREFIX}{tenant_id}-{stamp(when)}.zip"


def is_snapshot_key(key: str) -> bool:
    """True for the keys the entrypoint would restore: a snapshot name directly under db/."""
    return key.startswith(DB_PREFIX) and SNAPSHOT_NAME.fullmatch(key.removeprefix(DB_PREFIX)) is not None


def snapshot_keys(keys: Iterable[str]) -> list[str]:
    """The snapshot keys among `keys`, oldest first (their names sort in time order)."""
    return sorted(key for key in keys if is_snapshot_key(key))


def newest_snapshot(keys: Iterable[str]) -> str | None:
    """The snapshot the entrypoint tries first on a restore, or None when there is none."""
    found = snapshot_keys(keys)
    return found[-1] if found else None


# --- status/health.json --------------------------------------------------------------------------

HEALTH_VERSION = 1
HEALTH_MAX_BYTES = 16 * 1024  # the entrypoint writes a few hundred bytes; more is not ours
_ISO_UTC = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$")
_MAX_TEXT = 200


class MalformedHealth(ValueError):
    """status/health.json is not what the entrypoint writes; the message says which field (no values)."""


@dataclass(frozen=True)
class RestoreAttempt:
    """The last restore onto an empty volume: when, whether it worked, and a short reason if not."""

    at: datetime
    ok: bool
    error: str | None


@dataclass(frozen=True)
class BookKeys:
    """Book keys the image reports: how many in all, and the first few (`REPORTED_KEYS`), as rclone lists them."""

    count: int
    keys: tuple[str, ...]


@dataclass(frozen=True)
class Health:
    version: int
    last_backup_at: datetime | None  # start of the last successful backup cycle (UTC)
    last_snapshot: str | None  # db/library-<stamp>.db last uploaded
    books: int | None  # book files in the library at that backup
    restore: RestoreAttempt | None
    boot_at: datetime  # when the machine's entrypoint started
    image: str  # the image's IMAGE_VERSION, or "unknown"
    # Book files the last sync or restore could not copy (the rest went on), and objects in books/ that
    # neither the ledger nor the companion's mark accounts for (never brought into the library). None:
    # an image from before these were reported.
    books_failed: BookKeys | None = None
    books_unaccounted: BookKeys | None = None


def _time(value: object, field: str, *, optional: bool = False) -> datetime | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not _ISO_UTC.fullmatch(value):
        raise MalformedHealth(f"{field} is not a UTC time like 2026-11-30T07:57:11Z")
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise MalformedHealth(f"{field} is not a real date") from None


def _required_time(value: object, field: str) -> datetime:
    when = _time(value, field)
    assert when is not None
    return when


def _text(value: object, field: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value or len(value) > _MAX_TEXT:
        raise MalformedHealth(f"{field} is not a short text")
    return value


def _restore(value: object) -> RestoreAttempt | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise MalformedHealth("restore is not an object or null")
    ok = value.get("ok")
    if not isinstance(ok, bool):
        raise MalformedHealth("restore.ok is not true or false")
    error = _text(value.get("error"), "restore.error", optional=True)
    if not ok and error is None:
        raise MalformedHealth("restore.error is missing for a failed restore")
    return RestoreAttempt(at=_required_time(value.get("at"), "restore.at"), ok=ok, error=error)


REPORTED_KEYS = 10  # the entrypoint's REPORTED_KEYS
_UNSHOWN = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def _shown(key: str) -> str:
    """A key as text fit for a terminal or a page: control and invisible characters become U+FFFD."""
    return "".join("\ufffd" if unicodedata.category(c) in _UNSHOWN else c for c in key)


def _book_keys(value: object, field: str) -> BookKeys | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise MalformedHealth(f"{field} is not an object or null")
    count, keys = value.get("count"), value.get("keys")
    if type(count) is not int or count < 0:
        raise MalformedHealth(f"{field}.count is not a count")
    if not isinstance(keys, list) or len(keys) > min(count, REPORTED_KEYS):
        raise MalformedHealth(f"{field}.keys is not a list of at most {REPORTED_KEYS} keys")
    if not all(isinstance(key, str) and key and len(key) <= _MAX_TEXT for key in keys):
        raise MalformedHealth(f"{field}.keys holds something that is not a short text")
    return BookKeys(count=count, keys=tuple(_shown(key) for key in keys))


def read_health(text: str | bytes) -> Health:
    """The status object the entrypoint writes; raises MalformedHealth for anything else.

    Fields added by a later image are ignored; another `version` is refused.
    """
    if len(text) > HEALTH_MAX_BYTES:
        raise MalformedHealth(f"more than {HEALTH_MAX_BYTES} bytes")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):  # JSONDecodeError and undecodable bytes are ValueErrors
        raise MalformedHealth("not JSON") from None
    if not isinstance(data, dict):
        raise MalformedHealth("not a JSON object")
    version = data.get("version")
    if type(version) is not int or version != HEALTH_VERSION:
        raise MalformedHealth(f"version is not {HEALTH_VERSION}")
    snapshot = _text(data.get("last_snapshot"), "last_snapshot", optional=True)
    if snapshot is not None and not is_snapshot_key(snapshot):
        raise MalformedHealth("last_snapshot is not a snapshot key under db/")
    books = data.get("books")
    if books is not None and (type(books) is not int or books < 0):
        raise MalformedHealth("books is not a count")
    image = _text(data.get("image"), "image")
    assert image is not None
    return Health(
        version=version,
        last_backup_at=_time(data.get("last_backup_at"), "last_backup_at", optional=True),
        last_snapshot=snapshot,
        books=books,
        restore=_restore(data.get("restore")),
        boot_at=_required_time(data.get("boot_at"), "boot_at"),
        image=image,
        books_failed=_book_keys(data.get("books_failed"), "books_failed"),
        books_unaccounted=_book_keys(data.get("books_unaccounted"), "books_unaccounted"),
    )


def parse_health(text: str | bytes) -> Health | None:
    """read_health, or None when the object is malformed (the collector shows it as unknown)."""
    try:
        return read_health(text)
    except MalformedHealth:
        return None
