"""Where things live in a tenant's R2 bucket: the one Python spelling of the layout image/entrypoint.sh uses.

The tenant image's entrypoint writes and restores these keys; the operator scripts (export,
migrate_selfhosted) read and write the same ones. tests/scripts/test_bucket_layout.py checks that the
shell script and this module agree.

- `books/<path>`: the library's book files, mirrored from the volume.
- `db/library-<YYYYMMDDTHHMMSSZ>.db`: database snapshots, directly under `db/`; the newest valid name
  is restored on a first boot (anything else under `db/` is never restored).
- `deleted/<YYYYMMDDTHHMMSSZ>/books/<path>`: books the reader deleted, kept for a grace period.
- `exports/<tenant>-<YYYYMMDDTHHMMSSZ>.zip`: operator exports.
On the volume, `.hosted/books.manifest` (under the data folder) remembers which books were on both sides.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

BOOKS_PREFIX = "books/"
DB_PREFIX = "db/"
DELETED_PREFIX = "deleted/"
EXPORTS_PREFIX = "exports/"
HOSTED_STATE_DIR = ".hosted"  # under the data folder, on the volume
BOOKS_MANIFEST = f"{HOSTED_STATE_DIR}/books.manifest"
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
