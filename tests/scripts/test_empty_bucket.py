"""The bucket emptier's delete step: empties only a tenant the last `up` saw purging."""

from __future__ import annotations

import pytest

from scripts import empty_bucket

TENANT = "acme000001"
BUCKET = f"alex-{TENANT}"


@pytest.fixture
def bucket(s3, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(empty_bucket, "PAGE_SIZE", 10)  # several list pages and delete batches, quickly
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "auto"})  # R2 region
    for i in range(25):
        s3.put_object(Bucket=BUCKET, Key=f"books/{i:04d}.epub", Body=b"x")
    s3.put_object(Bucket=BUCKET, Key="db/library-20260101T000000Z.db", Body=b"sqlite")
    s3.create_multipart_upload(Bucket=BUCKET, Key="books/big.pdf")
    return s3


def environ(moto_endpoint: str, confirmed: str) -> dict[str, str]:
    return {
        "ALEX_TENANT": TENANT,
        "ALEX_PURGE_CONFIRMED": confirmed,
        "R2_ENDPOINT": moto_endpoint,
        "R2_BUCKET": BUCKET,
        "R2_ACCESS_KEY_ID": "tenant-key-id",
        "R2_SECRET_ACCESS_KEY": "tenant-secret-never-printed",
    }


def count(s3) -> int:
    return sum(page.get("KeyCount", 0) for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET))


@pytest.mark.parametrize("confirmed", ["", "someoneelse"])
def test_empty_bucket_refuses_a_tenant_not_marked_purging(bucket, moto_endpoint, capsys, confirmed: str) -> None:
    assert empty_bucket.main([], environ(moto_endpoint, confirmed)) == 1
    assert count(bucket) == 26
    err = capsys.readouterr().err
    assert f"refusing to empty bucket {BUCKET}: tenant {TENANT} was not 'purging'" in err
    assert "restore it" in err


def test_empty_bucket_empties_every_object_and_unfinished_upload(bucket, moto_endpoint, capsys) -> None:
    assert empty_bucket.main([], environ(moto_endpoint, TENANT)) == 0
    assert count(bucket) == 0
    assert bucket.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    bucket.delete_bucket(Bucket=BUCKET)  # what Cloudflare then allows
    err = capsys.readouterr().err
    assert "deleted 26 object(s), aborted 1 unfinished upload(s)" in err
    assert "tenant-secret-never-printed" not in err


def test_empty_bucket_treats_a_missing_bucket_as_done(s3, moto_endpoint, capsys) -> None:
    assert empty_bucket.main([], environ(moto_endpoint, TENANT)) == 0
    assert f"bucket {BUCKET} is already gone" in capsys.readouterr().err


def test_empty_bucket_refuses_when_settings_are_missing(capsys) -> None:
    assert empty_bucket.main([], {"ALEX_TENANT": TENANT}) == 1
    assert (
        "missing environment R2_ENDPOINT, R2_BUCKET, R2_ACCESS_KEY_ID, R2_SECRET_ACCESS_KEY" in capsys.readouterr().err
    )


def test_empty_bucket_reports_storage_errors_with_exit_2(closed_port: int, capsys) -> None:
    env = environ(f"http://127.0.0.1:{closed_port}", TENANT) | {"R2_MAX_ATTEMPTS": "1"}
    assert empty_bucket.main([], env) == 2
    err = capsys.readouterr().err
    assert f"storage error on bucket {BUCKET}" in err and "tenant-secret-never-printed" not in err


@pytest.mark.parametrize("attempts", ["many", "1.5"])
def test_empty_bucket_refuses_a_malformed_attempt_count_naming_it(bucket, moto_endpoint, capsys, attempts) -> None:
    """R2_MAX_ATTEMPTS comes from the operator's shell too; a typo must read as a refusal, not a traceback."""
    env = environ(moto_endpoint, TENANT) | {"R2_MAX_ATTEMPTS": attempts}
    assert empty_bucket.main([], env) == 1
    assert count(bucket) == 26
    assert f"refusing: R2_MAX_ATTEMPTS must be a whole number, got {attempts!r}" in capsys.readouterr().err
