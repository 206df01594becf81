"""The tenant image's entrypoint (POSIX sh) and components/bucket_layout.py spell the same R2 layout.

The entrypoint's own assignments are run by sh (not re-implemented here), and every `$REMOTE/<prefix>`
it touches must be a prefix the Python side knows; the operator scripts use the Python module only.
"""

from __future__ import annotations

import json
import re
import subprocess
from datetime import UTC, datetime
from typing import Any

import pytest

from components import bucket_layout
from tenants.roster import REPO_ROOT

ENTRYPOINT = REPO_ROOT / "image" / "entrypoint.sh"
LAYOUT_VARIABLES = ("HOSTED_STATE_DIR", "SNAPSHOT_RE", "DELETED_RE", "BOOKS_MANIFEST", "UPLOADS_DIR", "HEALTH_KEY")


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
    assert values["UPLOADS_DIR"] == f"/data/{bucket_layout.UPLOADS_DIR}"
    assert values["HEALTH_KEY"] == bucket_layout.HEALTH_KEY
    assert bucket_layout.HEALTH_KEY.startswith(bucket_layout.STATUS_PREFIX)


def test_entrypoint_touches_only_prefixes_python_knows() -> None:
    text = ENTRYPOINT.read_text()
    used = set(re.findall(r"\$REMOTE/([A-Za-z0-9_.-]+)", text))
    assert '"$REMOTE/$HEALTH_KEY"' in text
    used.add(entrypoint_values("/data")["HEALTH_KEY"].split("/")[0])
    known = {
        bucket_layout.BOOKS_PREFIX,
        bucket_layout.DB_PREFIX,
        bucket_layout.DELETED_PREFIX,
        bucket_layout.STATUS_PREFIX,
    }

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


# --- status/health.json ---------------------------------------------------------------------------

GOOD_HEALTH: dict[str, Any] = {
    "version": 1,
    "last_backup_at": "2026-11-30T07:57:11Z",
    "last_snapshot": "db/library-20261130T075711Z.db",
    "books": 12,
    "restore": {"at": "2026-11-29T01:02:03Z", "ok": False, "error": "no valid snapshot"},
    "boot_at": "2026-11-29T01:02:00Z",
    "image": "0.6.0-42",
}


def health_with(**changes: object) -> str:
    return json.dumps({**GOOD_HEALTH, **changes})


def test_parse_health_reads_what_the_entrypoint_writes() -> None:
    health = bucket_layout.parse_health(json.dumps(GOOD_HEALTH).encode())

    assert health == bucket_layout.Health(
        version=1,
        last_backup_at=datetime(2026, 11, 30, 7, 57, 11, tzinfo=UTC),
        last_snapshot="db/library-20261130T075711Z.db",
        books=12,
        restore=bucket_layout.RestoreAttempt(
            at=datetime(2026, 11, 29, 1, 2, 3, tzinfo=UTC), ok=False, error="no valid snapshot"
        ),
        boot_at=datetime(2026, 11, 29, 1, 2, 0, tzinfo=UTC),
        image="0.6.0-42",
    )


def test_parse_health_takes_nulls_for_a_machine_that_never_backed_up_and_ignores_new_fields() -> None:
    health = bucket_layout.parse_health(
        health_with(last_backup_at=None, last_snapshot=None, books=None, restore=None, added_later=[1])
    )

    assert health is not None
    assert (health.last_backup_at, health.last_snapshot, health.books, health.restore) == (None, None, None, None)
    ok = bucket_layout.parse_health(health_with(restore={"at": "2026-11-29T01:02:03Z", "ok": True, "error": None}))
    assert ok is not None and ok.restore == bucket_layout.RestoreAttempt(
        at=datetime(2026, 11, 29, 1, 2, 3, tzinfo=UTC), ok=True, error=None
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "not JSON"),
        ("{", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        ("[" * 100_000, "more than"),
        ("[" * 10_000, "not JSON"),  # deep nesting under the size bound
        ("[]", "not a JSON object"),
        ("null", "not a JSON object"),
        (health_with(version=2), "version"),
        (health_with(version=True), "version"),
        (health_with(version="1"), "version"),
        (json.dumps({k: v for k, v in GOOD_HEALTH.items() if k != "version"}), "version"),
        (health_with(last_backup_at="2026-11-30 07:57:11"), "last_backup_at"),
        (health_with(last_backup_at="2026-11-30T07:57:11+00:00"), "last_backup_at"),
        (health_with(last_backup_at="2026-02-30T07:57:11Z"), "last_backup_at"),
        (health_with(last_backup_at=1764489431), "last_backup_at"),
        (health_with(boot_at=None), "boot_at"),
        (health_with(last_snapshot="db/library-manual.db"), "last_snapshot"),
        (health_with(last_snapshot="books/a.epub"), "last_snapshot"),
        (health_with(books=-1), "books"),
        (health_with(books=True), "books"),
        (health_with(books=1.5), "books"),
        (health_with(books="12"), "books"),
        (health_with(restore="failed"), "restore"),
        (health_with(restore={"at": "2026-11-29T01:02:03Z", "ok": "false", "error": "x"}), "restore.ok"),
        (health_with(restore={"at": "2026-11-29T01:02:03Z", "ok": False, "error": None}), "restore.error"),
        (health_with(restore={"at": "2026-11-29T01:02:03Z", "ok": False, "error": "x" * 201}), "restore.error"),
        (health_with(restore={"ok": True, "error": None}), "restore.at"),
        (health_with(image=""), "image"),
        (health_with(image=None), "image"),
        (health_with(image="x" * 201), "image"),
    ],
    ids=lambda value: None if isinstance(value, str) and len(value) < 20 else "",
)
def test_malformed_health_is_refused_with_a_typed_error_and_parses_to_none(text: str | bytes, reason: str) -> None:
    with pytest.raises(bucket_layout.MalformedHealth, match=re.escape(reason)):
        bucket_layout.read_health(text)
    assert bucket_layout.parse_health(text) is None


def test_malformed_health_error_never_repeats_the_value() -> None:
    secret_like = "R2_SECRET_ACCESS_KEY=abcdef"
    with pytest.raises(bucket_layout.MalformedHealth) as caught:
        bucket_layout.read_health(health_with(last_backup_at=secret_like))
    assert secret_like not in str(caught.value)
