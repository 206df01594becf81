"""scripts.migrate_selfhosted against moto: upload a self-hosted data folder, then a tenant restores it."""

from __future__ import annotations

import shutil
import urllib.request
import uuid
from pathlib import Path

import pytest

from scripts import migrate_selfhosted
from tests.image import alex_db
from tests.image.conftest import OWNER_EMAIL, OWNER_PASSWORD, Bucket, Machine
from tests.scripts.conftest import R2_SECRET
from tests.support.requires import missing


@pytest.fixture(autouse=True)
def rclone() -> None:
    """The tenant-boot test runs the real rclone (Debian package; .ci/run installs it)."""
    if shutil.which("rclone") is None:
        missing("rclone (Debian package) missing")


@pytest.fixture
def bucket(s3) -> Bucket:
    name = f"alex-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "auto"})  # R2 region
    return Bucket(name, s3)


@pytest.fixture
def machine(tmp_path: Path, bucket: Bucket, moto_endpoint: str):
    machine = Machine(tmp_path / "machine", bucket, moto_endpoint)
    machine.root.mkdir()
    yield machine
    machine.kill()
    if machine.db.exists():
        alex_db.assert_default_admin_invalid(machine.db)


def self_hosted(folder: Path, library_in_db: Path):
    """A self-hosted data folder: one book, admin@localhost with reading progress, WAL left open."""
    book = folder / "library" / "shelf" / "dune.epub"
    book.parent.mkdir(parents=True)
    book.write_bytes(b"dune")
    conn = alex_db.create(folder / "library.db")
    alex_db.add_user(conn, "1", alex_db.DEFAULT_ADMIN_EMAIL, alex_db.DEFAULT_ADMIN_PASSWORD, role="admin")
    alex_db.add_book(conn, "b-dune", library_in_db / "shelf" / "dune.epub")
    alex_db.add_progress(conn, "1", "b-dune", 0.3)
    return conn  # still open: its last writes live only in the WAL


def migrate_args(data_dir: Path, bucket: Bucket, machine: Machine, *extra: str) -> list[str]:
    return ["--data-dir", str(data_dir), "--bucket", bucket.name, "--tenant-library-path", str(machine.library), *extra]


def test_migrate_selfhosted_upload_then_tenant_first_boot_restores_it(
    run_cli, tmp_path: Path, bucket: Bucket, machine: Machine
) -> None:
    data_dir = tmp_path / "selfhosted"
    conn = self_hosted(data_dir, machine.library)

    result = run_cli(migrate_selfhosted.main, migrate_args(data_dir, bucket, machine))
    conn.close()

    assert result.code == 0, result
    assert "1 book file(s) uploaded" in result.out
    assert "warning" not in result.out
    assert "[1/1] books/shelf/dune.epub" in result.err
    assert R2_SECRET not in result.out + result.err
    keys = bucket.keys()
    assert "books/shelf/dune.epub" in keys
    assert len(bucket.snapshots()) == 1

    machine.boot_ready()

    assert machine.events("start", who="watcher")[-1]["orphans"] == []
    owner_id, pw_hash, role = alex_db.users(machine.db)[OWNER_EMAIL]
    assert (owner_id, role) == ("1", "admin")
    assert alex_db.password_ok(pw_hash, OWNER_PASSWORD)
    assert alex_db.progress(machine.db) == {(OWNER_EMAIL, "b-dune"): 0.3}
    assert machine.stop() == 0


def test_migrate_selfhosted_rerun_needs_force_and_skips_uploaded_files(
    run_cli, tmp_path: Path, bucket: Bucket, machine: Machine
) -> None:
    data_dir = tmp_path / "selfhosted"
    self_hosted(data_dir, machine.library).close()
    assert run_cli(migrate_selfhosted.main, migrate_args(data_dir, bucket, machine)).code == 0

    again = run_cli(migrate_selfhosted.main, migrate_args(data_dir, bucket, machine))
    assert again.code == 1, again
    assert f"bucket {bucket.name} already holds 1 database backup" in again.error

    forced = run_cli(migrate_selfhosted.main, migrate_args(data_dir, bucket, machine, "--force"))
    assert forced.code == 0, forced
    assert "0 book file(s) uploaded" in forced.out and "1 already present" in forced.out


def test_migrate_selfhosted_books_carry_the_checked_mark_so_a_tenant_with_backups_restores_them(
    run_cli, tmp_path: Path, bucket: Bucket, machine: Machine
) -> None:
    """--force into a tenant that already backed up (its ledger does not list these books): still restored."""
    machine.boot_ready()
    assert machine.stop() == 0
    assert bucket.keys("status/") == ["status/books.manifest", "status/health.json"]
    data_dir = tmp_path / "selfhosted"
    self_hosted(data_dir, machine.library).close()
    assert run_cli(migrate_selfhosted.main, migrate_args(data_dir, bucket, machine, "--force")).code == 0
    head = bucket.client.head_object(Bucket=bucket.name, Key="books/shelf/dune.epub")
    assert head["Metadata"] == {"hosted-upload": "checked"}

    machine.lose_volume()
    machine.boot_ready()
    assert (machine.library / "shelf" / "dune.epub").read_bytes() == b"dune"
    assert machine.stop() == 0


