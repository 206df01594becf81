"""Runs the real companion (`node image/companion/server.js`) as a subprocess on 127.0.0.1, and uploads
through it as the page does.

Shared with the browser and image tests: `start_companion(...)` gives a running `Companion`;
`CompanionEnv` says what it is pointed at (the stand-in Alex of tests/support/alex_web.py, moto's S3
server as R2, usually behind tests/support/sigv4_proxy.py). `plan`, `send`, `complete` and `upload` are
the page's calls (image/companion/page/upload.js), over real HTTP.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support import alex_web, servers
from tests.support.node_process import NodeProcess, spawn, wait_healthy
from tests.support.requires import missing
from tests.support.servers import free_port

REPO = Path(__file__).resolve().parents[2]
COMPANION_DIR = REPO / "image" / "companion"
SERVER_JS = COMPANION_DIR / "server.js"
R2_KEY_ID = "companion-test-key-id"
R2_SECRET = "companion-test-secret-5e6f7a8b"


def require_node() -> str:
    """node and the companion's node_modules (`make setup` runs `npm ci --prefix image/companion`)."""
    node = shutil.which("node")
    problem = None
    if node is None:
        problem = "node is missing"
    elif not (COMPANION_DIR / "node_modules" / "aws4").is_dir():
        problem = "image/companion/node_modules is missing: run `npm ci --prefix image/companion` (make setup)"
    if problem:
        missing(problem)
    assert node is not None
    return node


# The companion as a running process: its url, port, log and stop().
Companion = NodeProcess


@dataclass
class CompanionEnv:
    alex_url: str
    r2_endpoint: str
    bucket: str
    library: Path
    extra: dict[str, str] = field(default_factory=dict)

    def environ(self, port: int) -> dict[str, str]:
        env = {
            "PATH": os.environ["PATH"],
            "COMPANION_PORT": str(port),
            "COMPANION_BIND": "127.0.0.1",
            "ALEX_URL": self.alex_url,
            "R2_ENDPOINT": self.r2_endpoint,
            "R2_BUCKET": self.bucket,
            "R2_ACCESS_KEY_ID": R2_KEY_ID,
            "R2_SECRET_ACCESS_KEY": R2_SECRET,
            "R2_REGION": "us-east-1",
            "LIBRARY_PATH": str(self.library),
            # Alex's: the stand-in's secret, and its database where Alex keeps it (next to the library).
            "NEXTAUTH_SECRET": alex_web.SECRET,
            "DATABASE_PATH": str(self.library.parent / "library.db"),
        }
        env.update(self.extra)
        return env


def start_companion(env: CompanionEnv, log_path: Path, *, wait: bool = True) -> Companion:
    port = free_port()
    proc, url = spawn(require_node(), SERVER_JS, env.environ(port), port, log_path)
    companion = Companion(proc=proc, url=url, port=port, log_path=log_path)
    if wait:
        wait_healthy(companion, "/_hosted/healthz", "companion")
    return companion


def rss_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in KiB, from /proc/<pid>/status."""
    figures: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            figures[name] = int(value.split()[0])
    return figures


def s3_client(endpoint: str) -> Any:
    return servers.s3_client(endpoint, R2_KEY_ID, R2_SECRET)


# --- uploading as the page does ---------------------------------------------------------------------

PDF = "application/pdf"
EPUB = "application/epub+zip"
API = "/_hosted/api/uploads"


def pdf_bytes(size: int) -> bytes:
    body = b"%PDF-1.7\n" + os.urandom(max(size - 9, 0))
    return body[:size]


def epub_bytes(compress_mimetype: bool = False) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        method = zipfile.ZIP_DEFLATED if compress_mimetype else zipfile.ZIP_STORED
        archive.writestr(zipfile.ZipInfo("mimetype"), "application/epub+zip", compress_type=method)
        archive.writestr("META-INF/container.xml", "<container/>" * 50, compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def plan(client: httpx.Client, name: str, size: int, type_: str = PDF) -> httpx.Response:
    # json.dumps escapes what UTF-8 cannot carry (a lone surrogate), as a browser's JSON.stringify does.
    body = json.dumps({"name": name, "size": size, "type": type_})
    return client.post(API, content=body, headers={"Content-Type": "application/json"})


def part_urls(client: httpx.Client, answer: dict[str, Any]) -> dict[int, str]:
    """Every part's URL: the plan hands out the first few, the rest are asked for three at a time."""
    urls = {part["partNumber"]: part["url"] for part in answer["parts"]}
    missing = [n for n in range(1, answer["partCount"] + 1) if n not in urls]
    for start in range(0, len(missing), 3):
        body = {"key": answer["key"], "uploadId": answer["uploadId"], "partNumbers": missing[start : start + 3]}
        fresh = client.post(f"{API}/parts", json=body)
        assert fresh.status_code == 200, fresh.text
        urls.update({part["partNumber"]: part["url"] for part in fresh.json()["parts"]})
    return urls


def send(client: httpx.Client, answer: dict[str, Any], data: bytes) -> None:
    """What the page does: one PUT with the planned type, or each part to its own URL."""
    if "uploadId" not in answer:
        put = httpx.put(answer["url"], content=data, headers={"Content-Type": answer["contentType"]})
        assert put.status_code == 200, put.text
        return
    size = answer["partSize"]
    for n, url in sorted(part_urls(client, answer).items()):
        put = httpx.put(url, content=data[(n - 1) * size : n * size])
        assert put.status_code == 200, put.text


def complete(client: httpx.Client, answer: dict[str, Any]) -> httpx.Response:
    return client.post(f"{API}/complete", json={"key": answer["key"], "uploadId": answer.get("uploadId")})


def upload(client: httpx.Client, name: str, data: bytes, type_: str = PDF) -> httpx.Response:
    planned = plan(client, name, len(data), type_)
    assert planned.status_code == 200, planned.text
    send(client, planned.json(), data)
    return complete(client, planned.json())
