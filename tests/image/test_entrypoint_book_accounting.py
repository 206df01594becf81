"""The image never brings into the library a book no backup and no checked upload put in books/.

What may come from R2 into the library: a key the ledger lists (status/books.manifest, the book keys
the last backup knew) or an object carrying the companion's mark (it checked that upload). Anything else
found in books/ (today's attack: non-PDF bytes PUT there with an upload URL, never completed) is left
where it is, never pulled or restored, and reported in status/health.json, where the collector and the
dashboard show it. staging/ (uploads in flight) is never read at all.
"""

from __future__ import annotations

from collections.abc import Callable

from tenants import bucket_layout
from tests.image.conftest import Bucket, Machine
from tests.image.test_entrypoint_book_deletion import manifest, seed_volume, wait_cycles
from tests.image.test_entrypoint_book_names import library_books
from tests.image.test_entrypoint_health import health

JUNK = b"<html>" + b"\x00not a book\xff" * (12 * 1024 * 1024 // 12)  # 12 MB of whatever


def ledger(bucket: Bucket) -> list[str]:
    return bucket.get(bucket_layout.BOOKS_LEDGER_KEY).decode().splitlines()


def test_an_object_in_books_nothing_accounts_for_is_reported_and_never_pulled(
    make_machine: Callable[..., Machine], bucket: Bucket
) -> None:
    """Today's attack: an upload URL PUT 12 MB of junk into books/ and the next sync pulled it in."""
    machine = make_machine(BACKUP_INTERVAL_SECONDS="1")
    seed_volume(machine, {"mine.epub": b"mine"})
    machine.boot_ready()

    bucket.put("books/Junk.pdf", JUNK)
    bucket.put("books/shelf/also junk.epub", b"PK not really")
    bucket.put_checked("books/Checked.pdf", b"%PDF-1.7 checked")  # the companion checked it: pulled
    machine.wait_for(lambda: (machine.library / "Checked.pdf").exists(), "the checked book in the library")
    wait_cycles(machine, 2)

    assert library_books(machine) == {"mine.epub": b"mine", "Checked.pdf": b"%PDF-1.7 checked"}
    assert bucket.get("books/Junk.pdf") == JUNK, "reported, not deleted: an operator decides"
    assert manifest(machine) == ["Checked.pdf", "mine.epub"]
    assert ledger(bucket) == ["Checked.pdf", "mine.epub"]
    status = health(bucket)
    assert status.books_unaccounted == bucket_layout.BookKeys(2, ("Junk.pdf", "shelf/also junk.epub"))
    assert status.books_failed == bucket_layout.BookKeys(0, ())
    assert "books: WARNING: 2 book file(s) in" in machine.output()
    machine.stop()


def test_a_restore_brings_back_what_a_backup_or_a_check_accounts_for_and_reports_the_rest(
    make_machine: Callable[..., Machine], bucket: Bucket
) -> None:
    machine = make_machine()
    seed_volume(machine, {"one.pdf": b"1", "shelf/two.epub": b"2"})
    machine.boot_ready()
    assert machine.stop() == 0
    assert ledger(bucket) == ["one.pdf", "shelf/two.epub"]

    bucket.put("books/Junk.pdf", JUNK)  # never checked, never backed up
    bucket.put_checked("books/Checked.pdf", b"%PDF-1.7 checked")  # checked after the last backup
    bucket.put("staging/1796000000-0123456789abcdef", b"%PDF-1.7 an upload in flight")
    machine.lose_volume()
    machine.boot_ready()

    assert library_books(machine) == {"one.pdf": b"1", "shelf/two.epub": b"2", "Checked.pdf": b"%PDF-1.7 checked"}
    status = health(bucket)
    assert status.restore is not None and status.restore.ok
    assert status.books_unaccounted == bucket_layout.BookKeys(1, ("Junk.pdf",))
    assert bucket.keys("staging/") == ["staging/1796000000-0123456789abcdef"], "the companion's, untouched"
    assert ledger(bucket) == ["Checked.pdf", "one.pdf", "shelf/two.epub"]
    machine.stop()


def test_a_bucket_with_no_ledger_yet_is_restored_whole_and_gets_one(
    make_machine: Callable[..., Machine], bucket: Bucket
) -> None:
    """A bucket an older image backed up, or the operator's migrate script filled: trusted as before."""
    bucket.put("books/shelf/dune.epub", b"dune")
    bucket.put("books/old.pdf", b"old")
    machine = make_machine()
    machine.boot_ready()

    assert library_books(machine) == {"shelf/dune.epub": b"dune", "old.pdf": b"old"}
    assert "has no book ledger yet: every book in books/ is trusted" in machine.output()
    assert ledger(bucket) == ["old.pdf", "shelf/dune.epub"]
    assert health(bucket).books_unaccounted == bucket_layout.BookKeys(0, ())
    machine.stop()


def test_the_ledger_is_uploaded_only_when_it_changes(make_machine: Callable[..., Machine], bucket: Bucket) -> None:
    machine = make_machine(BACKUP_INTERVAL_SECONDS="1")
    seed_volume(machine, {"one.pdf": b"1"})
    machine.boot_ready()
    wait_cycles(machine, 3)

    def ledger_writes() -> int:
        return sum(1 for _, args in machine.rclone_calls() if args.endswith(f"/{bucket_layout.BOOKS_LEDGER_KEY}"))

    assert ledger_writes() == 1
    (machine.library / "two.pdf").write_bytes(b"2")
    machine.wait_for(lambda: ledger_writes() == 2, "the ledger with the new book")
    wait_cycles(machine, 2)
    assert ledger_writes() == 2
    assert ledger(bucket) == ["one.pdf", "two.pdf"]
    # An unchanged library reads no ledger and no marks: nothing is new in R2.
    assert not [args for _, args in machine.rclone_calls() if args.startswith(("cat ", "lsjson "))]
    machine.stop()
