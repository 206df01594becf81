"""An upload URL only ever writes what the companion checked.

A signed-in reader holds presigned URLs for a few minutes and can use them however they like: PUT again
after `complete`, PUT more or fewer bytes, another type, to another key, after the expiry, or never
complete. Every attack here is real HTTP against moto behind the SigV4-checking proxy, which refuses
what R2 refuses. What must hold: books/ and the library only ever get bytes the companion checked, a URL
writes exactly the bytes it was signed for, whatever it wrote in staging/ is gone once it can no longer
write, and the bytes it may still write count against the quota until then.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.companion.harness import (
    EPUB,
    PDF,
    Companion,
    complete,
    epub_bytes,
    part_urls,
    pdf_bytes,
    plan,
    send,
    upload,
)
from tests.support.alex_web import AlexWeb
from tests.support.node_clock import FakeClock
from tests.support.sigv4_proxy import SigV4CheckingProxy

MiB = 1024 * 1024
TTL = 300  # the companion's default PRESIGN_TTL_SECONDS


def keys(s3: Any, bucket: str, prefix: str = "") -> list[str]:
    return sorted(obj["Key"] for obj in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []))


def uploads(s3: Any, bucket: str) -> list[str]:
    return sorted(u["Key"] for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []))


@pytest.fixture
def reader(start: Callable[..., Companion], alex_web: AlexWeb) -> Iterator[tuple[Companion, httpx.Client]]:
    """A companion on the test's clock (5 MiB parts, 20 MiB quota) and a signed-in client of it."""
    companion = start(clock_driven=True, UPLOAD_PART_BYTES=str(5 * MiB), STORAGE_QUOTA_BYTES=str(20 * MiB))
    with httpx.Client(base_url=companion.url, headers={"Cookie": alex_web.cookie_header()}, timeout=60) as client:
        yield companion, client


def signed_headers(url: str) -> list[str]:
    return parse_qs(urlsplit(url).query)["X-Amz-SignedHeaders"][0].split(";")


# --- what a URL can write -------------------------------------------------------------------------


def test_urls_point_at_staging_and_sign_the_length_and_type(reader: tuple[Companion, httpx.Client]) -> None:
    _, client = reader
    single = plan(client, "Small.pdf", 1000).json()
    multi = plan(client, "Big.pdf", 11 * MiB).json()
    assert urlsplit(single["url"]).path.split("/", 2)[2].startswith("staging/")
    assert signed_headers(single["url"]) == ["content-length", "content-type", "host"]
    assert parse_qs(urlsplit(single["url"]).query)["X-Amz-Expires"] == [str(TTL)]
    assert [signed_headers(part["url"]) for part in multi["parts"]] == [["content-length", "host"]] * 3
    assert multi["key"].startswith("staging/") and multi["partCount"] == 3


@pytest.mark.parametrize("sent", [999, 1001, 12 * MiB], ids=["fewer", "one-more", "12MB"])
def test_a_put_of_other_bytes_than_planned_is_refused_by_the_signature(
    reader: tuple[Companion, httpx.Client], r2: SigV4CheckingProxy, s3: Any, bucket: str, sent: int
) -> None:
    _, client = reader
    planned = plan(client, "Book.pdf", 1000).json()
    put = httpx.put(planned["url"], content=pdf_bytes(sent), headers={"Content-Type": PDF})
    assert put.status_code == 403
    assert "SignatureDoesNotMatch" in put.text
    assert keys(s3, bucket) == []
    assert complete(client, planned).json() == {"error": '"Book.pdf" has not finished uploading. Please add it again.'}


@pytest.mark.parametrize("sent", [5 * MiB - 1, 5 * MiB + 1, 12 * MiB], ids=["short", "one-more", "12MB"])
def test_a_part_of_another_size_than_planned_is_refused_by_the_signature(
    reader: tuple[Companion, httpx.Client], s3: Any, bucket: str, sent: int
) -> None:
    """Today's attack: a part of any size, never completed, held nothing against the quota."""
    _, client = reader
    planned = plan(client, "Big.pdf", 11 * MiB).json()
    put = httpx.put(planned["parts"][0]["url"], content=b"x" * sent)
    assert put.status_code == 403
    (upload_,) = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert s3.list_parts(Bucket=bucket, Key=upload_["Key"], UploadId=upload_["UploadId"]).get("Parts", []) == []


