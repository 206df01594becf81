"""moto's S3 server with CORS enforced the way R2 enforces it, for tests that upload from a real browser.

moto's server normally answers every request with permissive CORS headers (flask-cors on the whole
app), which would let any origin upload. With `MOTO_DISABLE_GLOBAL_CORS` set it answers preflights and
requests only from the bucket's own CORS configuration (PutBucketCors): an origin no rule names gets a
403 preflight, so the browser refuses the upload. The setting is read when moto is imported, so the
server runs in its own process (its own store, too: nothing leaks to or from the in-process moto).

    with cors_enforcing_s3() as endpoint:
        client = s3_client(endpoint)
        client.create_bucket(Bucket="alex-acme000001")
        put_cors(client, "alex-acme000001", cors_rules(["http://127.0.0.1:8123"]))
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from components.storage import CorsRule, s3_cors_configuration
from tests.support import servers
from tests.support.servers import free_port

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# moto accepts any credentials; these only make boto3 sign.
TEST_KEY_ID = "test-key-id"
TEST_SECRET = "test-secret-key"
STARTUP_SECONDS = 20.0


@contextmanager
def cors_enforcing_s3() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1 that enforces bucket CORS; yields its endpoint, stops it after."""
    port = free_port()
    env = {**os.environ, "MOTO_DISABLE_GLOBAL_CORS": "true"}
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        if process.stderr is not None:
            process.stderr.close()


def _wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            err = process.stderr.read().decode("utf-8", "replace") if process.stderr else ""
            raise RuntimeError(f"moto's S3 server exited with {process.returncode}: {err[-2000:]}")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"moto's S3 server did not listen on 127.0.0.1:{port} within {STARTUP_SECONDS:.0f} s")


def s3_client(endpoint: str) -> S3Client:
    return servers.s3_client(endpoint, TEST_KEY_ID, TEST_SECRET)


def put_cors(client: S3Client, bucket: str, rules: Sequence[CorsRule]) -> None:
    """The bucket's CORS configuration from the same rules the Tenant component declares on R2."""
    client.put_bucket_cors(Bucket=bucket, CORSConfiguration=s3_cors_configuration(rules))  # type: ignore[arg-type]
