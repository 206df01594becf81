"""A reader adds books in a real browser: Debian's Chromium signs in to the stand-in Alex through the
companion, uploads through the page straight to moto's S3 server with CORS enforced, behind the
SigV4-checking proxy (so the browser's PUTs must carry exactly the signed length and type), and the books
land in the library folder. The bucket's CORS rule is the Tenant component's own
(components.storage.cors_rules), with the companion's origin in place of `https://<username>.<domain>`.
Screenshots are printed.
"""

from __future__ import annotations

import io
import re
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Page, expect

from components.storage import cors_rules, https_origins
from tests.companion.harness import R2_SECRET, Companion, CompanionEnv, start_companion
from tests.support.alex_web import EMAIL, PASSWORD, AlexWeb
from tests.support.browser import chromium, page, screenshot  # noqa: F401 - fixtures
from tests.support.s3_cors import cors_enforcing_s3, put_cors, s3_client
from tests.support.sigv4_proxy import SigV4CheckingProxy

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MiB = 1024 * 1024
PART_BYTES = 5 * MiB  # the smallest part S3 and R2 take: the PDF below goes up in two parts
UPLOAD_TIMEOUT_MS = 60_000


def epub_bytes(title: str) -> bytes:
    """A minimal EPUB: a ZIP whose first entry is the stored `mimetype` (what the companion checks)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as book:
        book.writestr(zipfile.ZipInfo("mimetype"), "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        book.writestr("OEBPS/content.xhtml", f"<html><body><h1>{title}</h1></body></html>")
    return buffer.getvalue()


def pdf_bytes(size: int) -> bytes:
    head = b"%PDF-1.4\n% a book large enough for a multipart upload\n"
    return head + b"%" * (size - len(head) - 6) + b"\n%%EOF"


@pytest.fixture(scope="module")
def strict_s3() -> Iterator[str]:
    with cors_enforcing_s3() as endpoint:
        yield endpoint


@pytest.fixture
def strict_client(strict_s3: str) -> S3Client:
    return s3_client(strict_s3)


@pytest.fixture
def strict_bucket(strict_client: S3Client) -> str:
    name = f"alex-{uuid.uuid4().hex[:12]}"
    strict_client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def strict_r2(strict_s3: str) -> Iterator[SigV4CheckingProxy]:
    with SigV4CheckingProxy(strict_s3, R2_SECRET) as proxy:
        yield proxy


@pytest.fixture
def browser_companion(
    alex_web: AlexWeb, strict_r2: SigV4CheckingProxy, strict_bucket: str, library: Path, tmp_path: Path
) -> Iterator[Companion]:
    env = CompanionEnv(
        alex_web.url,
        strict_r2.url,
        strict_bucket,
        library,
        {"UPLOAD_PART_BYTES": str(PART_BYTES), "STORAGE_QUOTA_BYTES": str(64 * MiB)},
    )
    companion = start_companion(env, tmp_path / "companion.log")
    yield companion
    companion.stop()
    print(f"companion log:\n{companion.output()}")


def sign_in(tab: Page, companion: Companion) -> None:
    """As a reader does: open the upload page, get sent to Alex's sign-in, come back signed in (Alex's
    login page itself always goes to /library: the companion brings the reader back)."""
    tab.goto(f"{companion.url}/_hosted/")
    expect(tab).to_have_url(re.compile(re.escape(companion.url) + r"/login\?callbackUrl=(/|%2F)_hosted(/|%2F)$"))
    screenshot(tab, "sign-in")
    tab.fill("#email", EMAIL)
    tab.fill("#password", PASSWORD)
    tab.click("#login-submit")
    expect(tab).to_have_url(f"{companion.url}/_hosted/")
    expect(tab.get_by_role("heading", name="Add books")).to_be_visible()
    # The page's script runs after the HTML shows (defer): choosing files before it has its handlers
    # would be a test racing the page, not a reader using it.
    expect(tab.locator("html")).to_have_attribute("data-ready", "true")


def test_reader_uploads_two_books_in_a_browser_and_they_land_in_the_library(
    page: Page,  # noqa: F811
    browser_companion: Companion,
    strict_r2: SigV4CheckingProxy,
    strict_client: S3Client,
    strict_bucket: str,
    library: Path,
    tmp_path: Path,
) -> None:
    # The Tenant's own rule, for the companion's origin as the tenant's hostname origin.
    put_cors(strict_client, strict_bucket, cors_rules([browser_companion.url]))
    books = {"Moby Dick.epub": epub_bytes("Moby Dick"), "Big Atlas.pdf": pdf_bytes(PART_BYTES + MiB)}
    files = tmp_path / "to-upload"
    files.mkdir()
    for name, content in books.items():
        (files / name).write_bytes(content)

    sign_in(page, browser_companion)
    screenshot(page, "upload page")
    page.set_input_files("#file-input", [str(files / name) for name in books])
    for name in books:
        expect(page.locator(f'#file-list li[data-name="{name}"]')).to_have_attribute(
            "data-state", "done", timeout=UPLOAD_TIMEOUT_MS
        )
    screenshot(page, "both uploaded")

    for name, content in books.items():
        assert (library / name).read_bytes() == content, name
        stored = strict_client.get_object(Bucket=strict_bucket, Key=f"books/{name}")
        assert stored["Body"].read() == content, name
        assert stored["Metadata"] == {"hosted-upload": "checked"}
    assert not [p.name for p in library.iterdir() if p.name.startswith(".")]  # no temp file left behind
    # Every PUT carried the signed length (and type): the proxy refused nothing, and staging/ is empty.
    assert strict_r2.failures == []
    assert strict_client.list_objects_v2(Bucket=strict_bucket, Prefix="staging/").get("KeyCount", 0) == 0

    page.click("#back-to-library")
    expect(page.locator("li.book")).to_have_count(2)
    screenshot(page, "library")


def test_reader_goes_from_the_library_to_the_upload_page_and_back_by_links(
    page: Page,  # noqa: F811
    browser_companion: Companion,
) -> None:
    """The address the welcome email gives, then only clicks: sign in, "Add books", back to the library."""
    url = browser_companion.url
    page.goto(f"{url}/")
    expect(page).to_have_url(f"{url}/login")
    page.fill("#email", EMAIL)
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    expect(page).to_have_url(f"{url}/library")
    add_books = page.get_by_role("link", name="Add books")
    expect(add_books).to_be_visible()
    screenshot(page, "library with add books")

    add_books.click()
    expect(page).to_have_url(f"{url}/_hosted/")
    expect(page.get_by_role("heading", name="Add books")).to_be_visible()

    page.click("#back-to-library")
    expect(page).to_have_url(f"{url}/library")
    expect(add_books).to_be_visible()


def test_upload_from_an_origin_the_bucket_cors_rule_does_not_name_fails_in_the_page(
    page: Page,  # noqa: F811
    browser_companion: Companion,
    strict_client: S3Client,
    strict_bucket: str,
    library: Path,
    tmp_path: Path,
) -> None:
    """The production rule names only https://<username>.<domain>: the browser refuses the PUT."""
    put_cors(strict_client, strict_bucket, cors_rules(https_origins(["alice.books.example.com"])))
    book = tmp_path / "Refused.epub"
    book.write_bytes(epub_bytes("Refused"))

    sign_in(page, browser_companion)
    said: list[str] = []
    page.on("console", lambda message: said.append(message.text))
    page.set_input_files("#file-input", str(book))
    item = page.locator('#file-list li[data-name="Refused.epub"]')
    expect(item).to_have_attribute("data-state", "error", timeout=UPLOAD_TIMEOUT_MS)
    expect(item.locator(".upload-status")).to_contain_text("interrupted")
    screenshot(page, "refused by cors")
    assert any("blocked by CORS policy" in text for text in said), said  # the browser's reason, not the page's

    assert not (library / "Refused.epub").exists()
    listed = strict_client.list_objects_v2(Bucket=strict_bucket)
    assert listed.get("KeyCount", 0) == 0
