"""Benchmark: what the tenant companion holds in memory through a reading session.

Run: `.venv/bin/python -m bench.memory [--epub-mb 60] [--pdf-mb 200] [--books 200]`. Needs node and
`npm ci --prefix image/companion`. The companion runs as its own process in front of a stand-in Alex that
serves a library page of `--books` books, their covers, the library's event stream, and book files with
Range support (as Alex serves them from the volume). The session: the library page and every cover, a
large EPUB read whole (epub.js fetches the file), a large PDF read in 64 KiB ranges (pdf.js), two tabs'
event streams open throughout. VmRSS is sampled every 10 ms; VmHWM is the kernel's peak.

Alex itself cannot run here: the figures for Alex and its watcher are the ones measured on the real
image (docs/design.md, "Memory").
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from bench.companion import Sampler, mib
from tests.companion.harness import CompanionEnv, rss_kib, start_companion
from tests.support.servers import start_moto

MiB = 1024 * 1024
RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")
CHUNK = 64 * 1024


def alex_stand_in(library: Path, books: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # Head and body go in two writes: without this, each answer waits out a delayed ACK.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def send(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (extra or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            if self.path == "/api/auth/session":
                self.send(200, b"{}", "application/json")
            elif self.path == "/":
                items = "".join(f'<li><img src="/api/books/{n}/cover">Book {n}</li>' for n in range(books))
                self.send(200, f"<!doctype html><ul>{items}</ul>".encode(), "text/html")
            elif self.path.endswith("/cover"):
                self.send(200, b"\xff\xd8" + bytes(30 * 1024), "image/jpeg")
            elif self.path.startswith("/api/library/events"):
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                try:
                    for n in range(600):
                        self.wfile.write(f"data: {n}\n\n".encode())
                        self.wfile.flush()
                        time.sleep(0.5)
                except OSError:
                    pass
            elif self.path.startswith("/api/books/file/"):
                self.file(library / self.path.rsplit("/", 1)[1])
            else:
                self.send(404, b"", "text/plain")

        def file(self, path: Path) -> None:
            size = path.stat().st_size
            match = RANGE.match(self.headers.get("Range", ""))
            first, last = (int(match[1]), int(match[2] or size - 1)) if match else (0, size - 1)
            self.send_response(206 if match else 200)
            self.send_header("Content-Length", str(last - first + 1))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            with path.open("rb") as source:
                source.seek(first)
                left = last - first + 1
                while left:
                    chunk = source.read(min(left, MiB))
                    self.wfile.write(chunk)
                    left -= len(chunk)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.memory")
    parser.add_argument("--epub-mb", type=int, default=60)
    parser.add_argument("--pdf-mb", type=int, default=200)
    parser.add_argument("--books", type=int, default=200)
    args = parser.parse_args(argv)
    moto, endpoint = start_moto()
    with tempfile.TemporaryDirectory() as tmp:
        library = Path(tmp) / "library"
        library.mkdir()
        for name, megabytes in (("Large.epub", args.epub_mb), ("Large.pdf", args.pdf_mb)):
            with (library / name).open("wb") as out:
                for _ in range(megabytes):
                    out.write(os.urandom(MiB))
        alex = alex_stand_in(library, args.books)
        env = CompanionEnv(f"http://127.0.0.1:{alex.server_address[1]}", endpoint, "bench", library)
        companion = start_companion(env, Path(tmp) / "companion.log")
        try:
            idle = rss_kib(companion.pid)
            print(f"idle:                VmRSS {mib(idle['VmRSS'])}")
            stop = threading.Event()

            def tab() -> None:
                with httpx.stream("GET", f"{companion.url}/api/library/events", timeout=60) as stream:
                    for _ in stream.iter_lines():
                        if stop.is_set():
                            break

            tabs = [threading.Thread(target=tab, daemon=True) for _ in range(2)]
            for thread in tabs:
                thread.start()
            with Sampler(companion.pid) as sampler, httpx.Client(base_url=companion.url, timeout=120) as client:
                started = time.monotonic()
                assert client.get("/").status_code == 200
                for n in range(args.books):
                    assert client.get(f"/api/books/{n}/cover").status_code == 200
                library_done = time.monotonic()
                with client.stream("GET", "/api/books/file/Large.epub") as answer:
                    epub = sum(len(chunk) for chunk in answer.iter_bytes())
                epub_done = time.monotonic()
                pdf = 0
                size = args.pdf_mb * MiB
                for first in range(0, size, CHUNK):
                    answer = client.get(
                        "/api/books/file/Large.pdf", headers={"Range": f"bytes={first}-{min(first + CHUNK, size) - 1}"}
                    )
                    pdf += len(answer.content)
                pdf_done = time.monotonic()
            stop.set()
            after = rss_kib(companion.pid)
            print(f"library page + {args.books} covers: {library_done - started:.2f} s")
            print(f"EPUB {epub / 1e6:.0f} MB whole:  {epub_done - library_done:.2f} s")
            print(f"PDF {pdf / 1e6:.0f} MB in {size // CHUNK} ranges: {pdf_done - epub_done:.2f} s")
            print(f"session peak VmRSS:  {mib(sampler.peak)}")
            print(f"after:               VmRSS {mib(after['VmRSS'])}, VmHWM {mib(after['VmHWM'])}")
        finally:
            companion.stop()
            alex.shutdown()
    moto.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
