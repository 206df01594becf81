"""status/health.json: the image tells the fleet collector, through its own bucket, how its backups go.

Written after every successful backup (and the final one on stop) and when a restore fails; read with
tenants.bucket_layout.parse_health, as the collector does.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tenants import bucket_layout
from tests.image.conftest import R2_KEY_ID, SECRETS, Bucket, Machine
from tests.image.test_entrypoint_book_deletion import seed_volume
from tests.support.servers import free_port


def health(bucket: Bucket) -> bucket_layout.Health:
    text = bucket.get(bucket_layout.HEALTH_KEY)
    for secret in (*SECRETS, R2_KEY_ID):
        assert secret.encode() not in text, "a secret in the status object"
    parsed = bucket_layout.parse_health(text)
    assert parsed is not None, text
    return parsed


def recent(when: datetime | None, since: datetime) -> bool:
    return when is not None and since - timedelta(seconds=2) <= when <= datetime.now(UTC) + timedelta(seconds=1)


def test_backup_writes_the_health_status(make_machine: Callable[..., Machine], bucket: Bucket) -> None:
    before = datetime.now(UTC)
    machine = make_machine(IMAGE_VERSION="0.6.0-42")
    seed_volume(machine, {"a.epub": b"a", "shelf/b.pdf": b"b"})
    machine.boot_ready()

    status = health(bucket)
    assert recent(status.last_backup_at, before)
    assert recent(status.boot_at, before)
    assert status.last_backup_at is not None and status.boot_at <= status.last_backup_at
    assert status.last_snapshot == bucket.snapshots()[-1]
    assert (status.books, status.restore, status.image) == (2, None, "0.6.0-42"), "the volume had its database"

    (machine.library / "c.epub").write_bytes(b"c")
    assert machine.stop() == 0
    final = health(bucket)
    assert final.books == 3, "the final backup writes it too"
    assert final.last_backup_at is not None and final.last_backup_at >= status.last_backup_at


def test_restore_attempt_is_recorded_and_a_failed_one_stays_visible_after_later_backups(
    make_machine: Callable[..., Machine], bucket: Bucket
) -> None:
    machine = make_machine(IMAGE_VERSION="bad version with spaces")
    machine.boot_ready()  # a new tenant: the empty volume's restore found an empty bucket
    first = health(bucket)
    assert first.restore is not None and (first.restore.ok, first.restore.error) == (True, None)
    assert first.image == "unknown"
    assert machine.stop() == 0
    backed_up = health(bucket)

    # Every snapshot is junk: the next empty volume cannot be restored and the machine refuses to start.
    for key in bucket.snapshots():
        bucket.put(key, b"not a database")
    machine.lose_volume()
    machine.boot()
    assert machine.wait_exit() == 1
    failed = health(bucket)
    assert failed.restore is not None and (failed.restore.ok, failed.restore.error) == (False, "no valid snapshot")
    assert (failed.last_backup_at, failed.last_snapshot) == (backed_up.last_backup_at, backed_up.last_snapshot), (
        "the lost volume's last good backup stays known"
    )

    # The operator puts a database on the volume; backups succeed again.
    seed_volume(machine, {"back.epub": b"back"})
    machine.boot_ready()
    after = health(bucket)
    assert after.last_backup_at is not None and after.last_backup_at > failed.restore.at - timedelta(seconds=1)
    assert after.restore == failed.restore, "a failed restore stays visible until the next restore attempt"
    assert after.books == 1
    machine.stop()


def test_restore_failing_on_unreachable_r2_is_recorded_on_the_volume(make_machine: Callable[..., Machine]) -> None:
    machine = make_machine(endpoint=f"http://127.0.0.1:{free_port()}")
    machine.boot()
    assert machine.wait_exit() == 1

    record = json.loads((machine.data / ".hosted" / "last-restore.json").read_text())
    assert (record["ok"], record["error"]) == (False, "R2 unreachable after 2 attempts")
    assert "status: writing status/health.json" in machine.output() and "failed (ignored)" in machine.output()


def failing_status_rclone(machine: Machine) -> Path:
    """An rclone whose uploads of the status object fail; everything else works."""
    path = machine.root / "status-failing-rclone"
    path.write_text(
        f'#!/bin/sh\ncase "$1" in rcat) echo "rcat refused" >&2; exit 1 ;; esac\nexec "{machine.root}/bin/rclone" "$@"\n'
    )
    path.chmod(0o755)
    return path


def test_failing_status_write_never_fails_a_backup(make_machine: Callable[..., Machine], bucket: Bucket) -> None:
    machine = make_machine()
    machine.env_overrides["RCLONE_BIN"] = str(failing_status_rclone(machine))
    seed_volume(machine, {"a.epub": b"a"})
    machine.boot_ready()
    assert machine.stop() == 0

    output = machine.output()
    assert output.count("status: writing status/health.json to") == 2, output
    assert "final backup done" in output
    assert bucket.keys(bucket_layout.STATUS_PREFIX) == [bucket_layout.BOOKS_LEDGER_KEY], "no health.json"
    assert bucket.keys("books/") == ["books/a.epub"] and bucket.snapshots()