def test_a_put_with_another_content_type_is_refused(
    reader: tuple[Companion, httpx.Client], s3: Any, bucket: str
) -> None:
    _, client = reader
    planned = plan(client, "Book.pdf", 1000).json()
    for headers in ({"Content-Type": "text/html"}, {}):
        assert httpx.put(planned["url"], content=pdf_bytes(1000), headers=headers).status_code == 403
    assert keys(s3, bucket) == []


def test_a_url_cannot_be_pointed_at_books_or_another_key(
    reader: tuple[Companion, httpx.Client], s3: Any, bucket: str
) -> None:
    _, client = reader
    planned = plan(client, "Book.pdf", 1000).json()
    staging_key = planned["key"]
    for other in ("books/Book.pdf", "books/Other.pdf", f"{staging_key}x", "db/library-20990101T000000Z.db"):
        url = planned["url"].replace(f"/{staging_key}?", f"/{other}?")
        assert url != planned["url"]
        assert httpx.put(url, content=pdf_bytes(1000), headers={"Content-Type": PDF}).status_code == 403
    assert keys(s3, bucket) == []


def test_a_url_stops_writing_when_it_expires(
    reader: tuple[Companion, httpx.Client], clock: FakeClock, s3: Any, bucket: str
) -> None:
    _, client = reader
    planned = plan(client, "Book.pdf", 1000).json()
    clock.advance(TTL + 1)
    put = httpx.put(planned["url"], content=pdf_bytes(1000), headers={"Content-Type": PDF})
    assert put.status_code == 403
    assert "AccessDenied" in put.text
    assert keys(s3, bucket) == []


# --- after complete -----------------------------------------------------------------------------


def test_a_put_again_after_complete_never_reaches_books_or_the_library_and_is_deleted(
    reader: tuple[Companion, httpx.Client], clock: FakeClock, s3: Any, bucket: str, library: Path
) -> None:
    """Today's attack: a verified book replaced in books/ by non-PDF bytes, pulled by the next sync."""
    companion, client = reader
    book = pdf_bytes(1000)
    planned = plan(client, "Book.pdf", len(book)).json()
    send(client, planned, book)
    assert complete(client, planned).status_code == 200
    assert keys(s3, bucket) == ["books/Book.pdf"]

    junk = b"<html>not a book at all</html>".ljust(1000, b"!")  # the signed length, other bytes
    assert httpx.put(planned["url"], content=junk, headers={"Content-Type": PDF}).status_code == 200
    assert s3.get_object(Bucket=bucket, Key="books/Book.pdf")["Body"].read() == book
    assert (library / "Book.pdf").read_bytes() == book
    assert keys(s3, bucket) == sorted(["books/Book.pdf", planned["key"]]), "the junk waits in staging/"
    assert complete(client, planned).status_code == 404, "an upload completes once"

    clock.advance(2 * TTL)  # no URL of this upload can write any more: what it wrote goes
    companion.wait_for_output(f"upload: {planned['key']} (Book.pdf) closed: its URLs expired, staging cleaned")
    assert keys(s3, bucket) == ["books/Book.pdf"]


def test_the_checked_mark_comes_from_the_companion_never_from_the_uploader(
    reader: tuple[Companion, httpx.Client], s3: Any, bucket: str
) -> None:
    _, client = reader
    book = epub_bytes()
    planned = plan(client, "Novel.epub", len(book), EPUB).json()
    headers = {"Content-Type": EPUB, "x-amz-meta-hosted-upload": "forged", "x-amz-meta-other": "x"}
    assert httpx.put(planned["url"], content=book, headers=headers).status_code == 200
    assert complete(client, planned).status_code == 200
    head = s3.head_object(Bucket=bucket, Key="books/Novel.epub")
    assert (head["Metadata"], head["ContentType"]) == ({"hosted-upload": "checked"}, EPUB)


# --- never completed ----------------------------------------------------------------------------


def test_a_single_put_nobody_completes_is_deleted_when_its_url_is_dead(
    reader: tuple[Companion, httpx.Client], clock: FakeClock, s3: Any, bucket: str
) -> None:
    companion, client = reader
    planned = plan(client, "Book.pdf", 1000).json()
    send(client, planned, pdf_bytes(1000))
    clock.advance(TTL)
    assert keys(s3, bucket) == [planned["key"]], "a PUT started just before the expiry may still be running"
    clock.advance(TTL)
    companion.wait_for_output(f"upload: {planned['key']} (Book.pdf) abandoned: its URLs expired, staging cleaned")
    assert keys(s3, bucket) == []
    assert complete(client, planned).status_code == 404


