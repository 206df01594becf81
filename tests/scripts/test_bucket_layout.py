"""The tenant image's entrypoint (POSIX sh) and components/bucket_layout.py spell the same R2 layout.

The entrypoint's own assignments are run by sh (not re-implemented here), and every `$REMOTE/<prefix>`
it touches must be a prefix the Python side knows; the operator scripts use the Python module only.
"""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, datetime

from components import bucket_layout
from tenants.roster import REPO_ROOT

ENTRYPOINT = REPO_ROOT / "image" / "entrypoint.sh"
LAYOUT_VARIABLES = ("HOSTED_STATE_DIR", "SNAPSHOT_RE", "DELETED_RE", "BOOKS_MANIFEST")


def entrypoint_values(data_dir: str) -> dict[str, str]:
    """The entrypoint's layout variables as sh sets them, with DATA_DIR=`data_dir`."""
    text = ENTRYPOINT.read_text()
    assignments = [line for line in text.splitlines() if any(line.startswith(f"{name}=") for name in LAYOUT_VARIABLES)]
    assert len(assignments) == len(LAYOUT_VARIABLES), assignments
    script = "\n".join([f"DATA_DIR='{data_dir}'", "unset HOSTED_STATE_DIR", *assignments])
    script += "\n" + "".join(f'printf "%s\\0" "${name}"\n' for name in LAYOUT_VARIABLES)
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True, timeout=10).stdout
    return dict(zip(LAYOUT_VARIABLES, out.split("\0")[:-1], strict=True))


def test_entrypoint_and_python_agree_on_names_and_patterns() -> None:
    values = entrypoint_values("/data")

    assert values["SNAPSHOT_RE"] == bucket_layout.SNAPSHOT_NAME.pattern
    assert values["DELETED_RE"] == bucket_layout.DELETED_NAME.pattern
    assert values["HOSTED_STATE_DIR"] == f"/data/{bucket_layout.HOSTED_STATE_DIR}"
    assert values["BOOKS_MANIFEST"] == f"/data/{bucket_layout.BOOKS_MANIFEST}"


def test_entrypoint_touches_only_prefixes_python_knows() -> None:
    text = ENTRYPOINT.read_text()
    used = set(re.findall(r"\$REMOTE/([A-Za-z0-9_.-]+)", text))
    known = {bucket_layout.BOOKS_PREFIX, bucket_layout.DB_PREFIX, bucket_layout.DELETED_PREFIX}

    assert {f"{prefix}/" for prefix in used} == known


def test_entrypoint_stamps_keys_as_python_does() -> None:
    assert f"date -u +{bucket_layout.STAMP_FORMAT})" in ENTRYPOINT.read_text()


def test_a_python_snapshot_key_is_one_the_entrypoint_restores() -> None:
    name = bucket_layout.snapshot_key(datetime(2026, 11, 20, 12, 0, 0, tzinfo=UTC)).removeprefix(
        bucket_layout.DB_PREFIX
    )
    pattern = entrypoint_values("/data")["SNAPSHOT_RE"]

    # grep -E is what list_snapshots filters with.
    found = subprocess.run(
        ["grep", "-E", pattern], input=f"{name}\nlibrary-manual.db\n", capture_output=True, text=True, timeout=10
    )
    assert found.stdout.splitlines() == [name]


def test_newest_snapshot_ignores_what_a_restore_would_not_pick() -> None:
    keys = [
        "db/library-20261101T000000Z.db",
        "db/library-20261119T030000Z.db",
        "db/library-manual.db",  # sorts after the stamps, never restored
        "db/old/library-20271231T000000Z.db",  # not directly under db/
        "db/library-20271231T000000Z.db.part",
        "books/db/library-20281231T000000Z.db",
    ]

    assert bucket_layout.newest_snapshot(keys) == "db/library-20261119T030000Z.db"
    assert bucket_layout.newest_snapshot(["db/library-manual.db"]) is None
