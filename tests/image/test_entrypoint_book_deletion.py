"""Deleted books stay deleted: the volume is the truth, R2's books/ mirrors it, deletions wait in deleted/.

The volume keeps a manifest of the book keys known on both sides. A key in R2 but missing locally is a
deletion when the manifest knows it (moved to deleted/<UTC>/books/, purged after
BOOK_DELETE_GRACE_DAYS) and a new book otherwise (pulled). Nothing is deleted in R2 without a manifest,
on a failed listing, or when the library is missing or empty.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.image import alex_db
from tests.image.conftest import OWNER_EMAIL, Bucket, Machine

CYCLE_END = "backup: R2 sync with"  # failed cycles
ODD_NAMES = [
    "shelf/plain.epub",
    "Shelf – ünïcödé «livre»/ it's #1 100% [x] {y} $HOME `z` back\\slash & more .epub",
]
ODD_IDS = ["plain", "odd-characters"]


def cycles_ended(machine: Machine) -> int:
    """Backup cycles that finished, synced or failed."""
    return machine.cycles() + machine.output().count(CYCLE_END)


def wait_cycles(machine: Machine, count: int) -> None:
    """Waits for `count` more cycles to end; with count >= 2 at least one ran wholly after the call."""
    target = cycles_ended(machine) + count
    machine.wait_for(lambda: cycles_ended(machine) >= target, f"{count} more backup cycles", timeout=40)


def manifest(machine: Machine) -> list[str]:
    path = machine.data / ".hosted" / "books.manifest"
    return path.read_text().splitlines() if path.exists() else []


def seed_volume(machine: Machine, books: dict[str, bytes]) -> None:
    """A volume with a database holding the owner, and these book files in the library."""
    for name, body in books.items():
        path = machine.library / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
    conn = alex_db.create(machine.db)
    alex_db.add_user(conn, "u-owner", OWNER_EMAIL, "chosen-by-owner", role="admin")
    conn.close()


def deleted_keys(bucket: Bucket, name: str) -> list[str]:
    pattern = re.compile(r"deleted/\d{8}T\d{6}Z/books/" + re.escape(name))
    return [key for key in bucket.keys("deleted/") if pattern.fullmatch(key)]


def stamp(when: datetime) -> str:
    return when.strftime("%Y%m%dT%H%M%SZ")


@pytest.mark.parametrize("name", ODD_NAMES, ids=ODD_IDS)
def test_book_deleted_locally_stays_deleted_across_cycles_and_a_restore(
    make_machine: Callable[..., Machine], bucket: Bucket, name: str
) -> None:
    machine = make_machine(BACKUP_INTERVAL_SECONDS="1")
    body = b"the deleted book, 36 bytes of content"
    seed_volume(machine, {"keep/stays.epub": b"kept", name: body})
    machine.boot_ready()
    assert f"books/{name}" in bucket.keys("books/")
    assert name in manifest(machine)
    stored_before = bucket.total_size("books/")

    (machine.library / name).unlink()
    wait_cycles(machine, 4)

    assert not (machine.library / name).exists(), "a deleted book must not be pulled back"
    assert bucket.keys("books/") == ["books/keep/stays.epub"], machine.output()
    moved = deleted_keys(bucket, name)
    assert len(moved) == 1, bucket.keys()
    assert bucket.get(moved[0]) == body, "the deleted book stays recoverable for the grace period"
    assert bucket.total_size("books/") == stored_before - len(body), "the tenant's live storage shrinks"
    assert name not in manifest(machine)
    assert machine.stop() == 0

    machine.lose_volume()
    machine.boot_ready()
    wait_cycles(machine, 2)

    assert (machine.library / "keep" / "stays.epub").read_bytes() == b"kept"
    assert not (machine.library / name).exists(), "a restore brings back only books/, not deleted/"
    assert bucket.keys("books/") == ["books/keep/stays.epub"]
    assert deleted_keys(bucket, name) == moved
    machine.stop()


def test_book_deleted_just_before_stop_is_mirrored_by_the_final_backup(
    make_machine: Callable[..., Machine], bucket: Bucket
) -> None:
    """Machines scale to zero: the stop's backup must carry the deletion, or a lost volume undoes it."""
    machine = make_machine()
    seed_volume(machine, {"a.epub": b"a", "b.epub": b"b"})
    machine.boot_ready()
    (machine.library / "a.epub").unlink()
    assert machine.stop() == 0

    assert bucket.keys("books/") == ["books/b.epub"]
    assert len(deleted_keys(bucket, "a.epub")) == 1
    machine.lose_volume()
    machine.boot_ready()
    assert sorted(p.name for p in machine.library.rglob("*") if p.is_file()) == ["b.epub"]
    machine.stop()


