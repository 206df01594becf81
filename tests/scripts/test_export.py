"""scripts.export against moto's S3 server: the zip, the presigned link, refusals and failures."""

from __future__ import annotations

import io
import json
import os
import zipfile
from datetime import date

import httpx
import moto.settings
import pytest

from scripts.export import main
from tenants.roster import RosterEntry

from .conftest import R2_SECRET, STACK

BUCKET = "alex-exporter01"
ACTIVE = RosterEntry("exporter01", "reader-one", "one@example.com", "reader", "active", created_at=date(2026, 9, 1))
CANCELLED = ACTIVE.with_changes(state="cancelled", cancelled_at=date(2026, 11, 1), purge_after=date(2026, 12, 1))
STATES = {
    "active": ACTIVE,
    "suspended": ACTIVE.with_changes(state="suspended"),
    "cancelled": CANCELLED,
}
BIG_BOOK = os.urandom(3 * 1024 * 1024 + 17)  # more than one streamed chunk
OBJECTS = {
    "books/Austen/Emma.epub": b"emma-epub-bytes",
    "books/Big Book.pdf": BIG_BOOK,
    "db/library-20261101T000000Z.db": b"old snapshot",
    "db/library-20261119T030000Z.db": b"newest snapshot",
    "exports/exporter01-20261001T000000Z.zip": b"an older export",
    "other/ignored.txt": b"not part of an export",
}


def put_all(s3, objects: dict[str, bytes]) -> None:
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "auto"})  # R2 region
    for key, body in objects.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)


def args(roster, *extra: str) -> list[str]:
    return ["--stack", STACK, "--roster", str(roster), "--tenant", ACTIVE.id, "--now", "2026-11-20T12:00:00Z", *extra]


def download(url: str) -> zipfile.ZipFile:
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200, response.text
    return zipfile.ZipFile(io.BytesIO(response.content))


@pytest.mark.parametrize("state", sorted(STATES))
def test_export_link_downloads_zip_with_books_and_latest_database(s3, make_roster, run_cli, state):
    put_all(s3, OBJECTS)
    roster = make_roster([STATES[state]])

    result = run_cli(main, args(roster))

    assert result.code == 0, result
    url = result.out.strip().splitlines()[-1]
    assert url.startswith(os.environ["R2_ENDPOINT"]) and "X-Amz-Signature=" in url
    archive = download(url)
    assert sorted(archive.namelist()) == [
        "books/Austen/Emma.epub",
        "books/Big Book.pdf",
        "db/library-20261119T030000Z.db",
    ]
    assert archive.read("books/Big Book.pdf") == BIG_BOOK
    assert archive.read("db/library-20261119T030000Z.db") == b"newest snapshot"
    stored = s3.list_objects_v2(Bucket=BUCKET, Prefix="exports/")["Contents"]
    assert "exports/exporter01-20261120T120000Z.zip" in [item["Key"] for item in stored]
    assert "2 book(s)" in result.out and "db/library-20261119T030000Z.db" in result.out
    assert R2_SECRET not in result.out + result.err


def test_export_link_expires_when_asked(s3, make_roster, run_cli):
    put_all(s3, OBJECTS)

    result = run_cli(main, args(make_roster([ACTIVE]), "--expires", "600", "--json"))

    assert result.code == 0, result
    export = json.loads(result.out)["data"]["export"]
    assert "X-Amz-Expires=600" in export["url"]
    assert export["expires_at"].startswith("2026-11-20T12:10:00")
    assert export["books"] == 2 and export["database"] == "db/library-20261119T030000Z.db"


def test_export_without_database_backup_exports_books_and_exits_1(s3, make_roster, run_cli):
    put_all(s3, {"books/a.epub": b"a"})

    result = run_cli(main, args(make_roster([ACTIVE])))

    assert result.code == 1, result
    assert "MISSING" in result.out
    assert download(result.out.strip().splitlines()[-1]).namelist() == ["books/a.epub"]


