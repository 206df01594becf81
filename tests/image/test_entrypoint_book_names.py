"""Every book name the companion accepts survives upload, backup, volume loss and restore, with the real rclone.

The companion's name rule (image/companion/lib/names.js) is the one rule for book names; the entrypoint
pins rclone's encodings. Here names with a character of every Unicode category and every character
rclone's encoders touch (each in the positions its encoder cares about) are offered to the real companion
(real HTTP, moto behind the SigV4-checking proxy); what it accepts is uploaded, backed up by the real
entrypoint and rclone, the volume is lost, and the restore must bring back exactly those names and bytes,
with no second key in books/ and nothing reported.

And whatever a single object does (a name rclone cannot copy, an object R2 will not serve or store), the
rest of a backup or a restore goes on, the machine boots, and that one object is reported.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tenants import bucket_layout
from tests.companion.harness import CompanionEnv, pdf_bytes, plan, send, start_companion
from tests.companion.harness import complete as complete_upload
from tests.image.conftest import ENTRYPOINT, R2_KEY_ID, R2_SECRET, Bucket, Machine
from tests.image.test_entrypoint_book_deletion import seed_volume, wait_cycles
from tests.image.test_entrypoint_health import health
from tests.support.alex_web import AlexWeb
from tests.support.sigv4_proxy import Fault, SigV4CheckingProxy

# One long-assigned character of each Unicode general category. Marks follow a base they do not
# combine with into one code point, so NFC keeps them.
CATEGORY_SAMPLES = {
    "Lu": "\u00c4", "Ll": "\u00df", "Lt": "\u01c5", "Lm": "\u02b0", "Lo": "\u8a9e",
    "Mn": "q\u0308", "Mc": "\u0915\u0903", "Me": "x\u20dd",
    "Nd": "\u0663", "Nl": "\u216b", "No": "\u00bd",
    "Pc": "\u203f", "Pd": "\u2014", "Ps": "\u300c", "Pe": "\u300d", "Pi": "\u00ab", "Pf": "\u00bb", "Po": "\u00bf",
    "Sm": "\u2211", "Sc": "\u20ac", "Sk": "\u02da", "So": "\u00a9",
    "Zs": "\u3000", "Zl": "\u2028", "Zp": "\u2029",
    "Cc": "\x07", "Cf": "\u200b", "Cs": "\ud800", "Co": "\ue000", "Cn": "\u0378",
}  # fmt: skip
# What rclone's encoders (lib/encoder) replace or quote: ASCII they map to full-width forms, the
# full-width forms themselves, control characters and their Control Pictures, its quote character
# U+201B, U+FFFD, and the dots of "." and "..".
ENCODED_ASCII = "/\\<>\"'`$:?*|#%;[]~. "
ENCODER_CHARS = (
    list(ENCODED_ASCII)
    + [chr(ord(c) + 0xFEE0) for c in ENCODED_ASCII if c != " "]
    + [chr(n) for n in range(0x20)]
    + ["\x7f"]
    + [chr(n) for n in range(0x2400, 0x2422)]
    + ["\u201b", "\ufffd"]
)
# Encoders that act only on a name's first or last character: these go there too.
EDGE_CHARS = [
    " ",
    ".",
    "~",
    "\t",
    "\n",
    "\x0b",
    "\r",
    "\u2420",
    "\uff0e",
    "\uff5e",
    "\u2409",
    "\u240a",
    "\u240b",
    "\u240d",
]
OTHER_ASCII = "!&()+,-=@^_{}"


def candidate_names() -> list[str]:
    names = [f"cat {category} {sample} book.pdf" for category, sample in CATEGORY_SAMPLES.items()]
    names += [f"enc {i:02d} a{c}b.pdf" for i, c in enumerate(ENCODER_CHARS)]
    names += [f"{c}lead {i:02d}.pdf" for i, c in enumerate(EDGE_CHARS)]
    names += [f"trail {i:02d}{c}.pdf" for i, c in enumerate(EDGE_CHARS)]
    names += [f"ascii {OTHER_ASCII}.pdf", "\uff0e.pdf", "\uff0e\uff0e.pdf", "\u2024.pdf", "a\u201b\u201bb.pdf"]
    return names


def test_the_candidate_names_cover_every_category_and_encoded_character() -> None:
    for category, sample in CATEGORY_SAMPLES.items():
        assert category in {unicodedata.category(c) for c in sample}, category
    covered = {c for name in candidate_names() for c in name}
    assert set(ENCODER_CHARS) | set(EDGE_CHARS) <= covered


@pytest.fixture
def r2(moto_endpoint: str) -> Iterator[tuple[SigV4CheckingProxy, dict[tuple[str, str], Fault]]]:
    """moto behind the SigV4 check, for rclone and the companion alike; faults[(method, key)] injects one."""
    faults: dict[tuple[str, str], Fault] = {}
    with SigV4CheckingProxy(moto_endpoint, R2_SECRET, fault=lambda method, key: faults.get((method, key))) as proxy:
        yield proxy, faults


def library_books(machine: Machine) -> dict[str, bytes]:
    return {str(p.relative_to(machine.library)): p.read_bytes() for p in machine.library.rglob("*") if p.is_file()}


def test_every_name_the_companion_accepts_round_trips_through_upload_backup_and_restore(
    make_machine: Callable[..., Machine],
    bucket: Bucket,
    r2: tuple[SigV4CheckingProxy, dict[tuple[str, str], Fault]],
    tmp_path: Path,
) -> None:
    proxy, _ = r2
    machine = make_machine(endpoint=proxy.url)
    seed_volume(machine, {})
    machine.boot_ready()
    extra = {
        "R2_ACCESS_KEY_ID": R2_KEY_ID,
        "R2_SECRET_ACCESS_KEY": R2_SECRET,
        "HOSTED_UPLOADS_DIR": str(machine.data / ".hosted" / "uploaded"),
        "STORAGE_QUOTA_BYTES": str(10**9),
    }
    accepted: dict[str, bytes] = {}
    refused: dict[str, str] = {}
    with AlexWeb(library=machine.library) as alex:
        companion = start_companion(
            CompanionEnv(alex.url, proxy.url, bucket.name, machine.library, extra), tmp_path / "companion.log"
        )
        try:
            with httpx.Client(base_url=companion.url, headers={"Cookie": alex.cookie_header()}, timeout=30) as client:
                for n, name in enumerate(candidate_names()):
                    body = pdf_bytes(64 + n)
                    planned = plan(client, name, len(body))
                    if planned.status_code != 200:
                        assert planned.status_code in (400, 415), planned.text
                        refused[name] = planned.json()["error"]
                        continue
                    stored = planned.json()["name"]  # NFC
                    send(client, planned.json(), body)
                    done = complete_upload(client, planned.json())
                    assert done.status_code == 200 and done.json()["ingested"], (name, done.text)
                    accepted[stored] = body
        finally:
            companion.stop()

    # The rule is no narrower than it must be: every printable category and every full-width form.
    printable = {c for c, sample in CATEGORY_SAMPLES.items() if not c.startswith(("C", "Zl", "Zp"))}
    assert {c for c in printable if f"cat {c} {CATEGORY_SAMPLES[c]} book.pdf" in accepted} == printable
    for i, c in enumerate(ENCODER_CHARS):
        if 0xFF01 <= ord(c) <= 0xFF5E or c in "<>\"'`$:?*|#%;[]~.\ufffd":
            assert f"enc {i:02d} a{c}b.pdf" in accepted, repr(c)
    # ... and refuses what rclone would not give back: its quote character and the Control Pictures.
    for c in ["\u201b", "\u2400", "\u2401", "\u241f", "\u2420", "\u2421"]:
        assert f"enc {ENCODER_CHARS.index(c):02d} a{c}b.pdf" in refused, repr(c)
    assert len(accepted) + len(refused) == len(candidate_names()) and len(accepted) >= 70

    assert library_books(machine) == accepted
    assert machine.stop() == 0
    keys = {f"books/{name}" for name in accepted}
    assert set(bucket.keys("books/")) == keys, "one key per book, under its own name"
    assert sorted(bucket.get(bucket_layout.BOOKS_LEDGER_KEY).decode().splitlines()) == sorted(accepted)
    assert bucket.keys("staging/") == []

    machine.lose_volume()
    machine.boot_ready()
    assert library_books(machine) == accepted, "every name back, byte for byte"
    # boot_ready waited for the first sync after the restore too: it pushed no second spelling.
    assert set(bucket.keys("books/")) == keys, "no second copy under another spelling"
    assert bucket.keys("deleted/") == []
    status = health(bucket)
    assert (status.books_failed, status.books_unaccounted) == (
        bucket_layout.BookKeys(0, ()),
        bucket_layout.BookKeys(0, ()),
    )
    assert proxy.failures == []
    machine.stop()


def pinned_local_encoding() -> str:
    (value,) = re.findall(r"^RCLONE_LOCAL_ENCODING='([^']*)'$", ENTRYPOINT.read_text(), re.MULTILINE)
    return str(value)


@pytest.mark.parametrize("char", ["\u201b", "\u2400", "\u2401", "\u2421"])
def test_characters_the_rule_refuses_are_ones_rclone_lists_as_something_else(tmp_path: Path, char: str) -> None:
    """Why the rule refuses them: the entrypoint compares rclone's listings (library, books/, the
    companion's marks, the ledger) line by line, and rclone lists these names escaped; U+201B is not even
    copied (test_an_object_rclone_cannot_copy_never_stops_a_restore)."""
    rclone = shutil.which("rclone")
    assert rclone is not None
    name = f"a{char}b.pdf"
    (tmp_path / name).write_bytes(b"%PDF-1.7")
    env = {"PATH": os.environ["PATH"], "RCLONE_CONFIG": "/dev/null", "RCLONE_LOCAL_ENCODING": pinned_local_encoding()}
    listed = subprocess.run(
        [rclone, "lsf", "--files-only", str(tmp_path)], env=env, capture_output=True, text=True, check=True, timeout=30
    ).stdout
    if char == "\u2400":
        assert listed == f"{name}\n"  # this one survives, but it is a control picture like the others
    else:
        assert listed != f"{name}\n" and char in listed


# --- one object never stops a backup or a restore ---------------------------------------------------

LEGACY = "legacy a\u201bb.pdf"  # accepted by the companion before the rule: rclone cannot copy it
LEGACY_LISTED = "legacy a\u201b\u201bb.pdf"  # how rclone lists it


def test_a_book_file_rclone_cannot_copy_never_stops_a_backup(
    make_machine: Callable[..., Machine], bucket: Bucket
) -> None:
    machine = make_machine()
    seed_volume(machine, {LEGACY: b"%PDF-1.7 old", "one.pdf": b"1", "shelf/two.epub": b"2"})
    machine.boot_ready()  # waits for "backup: synced": the cycle succeeds

    assert bucket.keys("books/") == ["books/one.pdf", "books/shelf/two.epub"]
    assert bucket.snapshots(), "the snapshot went up too"
    status = health(bucket)
    assert status.last_backup_at is not None
    assert status.books_failed == bucket_layout.BookKeys(1, (LEGACY_LISTED,))
    assert f"books: could not copy {LEGACY_LISTED}: " in machine.output()
    machine.stop()


def test_an_object_rclone_cannot_copy_never_stops_a_restore(
    make_machine: Callable[..., Machine], bucket: Bucket
) -> None:
    """Today's attack: a name with U+201B passed the companion; after a volume loss every boot exited FATAL."""
    machine = make_machine()
    # Uploaded under the old rule: the browser's PUT to books/, the companion's copy in the library.
    seed_volume(machine, {LEGACY: b"%PDF-1.7 old", "one.pdf": b"1", "shelf/two.epub": b"2"})
    bucket.put(f"books/{LEGACY}", b"%PDF-1.7 old")
    machine.boot_ready()
    assert LEGACY_LISTED in bucket.get(bucket_layout.BOOKS_LEDGER_KEY).decode().splitlines()
    assert machine.stop() == 0

    machine.lose_volume()
    machine.boot_ready()
    assert library_books(machine) == {"one.pdf": b"1", "shelf/two.epub": b"2"}
    assert "restore: WARNING: 1 book file(s) could not be copied" in machine.output()
    status = health(bucket)
    assert status.restore is not None and status.restore.ok
    assert status.books_failed == bucket_layout.BookKeys(1, (LEGACY_LISTED,))
    machine.stop()


