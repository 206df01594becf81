"""The running entrypoint: watcher restarts, stop signals, periodic backup, rotation, book sync."""

from __future__ import annotations

import re
import signal
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.image import alex_db
from tests.image.conftest import Bucket, Machine


def touch_db(machine: Machine, value: str) -> None:
    conn = alex_db.connect(machine.db)
    conn.execute("INSERT OR REPLACE INTO settings VALUES ('marker', ?, 0)", (value,))
    conn.close()


def snapshot_marker(bucket: Bucket, key: str, tmp_path: Path) -> str | None:
    path = tmp_path / key.replace("/", "_")
    path.write_bytes(bucket.get(key))
    with sqlite3.connect(path) as conn:
        row = conn.execute("SELECT value FROM settings WHERE key = 'marker'").fetchone()
    return None if row is None else str(row[0])


def test_entrypoint_watcher_crash_is_restarted(machine: Machine) -> None:
    machine.ctl.mkdir(parents=True)
    (machine.ctl / "watcher-crash-once").touch()
    machine.boot_ready()

    machine.wait_for(lambda: len(machine.events("start", who="watcher")) == 2, "the watcher's restart")
    assert len(machine.events("crash", who="watcher")) == 1
    assert len(machine.events("server-start")) == 1, "the server keeps running"
    # conftest asks for no restart delay: 0 is honoured (it used to be refused for 5 s).
    assert "watcher exited (status 3); restarting in 0s" in machine.output()
    assert "WATCHER_RESTART_DELAY_SECONDS=" not in machine.output()
    assert machine.stop() == 0
    assert machine.events("stopped", who="watcher"), "the restarted watcher gets the stop signal"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_entrypoint_stop_signal_stops_app_then_takes_final_backup(
    machine: Machine, bucket: Bucket, tmp_path: Path, sig: int
) -> None:
    machine.boot_ready()
    assert snapshot_marker(bucket, bucket.snapshots()[-1], tmp_path) is None
    touch_db(machine, "written-just-before-stop")

    assert machine.stop(sig) == 0

    stopped = {e["who"] for e in machine.events("stopped")}
    assert stopped == {"server", "watcher", "companion"}
    newest = bucket.snapshots()[-1]
    assert snapshot_marker(bucket, newest, tmp_path) == "written-just-before-stop"
    assert "final backup done" in machine.output()


def test_entrypoint_server_exit_stops_machine_after_final_backup(machine: Machine) -> None:
    machine.ctl.mkdir(parents=True)
    (machine.ctl / "server-crash").touch()
    machine.boot()
    assert machine.wait_exit() == 1, "Fly's restart policy needs a failure status"
    assert "server exited" in machine.output()
    assert "final backup" in machine.output()
    assert machine.events("stopped", who="watcher")


def test_entrypoint_backup_rotation_keeps_newest_snapshots(
    make_machine: Callable[..., Machine], bucket: Bucket
) -> None:
    machine = make_machine(BACKUP_INTERVAL_SECONDS="1", BACKUP_KEEP="2")
    machine.boot_ready()
    for n in range(2):
        touch_db(machine, f"v{n}")
        target = machine.cycles() + 2  # the second cycle surely started after the change
        machine.wait_for(lambda: machine.cycles() >= target, f"backup cycle after change {n}")  # noqa: B023
    machine.stop()

    uploaded = sorted(set(re.findall(r"uploaded (db/library-\w+\.db)", machine.output())))
    assert len(uploaded) >= 3, machine.output()
    assert bucket.snapshots() == uploaded[-2:]


def test_entrypoint_unchanged_database_uploads_no_new_snapshot(
    make_machine: Callable[..., Machine], bucket: Bucket
) -> None:
    machine = make_machine(BACKUP_INTERVAL_SECONDS="1")
    machine.boot_ready()
    first = bucket.snapshots()
    cycles = machine.cycles()
    machine.wait_for(lambda: machine.cycles() > cycles, "one more backup cycle")
    assert bucket.snapshots() == first
    machine.stop()


def test_entrypoint_syncs_books_both_ways_without_deleting_local_files(
    make_machine: Callable[..., Machine], bucket: Bucket
) -> None:
    machine = make_machine(BACKUP_INTERVAL_SECONDS="1")
    local_only = machine.library / "local" / "mine.epub"
    local_only.parent.mkdir(parents=True)
    local_only.write_bytes(b"mine")
    seed = alex_db.create(machine.db)
    alex_db.add_user(seed, "u-owner", "reader@example.com", "chosen-by-owner", role="admin")
    seed.close()
    machine.boot_ready()
    assert "books/local/mine.epub" in bucket.keys("books/")

    bucket.put_checked("books/new shelf/arrived.pdf", b"new book")  # a checked upload not yet in the library
    arrived = machine.library / "new shelf" / "arrived.pdf"
    machine.wait_for(arrived.exists, "the bucket's new book in the library")
    assert arrived.read_bytes() == b"new book"
    machine.wait_for(
        lambda: any(e["path"] == "new shelf/arrived.pdf" for e in machine.events("ingested")),
        "the watcher to ingest it",
    )

    bucket.client.delete_object(Bucket=bucket.name, Key="books/local/mine.epub")
    cycles = machine.cycles()
    machine.wait_for(lambda: machine.cycles() > cycles + 1, "a full sync cycle")
    assert local_only.read_bytes() == b"mine", "a file missing from the bucket stays local"
    assert not list((machine.data / ".hosted").glob("incoming*")), "staging is cleaned up"
    machine.stop()


@pytest.mark.parametrize("keep", ["0", "-1"])
def test_entrypoint_backup_keep_below_one_deletes_no_snapshot(
    make_machine: Callable[..., Machine], bucket: Bucket, keep: str
) -> None:
    older = "db/library-20200101T000000Z.db"
    bucket.put(older, b"an older snapshot")
    machine = make_machine(BACKUP_KEEP=keep)
    seed = alex_db.create(machine.db)
    alex_db.add_user(seed, "u-owner", "reader@example.com", "chosen-by-owner", role="admin")
    seed.close()
    machine.boot_ready()
    machine.stop()

    uploaded = re.findall(r"uploaded (db/library-\w+\.db)", machine.output())
    assert uploaded, machine.output()
    assert bucket.snapshots() == sorted({older, *uploaded}), "a bad BACKUP_KEEP must never delete snapshots"
    assert "BACKUP_KEEP" in machine.output()


def test_entrypoint_bad_interval_falls_back_to_the_default_instead_of_crashing(
    make_machine: Callable[..., Machine], bucket: Bucket
) -> None:
    """A typo in a timing must not crash-loop the machine: the shell's arithmetic would stop it."""
    machine = make_machine(BACKUP_INTERVAL_SECONDS="5m", SUPERVISE_TICK_SECONDS="0")
    machine.boot_ready()
    machine.stop()
    output = machine.output()
    assert "BACKUP_INTERVAL_SECONDS='5m' is not a positive whole number; using 300" in output
    assert "SUPERVISE_TICK_SECONDS='0' is not a positive number of seconds; using 1" in output
    assert re.findall(r"uploaded (db/library-\w+\.db)", output), output  # the final backup still ran
