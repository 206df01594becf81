"""Covers: Alex draws a book's cover once, when it first indexes the file (COVERS_PATH/<book id>.jpg, named
in the database), and never again for a file it knows. The backup keeps them in R2's covers/ and a
restore puts them back before the database, so a library restored on a new volume looks as it did."""

from __future__ import annotations

import sqlite3
import urllib.request
import uuid
from collections.abc import Callable

from tests.image.conftest import Bucket, Machine
from tests.image.test_entrypoint_book_deletion import seed_volume, wait_cycles

BOOKS = {"Dune.epub": b"dune, the bytes", "shelf/Atlas.pdf": b"%PDF-1.7 atlas"}


def cover_name(book_id: str) -> str:
    """The stand-in watcher's cover file for a book (a UUID, like Alex's)."""
    return f"{uuid.uuid5(uuid.NAMESPACE_URL, book_id)}.jpg"


def book_ids(machine: Machine) -> list[str]:
    with sqlite3.connect(f"file:{machine.db}?mode=ro", uri=True, timeout=10) as conn:
        return sorted(book_id for (book_id,) in conn.execute("SELECT id FROM books"))


def cover_pages(machine: Machine) -> dict[str, tuple[str, bytes]]:
    """What Alex's cover route answers for each book: (content type, body)."""
    machine.wait_for(lambda: bool(machine.events("listening")), "Alex to listen")
    pages = {}
    for book_id in book_ids(machine):
        url = f"http://127.0.0.1:{machine.alex_port}/api/books/{book_id}/cover"
        with urllib.request.urlopen(url, timeout=5) as answer:
            pages[book_id] = (answer.headers["Content-Type"], answer.read())
    return pages


def indexed(machine: Machine, count: int) -> None:
    machine.wait_for(lambda: len(machine.events("ingested")) >= count, f"the watcher to index {count} book(s)")


def test_the_same_pages_render_the_same_covers_after_a_volume_loss(
    make_machine: Callable[..., Machine], bucket: Bucket
) -> None:
    machine = make_machine(BACKUP_INTERVAL_SECONDS="1", FAKE_ALEX_LISTEN_AFTER="0")
    seed_volume(machine, BOOKS)
    machine.boot_ready()
    indexed(machine, 2)
    before = cover_pages(machine)
    assert [kind for kind, _ in before.values()] == ["image/jpeg", "image/jpeg"], "Alex drew both covers"
    wait_cycles(machine, 2)

    assert machine.stop() == 0
    machine.lose_volume()
    ingested = len(machine.events("ingested"))
    machine.boot_ready()

    assert cover_pages(machine) == before
    assert len(machine.events("ingested")) == ingested, "the books were known: Alex drew nothing again"
    assert bucket.keys("covers/") == sorted(f"covers/{cover_name(book_id)}" for book_id in before)


def test_a_cover_drawn_just_before_stop_goes_with_the_final_backup(
    make_machine: Callable[..., Machine], bucket: Bucket
) -> None:
    machine = make_machine(FAKE_ALEX_LISTEN_AFTER="0")  # one cycle at boot, the next an hour later
    seed_volume(machine, {})
    machine.boot_ready()
    (machine.library / "Late.epub").write_bytes(b"added after the last cycle")
    indexed(machine, 1)
    assert machine.stop() == 0
    assert bucket.keys("covers/") == [f"covers/{cover_name('b-Late.epub')}"]


def test_covers_of_deleted_books_leave_r2_and_an_empty_folder_empties_nothing(
    make_machine: Callable[..., Machine], bucket: Bucket
) -> None:
    machine = make_machine(BACKUP_INTERVAL_SECONDS="1", FAKE_ALEX_LISTEN_AFTER="0")
    seed_volume(machine, BOOKS)
    machine.boot_ready()
    indexed(machine, 2)
    wait_cycles(machine, 2)
    assert len(bucket.keys("covers/")) == 2

    (machine.data / "covers" / cover_name("b-Dune.epub")).unlink()  # as Alex does when the book goes
    wait_cycles(machine, 2)
    assert bucket.keys("covers/") == [f"covers/{cover_name('b-Atlas.pdf')}"]

    for cover in (machine.data / "covers").iterdir():
        cover.unlink()
    wait_cycles(machine, 2)
    assert bucket.keys("covers/") == [f"covers/{cover_name('b-Atlas.pdf')}"], (
        "an empty folder is no reason to empty covers/"
    )