def test_lost_volume_restores_every_live_book(make_machine: Callable[..., Machine], bucket: Bucket) -> None:
    """A volume lost after a deletion the backup has not seen yet restores everything live in books/."""
    machine = make_machine()
    books = {"one.epub": b"1", "shelf/two.pdf": b"22", ODD_NAMES[1]: b"333"}
    seed_volume(machine, books)
    machine.boot_ready()
    machine.kill()  # no final backup: the deletion below is never seen
    (machine.library / "one.epub").unlink()

    machine.lose_volume()
    machine.boot_ready()

    restored = {str(p.relative_to(machine.library)): p.read_bytes() for p in machine.library.rglob("*") if p.is_file()}
    assert restored == books
    assert bucket.keys("deleted/") == []
    machine.stop()


@pytest.mark.parametrize("name", ODD_NAMES, ids=ODD_IDS)
def test_checked_book_new_in_r2_is_pulled_and_stays_deleted_once_the_reader_deletes_it(
    make_machine: Callable[..., Machine], bucket: Bucket, name: str
) -> None:
    """The companion checked an upload but could not write the library (or the operator copied a book
    back with the mark): never known locally, so pulled."""
    machine = make_machine(BACKUP_INTERVAL_SECONDS="1")
    seed_volume(machine, {"mine.epub": b"mine"})
    machine.boot_ready()
    assert manifest(machine) == ["mine.epub"]

    bucket.put_checked(f"books/{name}", b"from the operator")
    arrived = machine.library / name
    machine.wait_for(arrived.exists, "the operator's book in the library", timeout=30)
    wait_cycles(machine, 2)
    assert arrived.read_bytes() == b"from the operator"
    assert f"books/{name}" in bucket.keys("books/"), "a pulled book stays in R2"
    assert name in manifest(machine)

    arrived.unlink()
    wait_cycles(machine, 3)
    assert not arrived.exists()
    assert bucket.keys("books/") == ["books/mine.epub"]
    assert len(deleted_keys(bucket, name)) == 1
    machine.stop()


def test_first_boot_without_manifest_deletes_nothing_in_r2(
    make_machine: Callable[..., Machine], bucket: Bucket
) -> None:
    """A volume from before the manifest (or a fresh one) cannot tell deletions: it deletes nothing.
    What only R2 has is pulled when checked, and otherwise left where it is and reported."""
    bucket.put("books/only-in-r2.epub", b"r2")
    bucket.put_checked("books/checked-in-r2.epub", b"checked")
    machine = make_machine(BACKUP_INTERVAL_SECONDS="1")
    seed_volume(machine, {"only-local.epub": b"local"})
    machine.boot_ready()
    wait_cycles(machine, 2)

    assert bucket.keys("books/") == ["books/checked-in-r2.epub", "books/only-in-r2.epub", "books/only-local.epub"]
    assert bucket.keys("deleted/") == []
    assert (machine.library / "checked-in-r2.epub").read_bytes() == b"checked"
    assert not (machine.library / "only-in-r2.epub").exists()
    assert manifest(machine) == ["checked-in-r2.epub", "only-local.epub"]
    machine.stop()


@pytest.mark.parametrize("broken", ["empty", "missing"])
def test_empty_or_missing_library_with_a_manifest_deletes_nothing_in_r2(
    make_machine: Callable[..., Machine], bucket: Bucket, broken: str
) -> None:
    """A broken mount or a wiped library folder must never empty the bucket."""
    machine = make_machine(BACKUP_INTERVAL_SECONDS="1")
    seed_volume(machine, {"a.epub": b"a", "shelf/b.epub": b"b", ODD_NAMES[1]: b"c"})
    machine.boot_ready()
    books = bucket.keys("books/")
    assert len(books) == 3 and len(manifest(machine)) == 3

    shutil.rmtree(machine.library)
    if broken == "empty":
        machine.library.mkdir()
    wait_cycles(machine, 3)

    assert bucket.keys("books/") == books
    assert bucket.keys("deleted/") == []
    warning = "refusing to mirror deletions" if broken == "empty" else "is missing (volume not mounted?)"
    assert warning in machine.output()
    assert len(manifest(machine)) == 3, "the memory of the books is kept"
    machine.stop()


