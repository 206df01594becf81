"""Boot paths of the entrypoint: fresh tenant, restore after volume loss, reboot, R2 unreachable."""

from __future__ import annotations

import signal
from collections.abc import Callable

import pytest

from tests.image import alex_db
from tests.image.conftest import OWNER_EMAIL, OWNER_PASSWORD, Bucket, Machine
from tests.support.servers import free_port, start_moto


def test_entrypoint_fresh_tenant_creates_owner_and_first_snapshot(machine: Machine, bucket: Bucket) -> None:
    machine.boot_ready()

    users = alex_db.users(machine.db)
    assert set(users) == {OWNER_EMAIL}
    _, pw_hash, role = users[OWNER_EMAIL]
    assert role == "admin"
    assert alex_db.password_ok(pw_hash, OWNER_PASSWORD)
    assert pw_hash.startswith("$2b$10$"), "hashed with bcrypt cost 10 like Alex"
    assert "new tenant" in machine.output()
    assert len(bucket.snapshots()) == 1
    node_events = [e["event"] for e in machine.events(who="node")]
    assert node_events[:3] == ["db-push", "hash-password", "server-start"]
    assert "unexpected" not in node_events, "only db-push, the hash helper and the server may run"
    server = machine.events("server-start")[0]
    # Loopback only: readers reach Alex through the companion on COMPANION_PORT.
    assert (server["cwd"], server["hostname"], server["port"]) == (
        str(machine.root / "app"),
        "127.0.0.1",
        str(machine.alex_port),
    )
    for started in machine.events("server-start") + machine.events("start", who="watcher"):
        assert started["secrets"] == [], "the app must not see R2 keys or the owner password"
    assert machine.stop() == 0


def owner_row(machine: Machine) -> tuple[str, str, str]:
    return alex_db.users(machine.db)[OWNER_EMAIL]


def test_entrypoint_restore_after_volume_loss_restores_files_before_database(
    make_machine: Callable[..., Machine], bucket: Bucket
) -> None:
    bucket.put("books/shelf/dune.epub", b"dune")
    machine = make_machine()
    machine.boot_ready()
    machine.wait_for(lambda: bool(machine.events("ingested")), "the watcher to ingest the bucket's book")
    conn = alex_db.connect(machine.db)
    alex_db.add_progress(conn, owner_row(machine)[0], "b-dune.epub", 0.42)
    conn.close()
    assert machine.stop() == 0
    first_hash = owner_row(machine)[1]

    machine.lose_volume()
    machine.env_overrides["OWNER_INITIAL_PASSWORD"] = "another-initial-password"
    calls_before = len(machine.rclone_calls())
    machine.boot_ready()

    watcher_start = machine.events("start", who="watcher")[-1]
    assert watcher_start["orphans"] == [], "no book row may be dropped for a missing file"
    assert alex_db.progress(machine.db) == {(OWNER_EMAIL, "b-dune.epub"): 0.42}
    assert (machine.library / "shelf" / "dune.epub").read_bytes() == b"dune"
    assert owner_row(machine)[1] == first_hash, "a restore must not reset the owner's password"
    calls = machine.rclone_calls()[calls_before:]
    books_at = next(t for t, args in calls if args.startswith("copy ") and f" r2:{bucket.name}/books " in args)
    db_at = next(t for t, args in calls if args.startswith(f"copyto r2:{bucket.name}/db/"))
    assert books_at < db_at < watcher_start["t"], "\n".join(args for _, args in calls)
    assert "database restored from db/library-" in machine.output()
    machine.stop()


def test_entrypoint_reboot_keeps_owner_password_the_owner_changed(machine: Machine) -> None:
    machine.boot_ready()
    machine.stop()
    conn = alex_db.connect(machine.db)
    conn.execute("DELETE FROM users")
    changed_hash = alex_db.add_user(conn, "u-owner", OWNER_EMAIL, "chosen-by-owner", role="admin")
    conn.close()

    machine.boot_ready()

    assert owner_row(machine) == ("u-owner", changed_hash, "admin")
    assert "hash-password" not in [e["event"] for e in machine.events(who="node")][3:], (
        "a reboot must not hash a new password"
    )
    machine.stop()


