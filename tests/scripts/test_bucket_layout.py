"""The tenant image's entrypoint (POSIX sh) and tenants/bucket_layout.py spell the same R2 layout.

The entrypoint's own assignments are run by sh (not re-implemented here), and every `$REMOTE/<prefix>`
it touches must be a prefix the Python side knows; the operator scripts use the Python module only.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import UTC, datetime
from typing import Any

import pytest

from tenants import bucket_layout
from tenants.roster import REPO_ROOT
from tests.support.requires import missing

ENTRYPOINT = REPO_ROOT / "image" / "entrypoint.sh"
LAYOUT_VARIABLES = (
    "HOSTED_STATE_DIR",
    "SNAPSHOT_RE",
    "DELETED_RE",
    "BOOKS_MANIFEST",
    "UPLOADS_DIR",
    "HEALTH_KEY",
    "BOOKS_LEDGER_KEY",
    "CHECKED_METADATA",
    "STAGING_PREFIX",
    "REPORTED_KEYS",
)


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
    assert values["BOOKS_LEDGER_KEY"] == bucket_layout.BOOKS_LEDGER_KEY
    assert bucket_layout.BOOKS_LEDGER_KEY.startswith(bucket_layout.STATUS_PREFIX)
    assert (values["CHECKED_METADATA"], "checked") == bucket_layout.CHECKED_METADATA
    assert values["STAGING_PREFIX"] == bucket_layout.STAGING_PREFIX
    assert int(values["REPORTED_KEYS"]) == bucket_layout.REPORTED_KEYS


def test_entrypoint_checks_the_mark_with_the_value_python_knows() -> None:
    assert f"= '{bucket_layout.CHECKED_METADATA[1]}';" in ENTRYPOINT.read_text()


def test_entrypoint_touches_only_prefixes_python_knows_and_never_staging() -> None:
    text = ENTRYPOINT.read_text()
    used = set(re.findall(r"\$REMOTE/([A-Za-z0-9_.-]+)", text))
    values = entrypoint_values("/data")
    for name in ("HEALTH_KEY", "BOOKS_LEDGER_KEY"):
        assert f'"$REMOTE/${name}"' in text
        used.add(values[name].split("/")[0])
    assert '"$REMOTE/${BOOKS_LEDGER_KEY%/*}/"' in text  # the ledger's folder: status/
    known = {
        bucket_layout.BOOKS_PREFIX,
        bucket_layout.COVERS_PREFIX,
        bucket_layout.DB_PREFIX,
        bucket_layout.DELETED_PREFIX,
        bucket_layout.STATUS_PREFIX,
    }

    assert {f"{prefix}/" for prefix in used} == known
    # Unchecked uploads in flight: the entrypoint only hands the prefix to the companion.
    assert bucket_layout.STAGING_PREFIX not in known
    assert text.count("$STAGING_PREFIX") == 1
    assert 'UPLOAD_STAGING_PREFIX="$STAGING_PREFIX"' in text


def test_companion_spells_the_layout_as_python_does() -> None:
    """image/companion/lib/layout.js: where presigned URLs write and the mark on a checked book."""
    node = shutil.which("node")
    if node is None:
        missing("node is missing (the companion runs on it)")
    assert node is not None
    script = "const l = require('./lib/layout'); process.stdout.write(JSON.stringify(l));"
    out = subprocess.run(
        [node, "-e", script],
        cwd=REPO_ROOT / "image" / "companion",
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    ).stdout
    layout = json.loads(out)
    assert layout == {
        "STAGING_PREFIX": bucket_layout.STAGING_PREFIX,
        "BOOKS_PREFIX": bucket_layout.BOOKS_PREFIX,
        "CHECKED_METADATA": {"name": bucket_layout.CHECKED_METADATA[0], "value": bucket_layout.CHECKED_METADATA[1]},
    }


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
    "books_failed": {"count": 1, "keys": ["a\u201b\u201bb.pdf"]},
    "books_unaccounted": {"count": 12, "keys": [f"junk {n}.pdf" for n in range(10)]},
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
        books_failed=bucket_layout.BookKeys(1, ("a\u201b\u201bb.pdf",)),
        books_unaccounted=bucket_layout.BookKeys(12, tuple(f"junk {n}.pdf" for n in range(10))),
    )


def test_parse_health_of_an_older_image_has_no_book_lists() -> None:
    older = {k: v for k, v in GOOD_HEALTH.items() if not k.startswith("books_")}
    health = bucket_layout.parse_health(json.dumps(older))
    assert health is not None and (health.books_failed, health.books_unaccounted) == (None, None)


def test_parse_health_shows_control_and_invisible_characters_in_keys_as_replacements() -> None:
    """A key is whatever a bucket held: it reaches terminals (scripts.status) and pages as text only."""
    keys = ["bell\x07.pdf", "\x1b[31mred.pdf", "rtl\u202egnp.pdf", "line\u2028.pdf", "caf\u00e9 \u00a0x.pdf"]
    health = bucket_layout.parse_health(health_with(books_unaccounted={"count": 5, "keys": keys}))
    assert health is not None and health.books_unaccounted is not None
    assert health.books_unaccounted.keys == (
        "bell\ufffd.pdf",
        "\ufffd[31mred.pdf",
        "rtl\ufffdgnp.pdf",
        "line\ufffd.pdf",
        "caf\u00e9 \u00a0x.pdf",
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
        (health_with(books_failed=[]), "books_failed"),
        (health_with(books_failed={"count": -1, "keys": []}), "books_failed.count"),
        (health_with(books_failed={"count": True, "keys": []}), "books_failed.count"),
        (health_with(books_failed={"count": 1}), "books_failed.keys"),
        (health_with(books_failed={"count": 1, "keys": ["a", "b"]}), "books_failed.keys"),
        (health_with(books_failed={"count": 99, "keys": ["k"] * 11}), "books_failed.keys"),
        (health_with(books_unaccounted={"count": 1, "keys": [7]}), "books_unaccounted.keys"),
        (health_with(books_unaccounted={"count": 1, "keys": [""]}), "books_unaccounted.keys"),
        (health_with(books_unaccounted={"count": 1, "keys": ["x" * 201]}), "books_unaccounted.keys"),
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