def failing_rclone(machine: Machine) -> Path:
    """An rclone that, while ctl/r2-books-listing-fails exists, lists books/ partly and then fails."""
    path = machine.root / "failing-rclone"
    real = machine.root / "bin" / "rclone"
    path.write_text(
        "#!/bin/sh\n"
        'if [ -e "$FAKE_CTL/r2-books-listing-fails" ]; then\n'
        '    case "$*" in\n'
        f'        "lsf -R --files-only "*" r2:"*/books) "{real}" "$@" | head -n 1; exit 1 ;;\n'
        "    esac\n"
        "fi\n"
        f'exec "{real}" "$@"\n'
    )
    path.chmod(0o755)
    return path


def test_failed_r2_listing_deletes_nothing_until_a_listing_succeeds(
    make_machine: Callable[..., Machine], bucket: Bucket
) -> None:
    machine = make_machine(BACKUP_INTERVAL_SECONDS="1")
    machine.env_overrides["RCLONE_BIN"] = str(failing_rclone(machine))
    seed_volume(machine, {"a.epub": b"a", "b.epub": b"b", "c.epub": b"c"})
    machine.boot_ready()
    assert bucket.keys("books/") == ["books/a.epub", "books/b.epub", "books/c.epub"]

    flag = machine.ctl / "r2-books-listing-fails"
    flag.touch()
    (machine.library / "b.epub").unlink()
    wait_cycles(machine, 3)
    assert bucket.keys("books/") == ["books/a.epub", "books/b.epub", "books/c.epub"]
    assert bucket.keys("deleted/") == []
    assert "no deletion and no pull this cycle" in machine.output()
    assert "b.epub" in manifest(machine), "a failed cycle forgets nothing"
    assert not (machine.library / "b.epub").exists()

    flag.unlink()
    wait_cycles(machine, 2)
    assert bucket.keys("books/") == ["books/a.epub", "books/c.epub"]
    assert len(deleted_keys(bucket, "b.epub")) == 1
    machine.stop()


@pytest.mark.parametrize(
    ("grace", "days", "message"),
    [
        ("1", 1, ""),
        ("thirty", 30, "BOOK_DELETE_GRACE_DAYS='thirty' is not a positive whole number; using 30"),
        ("030", 30, "BOOK_DELETE_GRACE_DAYS='030' is not a positive whole number; using 30"),
        ("0", 30, "BOOK_DELETE_GRACE_DAYS='0' is not a positive whole number; using 30"),
        ("99999999999999999999", 30, "BOOK_DELETE_GRACE_DAYS='99999999999999999999' is too large"),
    ],
    ids=["one-day", "text", "leading-zero", "zero", "overflow"],
)
def test_deleted_books_are_purged_after_the_grace_period(
    make_machine: Callable[..., Machine],
    bucket: Bucket,
    grace: str,
    days: int,
    message: str,
) -> None:
    """deleted/<UTC>/ prefixes older than the grace period go; younger ones and foreign keys stay."""
    now = datetime.now(UTC)
    old = f"deleted/{stamp(now - timedelta(days=days, hours=1))}/books/{ODD_NAMES[1]}"
    young = f"deleted/{stamp(now - timedelta(days=days) + timedelta(hours=1))}/books/shelf/young.epub"
    foreign = "deleted/not-a-stamp/books/x.epub"
    for key in (old, young, foreign):
        bucket.put(key, b"deleted book")
    machine = make_machine(BOOK_DELETE_GRACE_DAYS=grace)
    machine.boot_ready()
    machine.stop()

    assert bucket.keys("deleted/") == sorted([young, foreign])
    assert message in machine.output()
    assert bucket.keys("books/") == [], "a restore never brings back deleted/"