def test_export_empty_bucket_exits_1_and_stores_nothing(s3, make_roster, run_cli):
    put_all(s3, {})

    result = run_cli(main, args(make_roster([ACTIVE])))

    assert result.code == 1, result
    assert "nothing to export" in result.out
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0


@pytest.mark.parametrize(
    ("tenant", "message"),
    [
        (CANCELLED.with_changes(state="purging", purge_marked_at=date(2026, 12, 2)), "is purging"),
        (CANCELLED.with_changes(purge_after=date(2026, 11, 15)), "grace window ended on 2026-11-15"),
    ],
    ids=["purging", "grace-window-over"],
)
def test_export_refuses_tenants_whose_data_is_going(s3, make_roster, run_cli, tenant, message):
    put_all(s3, OBJECTS)

    result = run_cli(main, args(make_roster([tenant])))

    assert result.code == 2, result
    assert message in result.error and ACTIVE.id in result.error
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix="exports/")["KeyCount"] == 1  # only the old one


def test_export_unknown_tenant_exits_2(s3, make_roster, run_cli):
    result = run_cli(main, [*args(make_roster([ACTIVE]))[:-4], "--tenant", "nosuchone1"])

    assert result.code == 2, result
    assert "'nosuchone1' is not in the roster" in result.error


def test_export_missing_bucket_exits_2_naming_it(s3, make_roster, run_cli):
    result = run_cli(main, args(make_roster([ACTIVE])))

    assert result.code == 2, result
    assert f"bucket {BUCKET} does not exist" in result.error


def test_export_unreachable_endpoint_exits_2(s3, make_roster, run_cli, monkeypatch, closed_port):
    monkeypatch.setenv("R2_ENDPOINT", f"http://127.0.0.1:{closed_port}")

    result = run_cli(main, args(make_roster([ACTIVE]), "--timeout", "2"))

    assert result.code == 2, result
    assert f"R2 endpoint http://127.0.0.1:{closed_port} is unreachable" in result.error


def test_export_bad_credentials_exit_2_without_the_secret(s3, make_roster, run_cli, monkeypatch):
    put_all(s3, OBJECTS)
    monkeypatch.setattr(moto.settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)  # moto now checks keys: ours is unknown

    result = run_cli(main, args(make_roster([ACTIVE])))

    assert result.code == 2, result
    assert "R2 rejected the key in R2_ACCESS_KEY_ID / R2_SECRET_ACCESS_KEY" in result.error
    assert R2_SECRET not in result.out + result.err


@pytest.mark.parametrize("missing", ["R2_ACCESS_KEY_ID", "R2_SECRET_ACCESS_KEY"])
def test_export_missing_credentials_exit_2(s3, make_roster, run_cli, monkeypatch, missing):
    monkeypatch.delenv(missing)

    result = run_cli(main, args(make_roster([ACTIVE])))

    assert result.code == 2, result
    assert f"{missing} is not set" in result.error


@pytest.mark.parametrize("expires", ["0", "604801"])
def test_export_rejects_link_lifetime_out_of_range(s3, make_roster, run_cli, expires):
    result = run_cli(main, args(make_roster([ACTIVE]), "--expires", expires))

    assert result.code == 2, result
    assert "--expires" in result.error


def test_export_takes_the_snapshot_a_restore_would_take(s3, make_roster, run_cli):
    # It took the greatest key under db/library-*.db: a stray db/library-manual.db (or one in a
    # subfolder) won over every real snapshot, so the export held a database the tenant never had.
    put_all(s3, {**OBJECTS, "db/library-manual.db": b"stray", "db/library-x/library-20991231T000000Z.db": b"nested"})
    roster = make_roster([ACTIVE])

    result = run_cli(main, args(roster))

    assert result.code == 0, result
    archive = download(result.out.strip().splitlines()[-1])
    assert [name for name in archive.namelist() if name.startswith("db/")] == ["db/library-20261119T030000Z.db"]