def test_a_multipart_upload_nobody_completes_is_aborted_when_its_urls_are_dead(
    reader: tuple[Companion, httpx.Client], clock: FakeClock, s3: Any, bucket: str
) -> None:
    companion, client = reader
    planned = plan(client, "Big.pdf", 11 * MiB).json()
    assert httpx.put(planned["parts"][0]["url"], content=b"%PDF-" + b"x" * (5 * MiB - 5)).status_code == 200
    clock.advance(2 * TTL)
    companion.wait_for_output(f"upload: {planned['key']} (Big.pdf) abandoned: its URLs expired, staging cleaned")
    assert uploads(s3, bucket) == []
    assert keys(s3, bucket) == []


def test_asking_for_part_urls_keeps_a_long_upload_alive(
    reader: tuple[Companion, httpx.Client], clock: FakeClock, s3: Any, bucket: str, library: Path
) -> None:
    _, client = reader
    data = pdf_bytes(11 * MiB)
    planned = plan(client, "Big.pdf", len(data)).json()
    size = planned["partSize"]
    for n in (1, 2, 3):
        clock.advance(TTL)  # a slow part each time: the page asks for the next URL just before sending
        fresh = client.post(
            "/_hosted/api/uploads/parts",
            json={"key": planned["key"], "uploadId": planned["uploadId"], "partNumbers": [n]},
        )
        assert fresh.status_code == 200, fresh.text
        assert httpx.put(fresh.json()["parts"][0]["url"], content=data[(n - 1) * size : n * size]).status_code == 200
    assert complete(client, planned).status_code == 200
    assert (library / "Big.pdf").read_bytes() == data


def test_staging_leftovers_from_before_a_restart_are_swept_at_start(
    start: Callable[..., Companion], clock: FakeClock, s3: Any, bucket: str
) -> None:
    """A restart forgets what it issued; the final time in each staging key says when it may go."""
    now = int(clock.now())
    expired, live = f"staging/{now - 1}-0123456789abcdef", f"staging/{now + 2 * TTL}-fedcba9876543210"
    for key in (expired, live, "staging/not-ours"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"left behind")
    created = s3.create_multipart_upload(Bucket=bucket, Key=f"staging/{now + 2 * TTL}-00000000000000aa")
    s3.upload_part(Bucket=bucket, Key=created["Key"], UploadId=created["UploadId"], PartNumber=1, Body=b"p" * 100)
    legacy = s3.create_multipart_upload(Bucket=bucket, Key="books/Legacy.pdf")  # not ours to abort

    companion = start(clock_driven=True)
    companion.wait_for_output("sweep: removed 3 staging object(s) or upload(s) nobody completed")
    assert keys(s3, bucket) == [live], "a URL may still write this one"
    assert uploads(s3, bucket) == ["books/Legacy.pdf"]
    clock.advance(2 * TTL + 1)  # the sweep runs again every TTL
    companion.wait_for_output("sweep: removed 1 staging object(s)")
    assert keys(s3, bucket) == []
    s3.abort_multipart_upload(Bucket=bucket, Key="books/Legacy.pdf", UploadId=legacy["UploadId"])


# --- the quota counts what may still be written ---------------------------------------------------


def test_parts_of_pending_multipart_uploads_count_against_the_quota(
    start: Callable[..., Companion], alex_web: AlexWeb, s3: Any, bucket: str
) -> None:
    """Parts stored by an upload this companion does not know (an old URL, another writer) are billed."""
    pending = s3.create_multipart_upload(Bucket=bucket, Key="books/Pending.pdf")
    s3.upload_part(Bucket=bucket, Key="books/Pending.pdf", UploadId=pending["UploadId"], PartNumber=1, Body=b"p" * 600)
    companion = start(STORAGE_QUOTA_BYTES="1000")
    with httpx.Client(base_url=companion.url, headers={"Cookie": alex_web.cookie_header()}) as client:
        assert plan(client, "Fits.pdf", 400).status_code == 200
        refused = plan(client, "One More.pdf", 1)
    assert refused.status_code == 507
    assert "1.0 KB is in use" in refused.json()["error"]
    s3.abort_multipart_upload(Bucket=bucket, Key="books/Pending.pdf", UploadId=pending["UploadId"])