def test_migrate_selfhosted_reports_rows_outside_tenant_library(
    run_cli, tmp_path: Path, bucket: Bucket, machine: Machine
) -> None:
    data_dir = tmp_path / "selfhosted"
    self_hosted(data_dir, Path("/home/someone/books")).close()

    result = run_cli(migrate_selfhosted.main, migrate_args(data_dir, bucket, machine))

    assert result.code == 0, result
    assert "warning: 1 book row(s) point outside" in result.out


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("no-folder", "no such folder"),
        ("no-database", "library.db: no such file"),
        ("not-alex", "not a readable Alex database"),
        ("no-endpoint", "no endpoint"),
        ("no-credentials", "R2_ACCESS_KEY_ID and R2_SECRET_ACCESS_KEY must be set"),
    ],
)
def test_migrate_selfhosted_user_error_exits_1(
    run_cli, tmp_path: Path, bucket: Bucket, monkeypatch: pytest.MonkeyPatch, case: str, message: str
) -> None:
    data_dir = tmp_path / "selfhosted"
    (data_dir / "library").mkdir(parents=True)
    if case != "no-database":
        alex_db.create(data_dir / "library.db").close()
    if case == "not-alex":
        (data_dir / "library.db").write_bytes(b"not sqlite at all, just some bytes" * 10)
    if case == "no-folder":
        data_dir = tmp_path / "missing"
    if case == "no-endpoint":
        monkeypatch.delenv("R2_ENDPOINT")
    if case == "no-credentials":
        monkeypatch.delenv("R2_SECRET_ACCESS_KEY")

    result = run_cli(migrate_selfhosted.main, ["--data-dir", str(data_dir), "--bucket", bucket.name])

    assert result.code == 1, result
    assert message in result.error


def test_migrate_selfhosted_storage_error_exits_2_without_secrets(run_cli, tmp_path: Path, s3) -> None:
    data_dir = tmp_path / "selfhosted"
    (data_dir / "library").mkdir(parents=True)
    alex_db.create(data_dir / "library.db").close()

    result = run_cli(migrate_selfhosted.main, ["--data-dir", str(data_dir), "--bucket", "alex-nosuchbucket"])

    assert result.code == 2, result
    assert "storage error on bucket alex-nosuchbucket" in result.error
    assert R2_SECRET not in result.out + result.err


def test_migrate_selfhosted_help_exits_0(run_cli) -> None:
    result = run_cli(migrate_selfhosted.main, ["--help"])
    assert result.code == 0, result
    assert "usage: python -m scripts.migrate_selfhosted" in result.out


def test_migrate_selfhosted_only_restorable_snapshots_block_an_upload(run_cli, tmp_path: Path, bucket: Bucket) -> None:
    # It refused on any *.db under db/, though a first boot restores only db/library-<stamp>.db names.
    bucket.client.put_object(Bucket=bucket.name, Key="db/notes.db", Body=b"not a snapshot")
    data_dir = tmp_path / "selfhosted"
    self_hosted(data_dir, Path("/app/data/library")).close()

    result = run_cli(migrate_selfhosted.main, ["--data-dir", str(data_dir), "--bucket", bucket.name])

    assert result.code == 0, result
    assert "database db/library-" in result.out


def test_migrate_selfhosted_brings_the_covers_alex_drew(
    run_cli, tmp_path: Path, bucket: Bucket, machine: Machine
) -> None:
    """Alex never draws a cover again for a book it knows: the self-hosted covers come along, and the
    snapshot's cover paths (the self-hosted machine's own) point at the tenant's covers folder."""
    data_dir = tmp_path / "selfhosted"
    conn = self_hosted(data_dir, machine.library)
    cover = b"\xff\xd8\xff\xe0 dune's cover"
    (data_dir / "covers").mkdir()
    (data_dir / "covers" / "4f1c.jpg").write_bytes(cover)
    conn.execute("UPDATE books SET cover_path = '/srv/alex/data/covers/4f1c.jpg' WHERE id = 'b-dune'")
    conn.close()

    result = run_cli(migrate_selfhosted.main, migrate_args(data_dir, bucket, machine))
    assert result.code == 0, result
    assert "1 book(s) with their cover" in result.out
    assert bucket.keys("covers/") == ["covers/4f1c.jpg"]

    machine.env_overrides["FAKE_ALEX_LISTEN_AFTER"] = "0"
    machine.boot_ready()
    machine.wait_for(lambda: bool(machine.events("listening")), "Alex to listen")
    with urllib.request.urlopen(f"http://127.0.0.1:{machine.alex_port}/api/books/b-dune/cover", timeout=5) as page:
        assert (page.headers["Content-Type"], page.read()) == ("image/jpeg", cover)
    assert machine.stop() == 0
