"""The upload API against moto standing in for R2: what is refused (and said), and what lands in the library."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.companion.harness import (
    EPUB,
    PDF,
    R2_SECRET,
    Companion,
    complete,
    epub_bytes,
    pdf_bytes,
    plan,
    send,
    upload,
)
from tests.support.alex_web import AlexWeb

MiB = 1024 * 1024


def keys(s3: Any, bucket: str) -> list[str]:
    return sorted(obj["Key"] for obj in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def library_files(library: Path) -> list[str]:
    return sorted(path.name for path in library.iterdir())


# --- what lands -------------------------------------------------------------------------------


def test_small_pdf_goes_up_in_one_put_and_into_the_library(
    signed_in: httpx.Client, s3: Any, bucket: str, library: Path
) -> None:
    data = pdf_bytes(300_000)
    planned = plan(signed_in, "Small Book.pdf", len(data)).json()
    assert planned["key"].startswith("staging/")  # never books/: only complete puts a book there
    assert (planned["name"], planned["method"]) == ("Small Book.pdf", "PUT")
    assert "uploadId" not in planned
    send(signed_in, planned, data)
    done = complete(signed_in, planned)
    assert done.status_code == 200
    assert done.json() == {
        "key": "books/Small Book.pdf",
        "name": "Small Book.pdf",
        "size": len(data),
        "ingested": True,
        "message": '"Small Book.pdf" is in your library.',
    }
    assert (library / "Small Book.pdf").read_bytes() == data
    assert library_files(library) == ["Small Book.pdf"]  # no temp file left behind
    assert keys(s3, bucket) == ["books/Small Book.pdf"]
    head = s3.head_object(Bucket=bucket, Key="books/Small Book.pdf")
    assert (head["Metadata"], head["ContentType"]) == ({"hosted-upload": "checked"}, PDF)
    # The object's time, so the backup's rclone sees both copies as the same file.
    assert (library / "Small Book.pdf").stat().st_mtime == head["LastModified"].timestamp()


def test_large_book_goes_up_in_three_parts_and_into_the_library(
    start: Callable[..., Companion], alex_web: AlexWeb, s3: Any, bucket: str, library: Path
) -> None:
    companion = start(UPLOAD_PART_BYTES=str(5 * MiB))
    data = pdf_bytes(12 * MiB + 12345)
    with httpx.Client(base_url=companion.url, headers={"Cookie": alex_web.cookie_header()}, timeout=60) as client:
        planned = plan(client, "Big Book.pdf", len(data)).json()
        assert (planned["partSize"], planned["partCount"]) == (5 * MiB, 3)
        assert [part["partNumber"] for part in planned["parts"]] == [1, 2, 3]
        send(client, planned, data)
        done = complete(client, planned)
    assert done.status_code == 200, done.text
    assert done.json()["ingested"] is True
    assert (library / "Big Book.pdf").read_bytes() == data
    assert s3.head_object(Bucket=bucket, Key="books/Big Book.pdf")["ContentLength"] == len(data)
    assert s3.head_object(Bucket=bucket, Key="books/Big Book.pdf")["ContentType"] == PDF
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_epub_with_its_mimetype_entry_is_added(signed_in: httpx.Client, library: Path) -> None:
    data = epub_bytes()
    assert upload(signed_in, "Novel.epub", data, EPUB).status_code == 200
    assert (library / "Novel.epub").read_bytes() == data


@pytest.mark.parametrize(
    "name",
    ["Les Misérables + (vol. 1) #2 & 50% 'off'.epub", "日本語の本.epub", "a=b;c,d@e!~$.EPUB", "Café.epub"],
)
def test_unusual_names_keep_their_exact_key_and_file_name(
    signed_in: httpx.Client, s3: Any, bucket: str, library: Path, name: str
) -> None:
    data = epub_bytes()
    assert upload(signed_in, name, data, EPUB).status_code == 200
    assert keys(s3, bucket) == [f"books/{name}"]
    assert (library / name).read_bytes() == data


def test_decomposed_unicode_name_is_stored_composed(
    signed_in: httpx.Client, s3: Any, bucket: str, library: Path
) -> None:
    """macOS hands over NFD names; the library and R2 compare bytes, so one form is used: NFC."""
    assert upload(signed_in, "Cafe\u0301.pdf", pdf_bytes(100)).status_code == 200
    assert keys(s3, bucket) == ["books/Caf\u00e9.pdf"]
    assert library_files(library) == ["Caf\u00e9.pdf"]


def test_several_files_at_once_each_land(signed_in: httpx.Client, library: Path) -> None:
    books = {f"Book {n}.pdf": pdf_bytes(1000 + n) for n in range(4)}
    plans = {name: plan(signed_in, name, len(data)).json() for name, data in books.items()}
    for name, data in books.items():
        send(signed_in, plans[name], data)
    for name in books:
        assert complete(signed_in, plans[name]).status_code == 200
    assert {path.name: path.read_bytes() for path in library.iterdir()} == books


# --- refusals before the upload -----------------------------------------------------------------

BAD_NAMES = [
    ("", 400, "The file has no name."),
    (".", 400, "That is not a file name."),
    ("..", 400, "That is not a file name."),
    (".pdf", 400, "A book's name cannot start with a dot."),
    (".hidden.pdf", 400, "A book's name cannot start with a dot."),
    ("dir/book.pdf", 400, 'A book\'s name cannot contain "/" or "\\".'),
    ("../book.pdf", 400, 'A book\'s name cannot contain "/" or "\\".'),
    ("dir\\book.pdf", 400, 'A book\'s name cannot contain "/" or "\\".'),
    ("/etc/passwd.pdf", 400, 'A book\'s name cannot contain "/" or "\\".'),
    ("book\n.pdf", 400, "A book's name cannot contain invisible or control characters. Rename the file and try again."),
    (
        "book\x00.pdf",
        400,
        "A book's name cannot contain invisible or control characters. Rename the file and try again.",
    ),
    (
        "book\x7f.pdf",
        400,
        "A book's name cannot contain invisible or control characters. Rename the file and try again.",
    ),
    (
        "evil\u202efdp.epub",
        400,
        "A book's name cannot contain invisible or control characters. Rename the file and try again.",
    ),
    (
        "zero\u200bwidth.pdf",
        400,
        "A book's name cannot contain invisible or control characters. Rename the file and try again.",
    ),
    (
        "bom\ufeff.pdf",
        400,
        "A book's name cannot contain invisible or control characters. Rename the file and try again.",
    ),
    (
        "line\u2028sep.pdf",
        400,
        "A book's name cannot contain invisible or control characters. Rename the file and try again.",
    ),
    (" leading.pdf", 400, "A book's name cannot start or end with a space."),
    ("trailing.pdf ", 400, "A book's name cannot start or end with a space."),
    ("x" * 197 + ".pdf", 400, "That file name is too long. Shorten it to under 200 characters and try again."),
    ("é" * 99 + ".pdf", 400, "That file name is too long. Shorten it to under 200 characters and try again."),
    ("book", 415, "Only PDF and EPUB books can be added: the file name must end in .pdf or .epub."),
    ("book.txt", 415, "Only PDF and EPUB books can be added: the file name must end in .pdf or .epub."),
    ("book.pdf.exe", 415, "Only PDF and EPUB books can be added: the file name must end in .pdf or .epub."),
    ("book.mobi", 415, "Only PDF and EPUB books can be added: the file name must end in .pdf or .epub."),
]


@pytest.mark.parametrize(("name", "status", "error"), BAD_NAMES)
def test_bad_names_are_refused_with_a_reason(shared_reader: httpx.Client, name: str, status: int, error: str) -> None:
    answer = plan(shared_reader, name, 100, EPUB if name.lower().endswith(".epub") else PDF)
    assert answer.status_code == status
    assert answer.json() == {"error": error}


@pytest.mark.parametrize("name", [None, 42, ["a.pdf"], {"n": "a.pdf"}, True])
def test_a_name_that_is_not_text_is_refused(shared_reader: httpx.Client, name: object) -> None:
    answer = shared_reader.post("/_hosted/api/uploads", json={"name": name, "size": 10, "type": PDF})
    assert answer.status_code == 400
    assert answer.json() == {"error": "The file has no name."}


def test_longest_allowed_name_is_accepted(signed_in: httpx.Client) -> None:
    assert plan(signed_in, "x" * 196 + ".pdf", 100).status_code == 200


@pytest.mark.parametrize(
    "type_", ["text/plain", "", "application/octet-stream", "application/x-mobipocket-ebook", None, 7]
)
def test_types_other_than_pdf_and_epub_are_refused(shared_reader: httpx.Client, type_: object) -> None:
    answer = shared_reader.post("/_hosted/api/uploads", json={"name": "Book.pdf", "size": 10, "type": type_})
    assert answer.status_code == 415
    assert answer.json() == {"error": "Only PDF and EPUB books can be added."}


@pytest.mark.parametrize(
    ("name", "type_", "error"),
    [
        ("Book.pdf", EPUB, "This file is said to be a EPUB but its name does not end in .epub."),
        ("Book.epub", PDF, "This file is said to be a PDF but its name does not end in .pdf."),
        ("Book.PDF", EPUB, "This file is said to be a EPUB but its name does not end in .epub."),
    ],
)
def test_type_and_extension_must_agree(shared_reader: httpx.Client, name: str, type_: str, error: str) -> None:
    answer = plan(shared_reader, name, 10, type_)
    assert answer.status_code == 415
    assert answer.json() == {"error": error}


def test_upper_case_extension_is_fine(signed_in: httpx.Client) -> None:
    assert plan(signed_in, "SHOUTING.PDF", 10).status_code == 200


@pytest.mark.parametrize(
    ("size", "status", "error"),
    [
        (0, 400, '"Book.pdf" is empty.'),
        (-1, 400, "The file size is missing or not a number."),
        (1.5, 400, "The file size is missing or not a number."),
        ("10", 400, "The file size is missing or not a number."),
        (None, 400, "The file size is missing or not a number."),
        (2**60, 413, '"Book.pdf" is too large (1.2 EB): a book can be at most 1.1 GB.'),
        (1024 * MiB + 1, 413, '"Book.pdf" is too large (1073741825 bytes): a book can be at most 1073741824 bytes.'),
        (1100 * MiB, 413, '"Book.pdf" is too large (1.2 GB): a book can be at most 1.1 GB.'),
    ],
)
def test_bad_and_too_big_sizes_are_refused(shared_reader: httpx.Client, size: object, status: int, error: str) -> None:
    answer = shared_reader.post("/_hosted/api/uploads", json={"name": "Book.pdf", "size": size, "type": PDF})
    assert answer.status_code == status
    assert answer.json() == {"error": error}


def test_upload_max_bytes_sets_the_limit(start: Callable[..., Companion], alex_web: AlexWeb) -> None:
    companion = start(UPLOAD_MAX_BYTES="5000000")
    with httpx.Client(base_url=companion.url, headers={"Cookie": alex_web.cookie_header()}) as client:
        assert plan(client, "Book.pdf", 5_000_000).status_code == 200
        answer = plan(client, "Other.pdf", 5_000_001)
    assert answer.status_code == 413
    assert answer.json() == {"error": '"Other.pdf" is too large (5000001 bytes): a book can be at most 5000000 bytes.'}


def test_quota_counts_the_whole_bucket_and_refuses_with_507(
    start: Callable[..., Companion], alex_web: AlexWeb, s3: Any, bucket: str
) -> None:
    s3.put_object(Bucket=bucket, Key="db/library-20260101T000000Z.db", Body=b"d" * 600)
    s3.put_object(Bucket=bucket, Key="books/Old.pdf", Body=b"b" * 300)
    companion = start(STORAGE_QUOTA_BYTES="1000")
    with httpx.Client(base_url=companion.url, headers={"Cookie": alex_web.cookie_header()}) as client:
        assert plan(client, "Fits.pdf", 100).status_code == 200  # 600 + 300 + 100 = 1000
        answer = plan(client, "One More.pdf", 1)
    assert answer.status_code == 507
    assert answer.json() == {
        "error": 'There is not enough room for "One More.pdf" (1 bytes): your plan holds 1.0 KB and 1.0 KB is in use. '
        "Delete some books or change your plan."
    }


def test_quota_pages_through_a_long_listing(
    start: Callable[..., Companion], alex_web: AlexWeb, s3: Any, bucket: str
) -> None:
    for n in range(1005):  # more than one ListObjectsV2 page of 1000
        s3.put_object(Bucket=bucket, Key=f"db/x{n:04d}", Body=b"z")
    companion = start(STORAGE_QUOTA_BYTES="1010")
    with httpx.Client(base_url=companion.url, headers={"Cookie": alex_web.cookie_header()}) as client:
        assert plan(client, "Five.pdf", 5).status_code == 200
        assert plan(client, "Six.pdf", 1).status_code == 507


def test_multipart_uploads_in_flight_hold_their_room_until_aborted(
    start: Callable[..., Companion], alex_web: AlexWeb
) -> None:
    companion = start(STORAGE_QUOTA_BYTES=str(7 * MiB), UPLOAD_PART_BYTES=str(5 * MiB))
    with httpx.Client(base_url=companion.url, headers={"Cookie": alex_web.cookie_header()}) as client:
        first = plan(client, "First.pdf", 6 * MiB).json()
        assert plan(client, "Second.pdf", 2 * MiB).status_code == 507
        aborted = client.post("/_hosted/api/uploads/abort", json={"key": first["key"], "uploadId": first["uploadId"]})
        assert aborted.json() == {"key": first["key"], "aborted": True}
        # An aborted multipart upload takes no more parts: its room is free at once.
        assert plan(client, "Second.pdf", 2 * MiB).status_code == 200


def test_name_already_in_r2_is_refused_with_a_free_name_offered(signed_in: httpx.Client, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="books/Book.pdf", Body=b"%PDF-old")
    s3.put_object(Bucket=bucket, Key="books/Book (2).pdf", Body=b"%PDF-old")
    answer = plan(signed_in, "Book.pdf", 10)
    assert answer.status_code == 409
    assert answer.json() == {
        "error": 'A book named "Book.pdf" is already in your library.',
        "suggestion": "Book (3).pdf",
    }
    assert s3.get_object(Bucket=bucket, Key="books/Book.pdf")["Body"].read() == b"%PDF-old"


def test_name_already_in_the_library_folder_is_refused(signed_in: httpx.Client, library: Path) -> None:
    (library / "Book.epub").write_bytes(b"local")
    answer = plan(signed_in, "Book.epub", 10, EPUB)
    assert answer.status_code == 409
    assert answer.json() == {
        "error": 'A book named "Book.epub" is already in your library.',
        "suggestion": "Book (2).epub",
    }
    assert (library / "Book.epub").read_bytes() == b"local"


def test_name_being_uploaded_is_refused(signed_in: httpx.Client) -> None:
    assert plan(signed_in, "Book.pdf", 10).status_code == 200
    answer = plan(signed_in, "Book.pdf", 10)
    assert answer.status_code == 409
    assert answer.json()["suggestion"] == "Book (2).pdf"


# --- refusals after the upload ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "type_", "data", "error"),
    [
        ("Fake.pdf", PDF, b"<html>not a pdf</html>", '"Fake.pdf" is not a valid PDF file; it was not added.'),
        ("Fake.pdf", PDF, b"%PD", '"Fake.pdf" is not a valid PDF file; it was not added.'),
        ("Fake.pdf", PDF, b" %PDF-1.7", '"Fake.pdf" is not a valid PDF file; it was not added.'),
        ("Fake.epub", EPUB, b"%PDF-1.7 a pdf named epub", '"Fake.epub" is not a valid EPUB file; it was not added.'),
        ("Fake.epub", EPUB, b"PK\x03\x04" + b"\x00" * 60, '"Fake.epub" is not a valid EPUB file; it was not added.'),
        (
            "Fake.epub",
            EPUB,
            epub_bytes(compress_mimetype=True),
            '"Fake.epub" is not a valid EPUB file; it was not added.',
        ),
    ],
)
def test_object_that_is_not_what_it_claims_is_deleted_and_refused(
    signed_in: httpx.Client, s3: Any, bucket: str, library: Path, name: str, type_: str, data: bytes, error: str
) -> None:
    answer = upload(signed_in, name, data, type_)
    assert answer.status_code == 415
    assert answer.json() == {"error": error}
    assert keys(s3, bucket) == []
    assert library_files(library) == []
    assert plan(signed_in, name, len(data), type_).status_code == 200  # the name is free again


def test_a_plain_zip_is_not_an_epub(signed_in: httpx.Client, s3: Any, bucket: str) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("chapter.xhtml", "<p>hi</p>")
    assert upload(signed_in, "Plain.epub", buffer.getvalue(), EPUB).status_code == 415
    assert keys(s3, bucket) == []


def test_completing_before_uploading_is_refused(signed_in: httpx.Client) -> None:
    planned = plan(signed_in, "Book.pdf", 10).json()
    answer = complete(signed_in, planned)
    assert answer.status_code == 400
    assert answer.json() == {"error": '"Book.pdf" has not finished uploading. Please add it again.'}


def test_completing_a_multipart_upload_with_a_part_missing_is_refused(
    start: Callable[..., Companion], alex_web: AlexWeb, library: Path
) -> None:
    companion = start(UPLOAD_PART_BYTES=str(5 * MiB))
    data = pdf_bytes(11 * MiB)
    with httpx.Client(base_url=companion.url, headers={"Cookie": alex_web.cookie_header()}, timeout=60) as client:
        planned = plan(client, "Big.pdf", len(data)).json()
        size = planned["partSize"]
        for part in planned["parts"][:2]:
            n = part["partNumber"]
            httpx.put(part["url"], content=data[(n - 1) * size : n * size])
        answer = complete(client, planned)
        assert answer.status_code == 400
        assert answer.json() == {"error": '"Big.pdf" has not finished uploading (2 of 3 parts arrived).'}
        # The page may still send the last part and finish.
        last = planned["parts"][2]
        httpx.put(last["url"], content=data[2 * size :])
        assert complete(client, planned).status_code == 200
    assert (library / "Big.pdf").read_bytes() == data


def test_a_book_that_appeared_in_the_library_meanwhile_is_kept(
    signed_in: httpx.Client, s3: Any, bucket: str, library: Path
) -> None:
    planned = plan(signed_in, "Book.pdf", 10).json()
    send(signed_in, planned, pdf_bytes(10))
    (library / "Book.pdf").write_bytes(b"the reader's own")
    answer = complete(signed_in, planned)
    assert answer.status_code == 409
    assert answer.json() == {"error": 'A book named "Book.pdf" is already in your library.'}
    assert (library / "Book.pdf").read_bytes() == b"the reader's own"
    assert library_files(library) == ["Book.pdf"]
    assert keys(s3, bucket) == []


def test_an_unwritable_library_leaves_the_book_for_the_periodic_pull(
    signed_in: httpx.Client, s3: Any, bucket: str, library: Path
) -> None:
    library.rmdir()  # e.g. the volume is not mounted: the object stays in R2, the pull brings it later
    answer = upload(signed_in, "Book.pdf", pdf_bytes(50))
    assert answer.status_code == 200
    assert answer.json()["ingested"] is False
    assert answer.json()["message"] == '"Book.pdf" is uploaded and will appear in your library within a few minutes.'
    assert keys(s3, bucket) == ["books/Book.pdf"]
    # The mark the entrypoint's pull looks for: this object passed the companion's checks.
    assert s3.head_object(Bucket=bucket, Key="books/Book.pdf")["Metadata"] == {"hosted-upload": "checked"}


# --- bookkeeping ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [{"key": "books/Never.pdf"}, {"key": 7}, {}, {"key": "books/Book.pdf", "uploadId": "someone-else"}],
)
@pytest.mark.parametrize("action", ["complete", "abort", "parts"])
def test_unknown_uploads_are_404(signed_in: httpx.Client, body: dict[str, object], action: str) -> None:
    plan(signed_in, "Book.pdf", 10)
    answer = signed_in.post(f"/_hosted/api/uploads/{action}", json={**body, "partNumbers": [1]})
    assert answer.status_code == 404
    assert answer.json() == {
        "error": "This upload is not known any more (it may have expired). Please add the book again."
    }


def test_abort_of_a_multipart_upload_removes_it_from_the_bucket(
    start: Callable[..., Companion], alex_web: AlexWeb, s3: Any, bucket: str
) -> None:
    companion = start(UPLOAD_PART_BYTES=str(5 * MiB))
    with httpx.Client(base_url=companion.url, headers={"Cookie": alex_web.cookie_header()}) as client:
        planned = plan(client, "Big.pdf", 6 * MiB).json()
        assert len(s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])) == 1
        answer = client.post(
            "/_hosted/api/uploads/abort", json={"key": planned["key"], "uploadId": planned["uploadId"]}
        )
        assert answer.json() == {"key": planned["key"], "aborted": True}
        assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
        assert complete(client, planned).status_code == 404


def test_abort_after_a_finished_put_removes_the_object(signed_in: httpx.Client, s3: Any, bucket: str) -> None:
    planned = plan(signed_in, "Book.pdf", 10).json()
    send(signed_in, planned, pdf_bytes(10))
    assert signed_in.post("/_hosted/api/uploads/abort", json={"key": planned["key"]}).status_code == 200
    assert keys(s3, bucket) == []


def test_part_urls_can_be_refreshed_for_a_long_upload(
    start: Callable[..., Companion], alex_web: AlexWeb, library: Path
) -> None:
    companion = start(UPLOAD_PART_BYTES=str(5 * MiB))
    data = pdf_bytes(6 * MiB)
    with httpx.Client(base_url=companion.url, headers={"Cookie": alex_web.cookie_header()}) as client:
        planned = plan(client, "Big.pdf", len(data)).json()
        body = {"key": planned["key"], "uploadId": planned["uploadId"]}
        for numbers in ([0], [3], [1.5], "1", [], [1, 2, 1, 2]):
            refused = client.post("/_hosted/api/uploads/parts", json={**body, "partNumbers": numbers})
            assert refused.status_code == 400
            assert refused.json() == {"error": "Those parts are not part of this upload."}
        fresh = client.post("/_hosted/api/uploads/parts", json={**body, "partNumbers": [1, 2]}).json()
        assert [part["partNumber"] for part in fresh["parts"]] == [1, 2]
        send(client, {**planned, "parts": fresh["parts"]}, data)
        assert complete(client, planned).status_code == 200
    assert (library / "Big.pdf").read_bytes() == data


def test_no_credential_or_presigned_url_reaches_the_log(start: Callable[..., Companion], alex_web: AlexWeb) -> None:
    companion = start(UPLOAD_PART_BYTES=str(5 * MiB))
    with httpx.Client(base_url=companion.url, headers={"Cookie": alex_web.cookie_header()}, timeout=60) as client:
        assert upload(client, "Small.pdf", pdf_bytes(100)).status_code == 200
        assert upload(client, "Big.pdf", pdf_bytes(6 * MiB)).status_code == 200
        assert upload(client, "Bad.pdf", b"nope").status_code == 415
    log = companion.output()
    assert "upload: books/Big.pdf added to the library" in log
    for secret in (R2_SECRET, "X-Amz-Signature", "X-Amz-Credential", "authjs.session-token"):
        assert secret not in log


def test_uploaded_object_time_matches_the_library_file(
    signed_in: httpx.Client, s3: Any, bucket: str, library: Path
) -> None:
    assert upload(signed_in, "Timed.pdf", pdf_bytes(10)).status_code == 200
    raw = s3.head_object(Bucket=bucket, Key="books/Timed.pdf")["ResponseMetadata"]["HTTPHeaders"]["last-modified"]
    assert (library / "Timed.pdf").stat().st_mtime == parsedate_to_datetime(raw).timestamp()


def test_each_book_added_leaves_a_mark_for_the_sync(
    start: Callable[..., Companion], alex_web: AlexWeb, tmp_path: Path
) -> None:
    marks = tmp_path / "uploaded"
    marks.mkdir()
    companion = start(HOSTED_UPLOADS_DIR=str(marks))
    with httpx.Client(base_url=companion.url, headers={"Cookie": alex_web.cookie_header()}) as client:
        assert upload(client, "Café (2).pdf", pdf_bytes(100)).status_code == 200
        assert upload(client, "Book.epub", epub_bytes(), EPUB).status_code == 200
        assert upload(client, "Refused.pdf", b"not a pdf").status_code == 415
    assert all(path.suffix == ".key" for path in marks.iterdir())  # no temp name left
    assert sorted(path.read_text() for path in marks.iterdir()) == ["Book.epub\n", "Café (2).pdf\n"]


def test_an_unwritable_mark_folder_does_not_fail_the_upload(
    start: Callable[..., Companion], alex_web: AlexWeb, tmp_path: Path, library: Path
) -> None:
    companion = start(HOSTED_UPLOADS_DIR=str(tmp_path / "missing"))
    with httpx.Client(base_url=companion.url, headers={"Cookie": alex_web.cookie_header()}) as client:
        answer = upload(client, "Book.pdf", pdf_bytes(100))
    assert answer.status_code == 200
    assert answer.json()["ingested"] is True
    assert (library / "Book.pdf").exists()
    assert "upload: books/Book.pdf not marked for the sync (ENOENT)" in companion.output()