def test_an_object_r2_will_not_serve_never_stops_a_restore_and_comes_back_once_it_can(
    make_machine: Callable[..., Machine],
    bucket: Bucket,
    r2: tuple[SigV4CheckingProxy, dict[tuple[str, str], Fault]],
) -> None:
    proxy, faults = r2
    machine = make_machine(endpoint=proxy.url, BACKUP_INTERVAL_SECONDS="1")
    seed_volume(machine, {"one.pdf": b"1", "two.pdf": b"22", "three.pdf": b"333"})
    machine.boot_ready()
    assert machine.stop() == 0

    faults[("GET", "books/two.pdf")] = (500, "InternalError")
    machine.lose_volume()
    machine.boot_ready()
    assert library_books(machine) == {"one.pdf": b"1", "three.pdf": b"333"}
    assert health(bucket).books_failed == bucket_layout.BookKeys(1, ("two.pdf",))

    faults.clear()  # R2 serves it again: the ledger accounts for it, so the next sync pulls it
    machine.wait_for(lambda: (machine.library / "two.pdf").exists(), "the book the restore missed", timeout=30)
    wait_cycles(machine, 2)
    assert library_books(machine) == {"one.pdf": b"1", "two.pdf": b"22", "three.pdf": b"333"}
    assert health(bucket).books_failed == bucket_layout.BookKeys(0, ())
    assert bucket.keys("deleted/") == []
    machine.stop()


