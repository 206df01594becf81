"""A malformed or missing setting stops the companion at start with one line naming it (exit 2)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.companion.harness import R2_SECRET, SERVER_JS, CompanionEnv, require_node
from tests.support.servers import free_port


def run_with(tmp_path: Path, **changes: str | None) -> subprocess.CompletedProcess[str]:
    node = require_node()
    env = CompanionEnv("http://127.0.0.1:9", "http://127.0.0.1:9", "alex-test", tmp_path).environ(free_port())
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return subprocess.run([node, str(SERVER_JS)], env=env, capture_output=True, text=True, timeout=10)


@pytest.mark.parametrize(
    ("name", "value", "line"),
    [
        ("COMPANION_PORT", "http", 'companion: COMPANION_PORT must be a whole number, got "http"'),
        ("COMPANION_PORT", "0", "companion: COMPANION_PORT must be between 1 and 65535, got 0"),
        ("COMPANION_PORT", "70000", "companion: COMPANION_PORT must be between 1 and 65535, got 70000"),
        ("COMPANION_PORT", "080", 'companion: COMPANION_PORT must be a whole number, got "080"'),
        ("STORAGE_QUOTA_BYTES", "5GB", 'companion: STORAGE_QUOTA_BYTES must be a whole number, got "5GB"'),
        ("STORAGE_QUOTA_BYTES", "-1", 'companion: STORAGE_QUOTA_BYTES must be a whole number, got "-1"'),
        ("STORAGE_QUOTA_BYTES", "1e9", 'companion: STORAGE_QUOTA_BYTES must be a whole number, got "1e9"'),
        ("UPLOAD_MAX_BYTES", "0", "companion: UPLOAD_MAX_BYTES must be between 1 and 5368709120, got 0"),
        (  # complete copies a book into books/ with one CopyObject: at most 5 GiB
            "UPLOAD_MAX_BYTES",
            "5368709121",
            "companion: UPLOAD_MAX_BYTES must be between 1 and 5368709120, got 5368709121",
        ),
        ("UPLOAD_MAX_BYTES", " 10", 'companion: UPLOAD_MAX_BYTES must be a whole number, got " 10"'),
        ("PRESIGN_TTL_SECONDS", "30", "companion: PRESIGN_TTL_SECONDS must be between 60 and 3600, got 30"),
        # A URL writes until it expires: a day-long one would keep staging/ and the quota busy all day.
        ("PRESIGN_TTL_SECONDS", "86400", "companion: PRESIGN_TTL_SECONDS must be between 60 and 3600, got 86400"),
        ("PRESIGN_TTL_SECONDS", "1.5", 'companion: PRESIGN_TTL_SECONDS must be a whole number, got "1.5"'),
        (
            "UPLOAD_PART_BYTES",
            "1048576",
            "companion: UPLOAD_PART_BYTES must be between 5242880 and 5368709120, got 1048576",
        ),
        ("ALEX_URL", "127.0.0.1:3001", "companion: ALEX_URL is not a URL"),
        (
            "ALEX_URL",
            "ftp://127.0.0.1",
            "companion: ALEX_URL must be a plain http(s) URL without credentials, query or fragment",
        ),
        ("R2_ENDPOINT", "not a url", "companion: R2_ENDPOINT is not a URL"),
        (
            "R2_ENDPOINT",
            "https://key:secret@r2.example",
            "companion: R2_ENDPOINT must be a plain http(s) URL without credentials, query or fragment",
        ),
        ("R2_BUCKET", "Bad_Bucket", "companion: R2_BUCKET is not a valid bucket name"),
        ("R2_BUCKET", None, "companion: R2_BUCKET is not set"),
        ("R2_ENDPOINT", None, "companion: R2_ENDPOINT is not set"),
        ("R2_ACCESS_KEY_ID", "", "companion: R2_ACCESS_KEY_ID is not set"),
        ("R2_SECRET_ACCESS_KEY", None, "companion: R2_SECRET_ACCESS_KEY is not set"),
        ("LIBRARY_PATH", None, "companion: LIBRARY_PATH is not set"),
        # Presigned URLs must never write where the backup or the image reads.
        *(
            (
                "UPLOAD_STAGING_PREFIX",
                bad,
                "companion: UPLOAD_STAGING_PREFIX must be a folder of its own such as staging/",
            )
            for bad in ("books/", "covers/", "status/", "db/", "staging", "../staging/", "Staging/", "a/b/", "/")
        ),
    ],
)
def test_bad_setting_stops_the_start_naming_it(tmp_path: Path, name: str, value: str | None, line: str) -> None:
    result = run_with(tmp_path, **{name: value})
    assert result.returncode == 2
    assert result.stderr == line + "\n"
    assert result.stdout == ""
    assert R2_SECRET not in result.stderr


def test_a_long_bad_value_is_cut_in_the_message(tmp_path: Path) -> None:
    result = run_with(tmp_path, UPLOAD_MAX_BYTES="x" * 500)
    assert result.returncode == 2
    assert result.stderr == f'companion: UPLOAD_MAX_BYTES must be a whole number, got "{"x" * 40}"\n'
