"""The same bytes under another name: Alex's watcher skips a file whose SHA-256 it already holds
(watcher-rs/src/handlers/add.rs), so such an upload would never appear. `complete` hashes the object
while checking it, refuses it naming the book it repeats, and keeps none of its bytes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.companion.harness import EPUB, PDF, Companion, epub_bytes, pdf_bytes, upload
from tests.support.alex_web import AlexWeb

MiB = 1024 * 1024


def keys(s3: Any, bucket: str) -> list[str]:
    return sorted(obj["Key"] for obj in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def refused_as_duplicate(answer: httpx.Response, name: str, twin: str) -> None:
    assert answer.status_code == 409, answer.text
    assert answer.json() == {
        "error": f'"{name}" is the same file as "{twin}", which is already in your library; it was not added again.',
        "duplicateOf": twin,
    }


@pytest.mark.parametrize(("type_", "data"), [(PDF, pdf_bytes(5000)), (EPUB, epub_bytes())], ids=["pdf", "epub"])
def test_same_bytes_under_another_name_is_refused_naming_the_book(
    signed_in: httpx.Client, s3: Any, bucket: str, library: Path, alex_web: AlexWeb, type_: str, data: bytes
) -> None:
    ext = "pdf" if type_ == PDF else "epub"
    assert upload(signed_in, f"First.{ext}", data, type_).status_code == 200
    refused_as_duplicate(upload(signed_in, f"Again.{ext}", data, type_), f"Again.{ext}", f"First.{ext}")
    # No bytes kept: not in the library, not in books/, nothing left in staging/ to count against the quota.
    assert sorted(p.name for p in library.iterdir()) == [f"First.{ext}"]
    assert keys(s3, bucket) == [f"books/First.{ext}"]
    assert alex_web.books() == [f"First.{ext}"]


def test_a_duplicate_sent_in_parts_is_refused(
    start: Callable[..., Companion], alex_web: AlexWeb, s3: Any, bucket: str, library: Path
) -> None:
    companion = start(UPLOAD_PART_BYTES=str(5 * MiB))
    data = pdf_bytes(11 * MiB)
    (library / "Big.pdf").write_bytes(data)
    with httpx.Client(base_url=companion.url, headers={"Cookie": alex_web.cookie_header()}, timeout=60) as client:
        refused_as_duplicate(upload(client, "Big copy.pdf", data), "Big copy.pdf", "Big.pdf")
    assert keys(s3, bucket) == []
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


@pytest.mark.parametrize("existing", ["Shelf/Old.pdf", "Shelf/Deeper/Old.PDF"])
def test_a_book_in_a_folder_of_the_library_is_found(
    signed_in: httpx.Client, s3: Any, bucket: str, library: Path, existing: str
) -> None:
    """A library brought from a self-run Alex may have folders; Alex indexes every .pdf/.epub in them."""
    data = pdf_bytes(300)
    (library / existing).parent.mkdir(parents=True)
    (library / existing).write_bytes(data)
    refused_as_duplicate(upload(signed_in, "New.pdf", data), "New.pdf", existing)
    assert keys(s3, bucket) == []


def test_same_size_other_bytes_is_added(signed_in: httpx.Client, library: Path) -> None:
    (library / "One.pdf").write_bytes(pdf_bytes(4000))
    other = pdf_bytes(4000)
    assert upload(signed_in, "Two.pdf", other).status_code == 200
    assert (library / "Two.pdf").read_bytes() == other


def test_a_file_alex_does_not_index_is_no_twin(signed_in: httpx.Client, library: Path) -> None:
    """Only .pdf and .epub files are books to Alex: the same bytes under another extension are not."""
    data = pdf_bytes(400)
    (library / "notes.txt").write_bytes(data)
    assert upload(signed_in, "Real.pdf", data).status_code == 200


def test_a_book_changed_since_its_hash_was_kept_is_hashed_again(signed_in: httpx.Client, library: Path) -> None:
    first, second = pdf_bytes(600), pdf_bytes(600)
    assert upload(signed_in, "Book.pdf", first).status_code == 200
    refused_as_duplicate(upload(signed_in, "Copy.pdf", first), "Copy.pdf", "Book.pdf")
    (library / "Book.pdf").write_bytes(second)  # replaced by the reader (another mtime)
    assert upload(signed_in, "Copy.pdf", first).status_code == 200
    refused_as_duplicate(upload(signed_in, "Copy 2.pdf", second), "Copy 2.pdf", "Book.pdf")