def test_an_object_r2_will_not_store_never_stops_a_backup(
    make_machine: Callable[..., Machine],
    bucket: Bucket,
    r2: tuple[SigV4CheckingProxy, dict[tuple[str, str], Fault]],
) -> None:
    proxy, faults = r2
    faults[("PUT", "books/two.pdf")] = (500, "InternalError")
    machine = make_machine(endpoint=proxy.url, BACKUP_INTERVAL_SECONDS="1")
    seed_volume(machine, {"one.pdf": b"1", "two.pdf": b"22"})
    machine.boot_ready()  # the cycle is a success: everything else went

    assert bucket.keys("books/") == ["books/one.pdf"]
    status = health(bucket)
    assert status.last_backup_at is not None and bucket.snapshots()
    assert status.books_failed == bucket_layout.BookKeys(1, ("two.pdf",))

    faults.clear()
    machine.wait_for(lambda: "books/two.pdf" in bucket.keys("books/"), "the book pushed once R2 takes it", timeout=30)
    wait_cycles(machine, 2)
    assert health(bucket).books_failed == bucket_layout.BookKeys(0, ())
    machine.stop()


def test_a_copy_failure_no_single_object_explains_still_fails_the_backup(
    make_machine: Callable[..., Machine], bucket: Bucket
) -> None:
    """Only errors tied to one object are reported and passed over; R2 refusing the whole push is a failure."""
    machine = make_machine()
    machine.write_stand_ins()
    broken = machine.root / "bin" / "rclone-broken-push"
    broken.write_text(
        "#!/bin/sh\n"
        'case "$*" in copy\\ --use-json-log*\\ r2:*/books)\n'
        '    echo \'{"level":"error","msg":"Failed to create file system: AccessDenied","source":"x"}\' >&2\n'
        "    exit 7 ;;\n"
        "esac\n"
        f'exec "{machine.root}/bin/rclone" "$@"\n'
    )
    broken.chmod(0o755)
    machine.env_overrides["RCLONE_BIN"] = str(broken)
    seed_volume(machine, {"one.pdf": b"1"})
    machine.boot()
    machine.wait_for(lambda: "backup: R2 sync with" in machine.output(), "the first cycle to fail")

    output = machine.output()
    assert "backup: synced" not in output
    assert "books: could not copy" not in output
    assert bucket.keys("books/") == []
    assert bucket.keys(bucket_layout.STATUS_PREFIX) == [], "no ledger or status from a failed cycle"
    machine.stop()