def test_a_finished_single_put_holds_its_room_until_its_url_is_dead(
    reader: tuple[Companion, httpx.Client], clock: FakeClock
) -> None:
    """After complete the URL can still PUT its bytes again: the quota counts them until it cannot."""
    _, client = reader
    assert upload(client, "First.pdf", pdf_bytes(4 * MiB)).status_code == 200  # 4 MiB in books/, 4 still writable
    assert plan(client, "Second.pdf", 13 * MiB).status_code == 507  # 4 + 4 + 13 > 20 MiB
    clock.advance(2 * TTL)
    assert plan(client, "Second.pdf", 13 * MiB).status_code == 200


def test_a_finished_multipart_upload_frees_its_room_at_once(reader: tuple[Companion, httpx.Client]) -> None:
    """A completed multipart upload takes no more parts: only its object counts."""
    _, client = reader
    assert upload(client, "First.pdf", pdf_bytes(6 * MiB)).status_code == 200
    assert plan(client, "Second.pdf", 14 * MiB).status_code == 200  # 6 + 14 = 20 MiB


def test_an_aborted_single_put_holds_its_room_until_its_url_is_dead(
    reader: tuple[Companion, httpx.Client], clock: FakeClock, s3: Any, bucket: str
) -> None:
    companion, client = reader
    first = plan(client, "First.pdf", 4 * MiB).json()
    assert client.post("/_hosted/api/uploads/abort", json={"key": first["key"]}).status_code == 200
    # The URL still works until it expires: the reader writes its 4 MiB after the abort.
    assert httpx.put(first["url"], content=pdf_bytes(4 * MiB), headers={"Content-Type": PDF}).status_code == 200
    assert plan(client, "Second.pdf", 17 * MiB).status_code == 507  # 4 + 17 > 20 MiB
    clock.advance(2 * TTL)
    companion.wait_for_output(f"upload: {first['key']} (First.pdf) closed: its URLs expired, staging cleaned")
    assert keys(s3, bucket) == []
    assert plan(client, "Second.pdf", 17 * MiB).status_code == 200


def test_uploads_put_in_staging_count_once_against_the_quota(
    start: Callable[..., Companion], alex_web: AlexWeb
) -> None:
    companion = start(STORAGE_QUOTA_BYTES="1000")
    with httpx.Client(base_url=companion.url, headers={"Cookie": alex_web.cookie_header()}) as client:
        first = plan(client, "First.pdf", 600).json()
        send(client, first, pdf_bytes(600))  # stored in staging/ and reserved: 600, not 1200
        assert plan(client, "Second.pdf", 400).status_code == 200
        assert plan(client, "Third.pdf", 1).status_code == 507


def test_too_many_uploads_at_once_are_refused(reader: tuple[Companion, httpx.Client]) -> None:
    _, client = reader
    for n in range(8):
        assert plan(client, f"Book {n}.pdf", 10).status_code == 200
    refused = plan(client, "One too many.pdf", 10)
    assert refused.status_code == 429
    assert refused.json() == {
        "error": "Too many books are being added at once. Wait for the others to finish, then try again."
    }


def test_the_parts_route_hands_out_few_urls_at_a_time(reader: tuple[Companion, httpx.Client]) -> None:
    _, client = reader
    planned = plan(client, "Big.pdf", 20 * MiB - 1).json()
    assert [part["partNumber"] for part in planned["parts"]] == [1, 2, 3]
    assert len(part_urls(client, planned)) == planned["partCount"] == 4


def test_the_staging_prefix_is_the_one_the_entrypoint_gives(
    start: Callable[..., Companion], alex_web: AlexWeb, s3: Any, bucket: str, library: Path
) -> None:
    companion = start(UPLOAD_STAGING_PREFIX="uploads-in-flight/")
    with httpx.Client(base_url=companion.url, headers={"Cookie": alex_web.cookie_header()}) as client:
        planned = plan(client, "Book.pdf", 100).json()
        assert planned["key"].startswith("uploads-in-flight/")
        send(client, planned, pdf_bytes(100))
        assert keys(s3, bucket) == [planned["key"]]
        assert complete(client, planned).status_code == 200
    assert keys(s3, bucket) == ["books/Book.pdf"]
