"""The companion in the image: started beside Alex, supervised, and the books it uploads kept in sync.

A reader's upload goes from the browser straight to books/<name> in R2; the companion then writes the
same bytes into the library (a hidden temp file linked to the final name, with the object's time) and
leaves .hosted/uploaded/<id>.key. The backup must treat that book as the reader's: no second copy
pulled, backed up, restored after a volume loss, and deleted for good once the reader deletes it.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path

from tenants import bucket_layout
from tests.image.conftest import Bucket, Machine
from tests.image.test_entrypoint_book_deletion import (
    ODD_NAMES,
    deleted_keys,
    manifest,
    seed_volume,
    wait_cycles,
)


def upload_like_the_companion(machine: Machine, bucket: Bucket, name: str, body: bytes, *, mark: bool = True) -> Path:
    """The browser's PUT to books/<name>, then the companion's final step into the library."""
    bucket.put(f"books/{name}", body)
    head = bucket.client.head_object(Bucket=bucket.name, Key=f"books/{name}")
    mtime = head["LastModified"].timestamp()
    temp = machine.library / f".hosted-upload-{uuid.uuid4().hex[:12]}.part"
    temp.write_bytes(body)
    os.utime(temp, (mtime, mtime))
    final = machine.library / name
    os.link(temp, final)  # like the companion: never replaces an existing name
    temp.unlink()
    if mark:
        uploads = machine.data / ".hosted" / "uploaded"
        uploads.mkdir(parents=True, exist_ok=True)
        mark_temp = uploads / f".{uuid.uuid4().hex}.tmp"
        mark_temp.write_text(name + "\n")
        mark_temp.rename(uploads / f"{uuid.uuid4().hex}.key")
    return final


# A name the companion accepts (no "/"), with what trips shells and sorting: spaces, quotes, non-ASCII.
UPLOAD_NAME = ODD_NAMES[1].replace("/", " ")


def library_files(machine: Machine) -> list[str]:
    return sorted(str(p.relative_to(machine.library)) for p in machine.library.rglob("*") if p.is_file())


def pulls(machine: Machine) -> list[str]:
    return [args for _, args in machine.rclone_calls() if "/incoming" in args]


def test_uploaded_book_is_indexed_backed_up_restored_and_stays_deleted(
    make_machine: Callable[..., Machine], bucket: Bucket
) -> None:
    name = UPLOAD_NAME
    machine = make_machine(BACKUP_INTERVAL_SECONDS="1")
    seed_volume(machine, {"mine.epub": b"mine"})
    machine.boot_ready()

    book = upload_like_the_companion(machine, bucket, name, b"the reader's upload")
    machine.wait_for(
        lambda: any(e["path"] == name for e in machine.events("ingested")), "the watcher to index the upload"
    )
    wait_cycles(machine, 2)

    assert pulls(machine) == [], "a book the companion wrote is not new in R2: nothing is pulled"
    assert library_files(machine) == sorted(["mine.epub", name]), "no second copy"
    assert bucket.keys("books/") == sorted(["books/mine.epub", f"books/{name}"])
    assert bucket.get(f"books/{name}") == b"the reader's upload"
    assert name in manifest(machine)
    assert list((machine.data / ".hosted" / "uploaded").iterdir()) == [], "marks are consumed"
    assert machine.stop() == 0

    machine.lose_volume()
    machine.boot_ready()
    assert book.read_bytes() == b"the reader's upload", "restored after the volume loss"

    book.unlink()  # the reader deletes it
    wait_cycles(machine, 2)
    assert not book.exists(), "a deleted upload is not pulled back"
    assert bucket.keys("books/") == ["books/mine.epub"]
    assert len(deleted_keys(bucket, name)) == 1
    assert machine.stop() == 0

    machine.lose_volume()
    machine.boot_ready()
    assert library_files(machine) == ["mine.epub"], "still deleted after another volume loss"
    machine.stop()


def test_upload_deleted_before_any_sync_saw_it_stays_deleted(
    make_machine: Callable[..., Machine], bucket: Bucket
) -> None:
    """The companion's mark makes the book known: without it, the object would look new in R2 and come back."""
    machine = make_machine()  # one sync at boot, one on stop: none between the upload and the deletion
    seed_volume(machine, {"mine.epub": b"mine"})
    machine.boot_ready()
    upload_like_the_companion(machine, bucket, "oops.pdf", b"wrong file").unlink()
    assert machine.stop() == 0

    assert bucket.keys("books/") == ["books/mine.epub"]
    assert len(deleted_keys(bucket, "oops.pdf")) == 1
    machine.boot_ready()
    assert library_files(machine) == ["mine.epub"]
    machine.stop()


