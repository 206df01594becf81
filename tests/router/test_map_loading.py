"""The map loads from plain or gzip-compressed JSON (told apart by the magic bytes, not the name); a map
that breaks the format stops the start with one line naming the file and the problem."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.router.conftest import HOSTS, StartRouter
from tests.router.harness import run_until_exit, write_bytes


@pytest.mark.parametrize(
    "compress, name", [(False, "map.json"), (True, "map.json"), (True, "routes"), (False, "map.gz")]
)
def test_a_plain_or_gzipped_map_loads_whatever_its_name(
    start: StartRouter, tmp_path: Path, compress: bool, name: str
) -> None:
    (tmp_path / "given").mkdir()
    path = tmp_path / "given" / name
    write_bytes(path, json.dumps({"version": 1, "digest": "d-gz", "hosts": HOSTS}).encode(), compress=compress)
    router = start(EDGE_MAP=str(path))

    assert router.health()["digest"] == "d-gz" and router.health()["hosts"] == len(HOSTS)
    response = httpx.get(f"{router.url}/", headers={"Host": "books.alice.net"})
    assert response.headers["fly-replay"] == "app=ah-t0000001"
    assert (path.read_bytes()[:2] == b"\x1f\x8b") is compress


def doc(hosts: Any = None, **top: Any) -> bytes:
    return json.dumps({"version": 1, "digest": "d", "hosts": HOSTS if hosts is None else hosts, **top}).encode()


LONG_HOST = "evil-" + "x" * 5000 + "\nsecond line"
BAD_MAPS = [
    pytest.param(doc(version=2), "version must be 1, got 2", id="wrong-version"),
    pytest.param(doc(version="1"), 'version must be 1, got "1"', id="version-as-string"),
    pytest.param(json.dumps({"digest": "d", "hosts": {}}).encode(), "version must be 1, got none", id="no-version"),
    pytest.param(
        doc({"a.example.com": {"app": "AH_T1"}}),
        'host "a.example.com": app "AH_T1" is not a Fly app name',
        id="bad-app",
    ),
    pytest.param(doc({"a.example.com": {"app": "a" * 64}}), "is not a Fly app name", id="app-too-long"),
    pytest.param(doc({"a.example.com": {"app": "-ah"}}), 'app "-ah" is not a Fly app name', id="app-leading-hyphen"),
    pytest.param(doc({"a.example.com": {}}), 'host "a.example.com": app none', id="no-app"),
    pytest.param(
        doc({"a.example.com": {"app": "ah-1", "state": "paused"}}), 'unknown state "paused"', id="unknown-state"
    ),
    pytest.param(
        doc({"a.example.com": {"app": "ah-1", "state": "active"}}), 'unknown state "active"', id="state-active"
    ),
    pytest.param(
        doc({"a.example.com": {"app": "ah-1", "state": "cancelled", "exportUntil": "2026-02-30"}}),
        'exportUntil "2026-02-30" is not a YYYY-MM-DD date',
        id="impossible-date",
    ),
    pytest.param(
        doc({"a.example.com": {"app": "ah-1", "state": "cancelled", "exportUntil": "31/12/2026"}}),
        'exportUntil "31/12/2026" is not a YYYY-MM-DD date',
        id="bad-date-format",
    ),
    pytest.param(
        doc({"a.example.com": {"app": "ah-1", "state": "cancelled", "exportUntil": 20261231}}),
        "exportUntil 20261231 is not a YYYY-MM-DD date",
        id="date-as-number",
    ),
    pytest.param(
        doc({"a.example.com": {"app": "ah-1", "state": "suspended", "exportUntil": "2026-12-31"}}),
        "exportUntil is only for cancelled hosts",
        id="date-not-cancelled",
    ),
    pytest.param(
        doc({"a.example.com": {"app": "ah-1", "owner": "x"}}),
        'host "a.example.com": unknown key "owner"',
        id="extra-key",
    ),
    pytest.param(
        doc({"A.example.com": {"app": "ah-1"}}), 'host "A.example.com" is not a lowercase DNS name', id="uppercase"
    ),
    pytest.param(doc({"a.example.com.": {"app": "ah-1"}}), "is not a lowercase DNS name", id="trailing-dot"),
    pytest.param(doc({"a_b.example.com": {"app": "ah-1"}}), "is not a lowercase DNS name", id="underscore"),
    pytest.param(
        doc({"a.example.com": "ah-1"}), 'host "a.example.com": must be an object, got "ah-1"', id="entry-string"
    ),
    pytest.param(doc([]), "hosts must be an object, got an array", id="hosts-array"),
    pytest.param(doc(digest=""), "digest must be a non-empty string", id="empty-digest"),
    pytest.param(doc(extra=1), 'unknown key "extra"', id="unknown-top-key"),
    pytest.param(b'{"version": 1, "hosts": {', "not JSON", id="not-json"),
    pytest.param(b"", "not JSON", id="empty-file"),
    pytest.param(gzip.compress(doc())[:40], "not valid gzip", id="truncated-gzip"),
    pytest.param(b"\x1f\x8bnot gzip at all", "not valid gzip", id="gzip-magic-garbage"),
    pytest.param(b'{"version": 1, "digest": "\xff", "hosts": {}}', "not JSON", id="not-utf8"),
    pytest.param(doc({LONG_HOST: {"app": "ah-1"}}), 'host "evil-xxxx', id="long-hostile-host"),
]


@pytest.mark.parametrize("content, problem", BAD_MAPS)
def test_a_bad_map_at_startup_exits_with_one_line_naming_the_file_and_problem(
    map_path: Path, content: bytes, problem: str
) -> None:
    write_bytes(map_path, content)

    result = run_until_exit(map_path)

    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"edge: cannot start: map {map_path}: "), lines[0]
    assert problem in lines[0], lines[0]
    assert len(lines[0]) < 300 + len(str(map_path)), lines[0]


def test_a_missing_map_at_startup_exits_naming_the_file(map_path: Path) -> None:
    result = run_until_exit(map_path)

    assert result.returncode == 1
    assert result.stderr.strip() == f"edge: cannot start: map {map_path}: cannot be read (ENOENT)"


def test_a_malformed_setting_exits_naming_the_variable(map_path: Path) -> None:
    write_bytes(map_path, doc())

    result = run_until_exit(map_path, {"PORT": "80a"})

    assert result.returncode == 2
    assert result.stderr.strip() == 'edge: cannot start: PORT must be a whole number from 1 to 65535, got "80a"'