@pytest.mark.parametrize("owner_exists", [True, False], ids=["owner-and-default-admin", "default-admin-only"])
def test_entrypoint_reboot_removes_default_admin_and_keeps_its_progress(machine: Machine, owner_exists: bool) -> None:
    book = machine.library / "a.pdf"
    book.parent.mkdir(parents=True)
    book.write_bytes(b"pdf")
    conn = alex_db.create(machine.db)
    alex_db.add_book(conn, "b-a.pdf", book)
    alex_db.add_user(conn, "1", alex_db.DEFAULT_ADMIN_EMAIL, alex_db.DEFAULT_ADMIN_PASSWORD, role="admin")
    alex_db.add_progress(conn, "1", "b-a.pdf", 0.5)
    conn.execute("INSERT INTO collections VALUES ('c1', '1', 'Favourites', 0)")
    owner_hash = None
    if owner_exists:
        owner_hash = alex_db.add_user(conn, "u-owner", OWNER_EMAIL, "chosen-by-owner", role="user")
    conn.close()

    machine.boot_ready()

    users = alex_db.users(machine.db)
    assert alex_db.DEFAULT_ADMIN_EMAIL not in users
    owner_id, pw_hash, role = users[OWNER_EMAIL]
    assert role == "admin"
    if owner_hash is not None:
        assert (owner_id, pw_hash) == ("u-owner", owner_hash)
    else:
        assert owner_id == "1" and alex_db.password_ok(pw_hash, OWNER_PASSWORD)
    assert alex_db.progress(machine.db) == {(OWNER_EMAIL, "b-a.pdf"): 0.5}
    machine.stop()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"OWNER_EMAIL": "admin@localhost"}, "must not be admin@localhost"),
        ({"OWNER_EMAIL": "not-an-email"}, "is not an email address"),
        ({"OWNER_INITIAL_PASSWORD": ""}, "OWNER_INITIAL_PASSWORD is not set"),
        ({"R2_SECRET_ACCESS_KEY": ""}, "R2_SECRET_ACCESS_KEY is not set"),
    ],
)
def test_entrypoint_refuses_to_start_without_a_safe_owner(
    make_machine: Callable[..., Machine], env: dict[str, str], message: str
) -> None:
    machine = make_machine(**env)
    machine.boot()
    assert machine.wait_exit() == 1
    assert message in machine.output()
    assert machine.events("server-start") == []


def seed_volume(machine: Machine) -> None:
    conn = alex_db.create(machine.db)
    alex_db.add_user(conn, "u-owner", OWNER_EMAIL, "chosen-by-owner", role="admin")
    conn.close()


def test_entrypoint_r2_unreachable_boots_from_volume_and_retries_backup(
    make_machine: Callable[..., Machine], bucket: Bucket
) -> None:
    port = free_port()
    machine = make_machine(endpoint=f"http://127.0.0.1:{port}", BACKUP_INTERVAL_SECONDS="1")
    seed_volume(machine)
    machine.boot()
    machine.wait_for(lambda: bool(machine.events("server-start")), "server start")
    machine.wait_for(lambda: "R2 sync with" in machine.output(), "a failed backup")
    assert "unreachable at boot: booting from the volume" in machine.output()
    assert bucket.snapshots() == []

    server, _ = start_moto(port)  # moto keeps one in-process store, so the bucket is there
    try:
        machine.wait_for(lambda: bool(bucket.snapshots()), "a backup once R2 is back")
        assert machine.stop(signal.SIGINT) == 0
    finally:
        server.stop()


def test_entrypoint_r2_unreachable_on_empty_volume_refuses_to_start(make_machine: Callable[..., Machine]) -> None:
    machine = make_machine(endpoint=f"http://127.0.0.1:{free_port()}")
    machine.boot()
    assert machine.wait_exit() == 1
    assert "refusing to start" in machine.output()
    assert not machine.db.exists()
    assert machine.events("server-start") == []


def test_entrypoint_sleep_timings_take_decimal_seconds(make_machine: Callable[..., Machine]) -> None:
    """conftest's 0.2 s retry and 0.1 s tick reach `sleep` as given (they used to become 5 s and 1 s)."""
    machine = make_machine(endpoint=f"http://127.0.0.1:{free_port()}", R2_BOOT_RETRY_SECONDS="0.2")
    machine.boot()
    assert machine.wait_exit() == 1
    output = machine.output()
    assert "unreachable (attempt 1 of 2); retrying in 0.2s" in output
    assert "not a positive number of seconds" not in output, output


@pytest.mark.parametrize("value", ["0", "0.0", ".5", "1.2.3", "0.2s"])
def test_entrypoint_malformed_sleep_timing_falls_back_to_its_default(
    make_machine: Callable[..., Machine], value: str
) -> None:
    machine = make_machine(
        endpoint=f"http://127.0.0.1:{free_port()}",
        R2_BOOT_ATTEMPTS="1",  # refuse at once: the fallback's 5 s sleep is never taken
        R2_BOOT_RETRY_SECONDS=value,
        SUPERVISE_TICK_SECONDS=value,
    )
    machine.boot()
    assert machine.wait_exit() == 1
    output = machine.output()
    assert f"R2_BOOT_RETRY_SECONDS='{value}' is not a positive number of seconds; using 5" in output
    assert f"SUPERVISE_TICK_SECONDS='{value}' is not a positive number of seconds; using 1" in output


@pytest.mark.parametrize("newest", [b"", b"not a database at all"], ids=["empty", "junk"])
def test_entrypoint_restore_skips_a_newest_snapshot_that_is_not_an_alex_database(
    make_machine: Callable[..., Machine], bucket: Bucket, newest: bytes
) -> None:
    machine = make_machine()
    machine.boot_ready()
    conn = alex_db.connect(machine.db)
    conn.execute("INSERT OR REPLACE INTO settings VALUES ('marker', 'the real library', 0)")
    conn.close()
    assert machine.stop() == 0
    bucket.put("db/library-29990101T000000Z.db", newest)  # an empty file passes PRAGMA quick_check

    machine.lose_volume()
    machine.boot_ready()

    conn = alex_db.connect(machine.db)
    row = conn.execute("SELECT value FROM settings WHERE key = 'marker'").fetchone()
    conn.close()
    assert row == ("the real library",), machine.output()
    assert "db/library-29990101T000000Z.db fails its integrity check" in machine.output()
    machine.stop()