def test_companion_temp_file_is_never_backed_up(make_machine: Callable[..., Machine], bucket: Bucket) -> None:
    """A download in progress (the companion's hidden .part file) is no book: not pushed, not known."""
    machine = make_machine()
    seed_volume(machine, {"mine.epub": b"mine"})
    temp = machine.library / ".hosted-upload-0123456789ab.part"
    temp.write_bytes(b"half a bo")
    machine.boot_ready()
    assert machine.stop() == 0

    assert bucket.keys("books/") == ["books/mine.epub"]
    assert manifest(machine) == ["mine.epub"]
    assert temp.exists(), "the backup never touches the companion's files"


def test_companion_runs_with_r2_keys_and_is_restarted_when_it_dies(machine: Machine) -> None:
    machine.ctl.mkdir(parents=True)
    (machine.ctl / "companion-crash-once").touch()
    machine.boot_ready()

    machine.wait_for(lambda: len(machine.events("start", who="companion")) == 2, "the companion's restart")
    assert len(machine.events("server-start")) == 1, "Alex keeps running"
    start = machine.events("start", who="companion")[-1]
    assert start["port"] == str(machine.companion_port)
    assert start["alex_url"] == f"http://127.0.0.1:{machine.alex_port}"
    assert start["uploads_dir"] == str(machine.data / ".hosted" / "uploaded")
    assert start["staging_prefix"] == bucket_layout.STAGING_PREFIX
    # It signs uploads to R2, so it has the keys; it judges Alex's sessions, so it has Alex's secret and
    # reads its database, and keeps who signed out on the volume. The owner's password it does not get.
    assert start["secrets"] == ["R2_ACCESS_KEY_ID", "R2_SECRET_ACCESS_KEY", "NEXTAUTH_SECRET"]
    assert start["database_path"] == str(machine.db)
    assert start["signouts_file"] == str(machine.data / ".hosted" / "signed-out.json")
    assert "companion exited (status 4); restarting in 0s" in machine.output()

    assert machine.stop() == 0
    stopped = machine.events("stopped", who="companion")
    assert stopped, "the companion gets the stop signal"
    output = machine.output()
    assert output.rindex("received SIGTERM") < output.rindex("final backup done")
    assert stopped[-1]["t"] < max(t for t, args in machine.rclone_calls() if args.startswith("rcat "))


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(errors="replace")


def test_real_companion_serves_its_health_and_proxies_the_fly_check_to_alex(
    make_machine: Callable[..., Machine],
) -> None:
    """The companion proxies to Alex, which listens on loopback only; its health (Fly's check) says both answer."""
    machine = make_machine(real_companion=True)
    machine.boot_ready()
    base = f"http://127.0.0.1:{machine.companion_port}"
    machine.wait_for(lambda: "listening on" in machine.output(), "the companion to listen")

    status, body = get(f"{base}/login")
    assert (status, "Alex sign in (fake)" in body) == (200, True), body
    # Besides the companion's own "does Alex answer yet?" questions, only the page reached Alex.
    assert [e["path"] for e in machine.events("http") if e["path"] != "/api/auth/session"] == ["/login"]
    status, body = get(f"{base}/_hosted/healthz")
    assert (status, json.loads(body)["ok"]) == (200, True), body

    assert machine.stop() == 0
    assert "companion exited" not in machine.output(), "it ran the whole time"


def test_the_request_that_wakes_the_machine_gets_alex_not_an_error_page(
    make_machine: Callable[..., Machine],
) -> None:
    """The companion listens before Alex (the stand-in, like Next, a second and a half later): the first
    visitor's request waits for Alex, and the health Fly checks is failing until Alex answers."""
    machine = make_machine(real_companion=True, FAKE_ALEX_LISTEN_AFTER="3")
    machine.boot()
    base = f"http://127.0.0.1:{machine.companion_port}"
    machine.wait_for(lambda: "listening on" in machine.output(), "the companion to listen")
    assert machine.events("listening") == [], "the request below must reach the companion before Alex listens"

    status, body = get(f"{base}/_hosted/healthz")
    assert (status, json.loads(body)) == (503, {"ok": False, "alex": False, "waiting": 0}), body
    status, body = get(f"{base}/login")
    assert (status, "Alex sign in (fake)" in body) == (200, True), body
    assert machine.events("listening"), "it was answered by Alex once it listened"
    status, body = get(f"{base}/_hosted/healthz")
    assert (status, json.loads(body)["ok"]) == (200, True), body
