"""Every request the companion signs, and every URL it presigns, passes an independent SigV4 check."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.companion.harness import R2_SECRET, Companion, epub_bytes, pdf_bytes, upload
from tests.support.alex_web import AlexWeb
from tests.support.sigv4_proxy import SigV4CheckingProxy, check

MiB = 1024 * 1024


def test_checker_catches_a_wrong_secret(moto_endpoint: str) -> None:
    """The check itself must be able to fail: a URL signed with another secret is refused."""
    import boto3

    client = boto3.client(
        "s3", endpoint_url=moto_endpoint, aws_access_key_id="k", aws_secret_access_key="other", region_name="auto"
    )
    url = client.generate_presigned_url("put_object", Params={"Bucket": "b", "Key": "books/A b+c.pdf"}, ExpiresIn=60)
    target = url.split(moto_endpoint, 1)[1]
    host = {"host": moto_endpoint.split("//", 1)[1]}
    assert check("PUT", target, host, b"", "other") is None  # botocore's own URL passes with its secret
    assert check("PUT", target, host, b"", R2_SECRET) == "presigned URL signature mismatch"


@pytest.mark.parametrize("name", ["Plain.pdf", "A b+c (1) é & 50%!'*.pdf", "日本語.pdf", "semi;colon=eq,comma@at$.pdf"])
def test_signed_requests_and_presigned_urls_pass_an_independent_check(
    start: Callable[..., Companion], r2: SigV4CheckingProxy, alex_web: AlexWeb, library: Path, name: str
) -> None:
    companion = start(UPLOAD_PART_BYTES=str(5 * MiB), STORAGE_QUOTA_BYTES=str(10**9))
    with httpx.Client(base_url=companion.url, headers={"Cookie": alex_web.cookie_header()}, timeout=60) as client:
        small = upload(client, name, pdf_bytes(1000))
        big = upload(client, name.replace(".pdf", " big.pdf"), pdf_bytes(6 * MiB))
        epub = upload(client, "Book.epub", epub_bytes(), "application/epub+zip")
        bad = upload(client, "Bad.pdf", b"not a pdf")
    assert r2.failures == []
    assert r2.checked > 10
    assert [small.status_code, big.status_code, epub.status_code, bad.status_code] == [200, 200, 200, 415]
    assert (library / name).exists()
