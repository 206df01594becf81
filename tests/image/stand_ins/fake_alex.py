"""Stand-ins for Alex's node and watcher-rs that record what they were asked to do.

Run as `python -m tests.image.stand_ins.fake_alex node|watcher [args...]` from the wrappers the test
harness writes. Each appends JSON lines to $FAKE_EVENTS. Control files in $FAKE_CTL make them fail:
`watcher-crash-once` (the watcher exits once at start), `server-crash` (the server exits soon),
`companion-crash-once` (the companion stand-in exits once at start). The server answers HTTP on
HOSTNAME:PORT like Next's standalone server, so a real companion in front of it can proxy to it, and
like it only FAKE_ALEX_LISTEN_AFTER seconds (default 1.5) after it starts: on Fly the companion answered
1.3-2.1 s before Alex listened, at every boot.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType

import bcrypt

from tests.image import alex_db

SECRET_NAMES = ("R2_ACCESS_KEY_ID", "R2_SECRET_ACCESS_KEY", "OWNER_INITIAL_PASSWORD")


def record(who: str, event: str, **fields: object) -> None:
    line = {"who": who, "event": event, "t": time.time(), "pid": os.getpid(), **fields}
    with open(os.environ["FAKE_EVENTS"], "a", encoding="utf-8") as fh:
        fh.write(json.dumps(line) + "\n")


def control(name: str) -> Path:
    return Path(os.environ["FAKE_CTL"]) / name


def run_until_stopped(who: str, step: object = None) -> None:
    def on_term(signum: int, frame: FrameType | None) -> None:
        record(who, "stopped", signal=signum)
        sys.exit(0)

    signal.signal(signal.SIGTERM, on_term)
    while True:
        if callable(step):
            step()
        time.sleep(0.1)


def db_push() -> int:
    conn = alex_db.create(Path(os.environ["DATABASE_PATH"]))
    conn.close()
    record("node", "db-push")
    return 0


def hash_password() -> int:
    password = os.environ.get("OWNER_INITIAL_PASSWORD", "")
    record("node", "hash-password")
    if len(password) < 6:
        return 2
    print(bcrypt.hashpw(password.encode(), bcrypt.gensalt(10)).decode())
    return 0


# What Alex's cover route answers for a book without a cover file (src/app/api/books/[id]/cover/route.ts).
PLACEHOLDER_SVG = b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 200 300"><rect fill="#e2e8f0"/></svg>'
COVER_ROUTE = re.compile(r"^/api/books/([^/]+)/cover$")


def cover(book_id: str) -> tuple[str, bytes]:
    """Like Alex: the file the book's cover_path names, else the grey placeholder."""
    conn = alex_db.connect(Path(os.environ["DATABASE_PATH"]))
    try:
        row = conn.execute("SELECT cover_path FROM books WHERE id = ?", (book_id,)).fetchone()
    finally:
        conn.close()
    if row is None or row[0] is None or not Path(row[0]).is_file():
        return "image/svg+xml", PLACEHOLDER_SVG
    return "image/jpeg", Path(row[0]).read_bytes()


class AlexPages(BaseHTTPRequestHandler):
    """GET /login like Alex's sign-in page, a book's cover; records each request so a test sees what
    reached Alex."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        record("node", "http", path=self.path, forwarded_host=self.headers.get("X-Forwarded-Host"))
        content_type = "text/html"
        if self.path == "/login":
            status, body = 200, b"<title>Alex sign in (fake)</title>"
        elif match := COVER_ROUTE.match(self.path):
            status, (content_type, body) = 200, cover(match.group(1))
        else:
            status, body = 404, b"not found"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (http.server's name)
        pass


def serve_http() -> None:
    """Listens where Next would, HOSTNAME:PORT (when PORT is set), after Next's start-up time."""
    port = os.environ.get("PORT")
    if not port:
        return

    def listen() -> None:
        time.sleep(float(os.environ.get("FAKE_ALEX_LISTEN_AFTER", "1.5")))
        httpd = ThreadingHTTPServer((os.environ.get("HOSTNAME") or "127.0.0.1", int(port)), AlexPages)
        record("node", "listening")
        httpd.serve_forever()

    threading.Thread(target=listen, daemon=True).start()


def server() -> int:
    record(
        "node",
        "server-start",
        cwd=os.getcwd(),
        hostname=os.environ.get("HOSTNAME"),
        port=os.environ.get("PORT"),
        secrets=[n for n in SECRET_NAMES if n in os.environ],
    )
    if control("server-crash").exists():
        time.sleep(0.3)
        record("node", "server-crash")
        return 1
    serve_http()
    run_until_stopped("server")
    return 0


def companion() -> int:
    """Stands in for image/companion/server.js: records its start and environment, then runs."""
    record(
        "companion",
        "start",
        port=os.environ.get("COMPANION_PORT"),
        alex_url=os.environ.get("ALEX_URL"),
        uploads_dir=os.environ.get("HOSTED_UPLOADS_DIR"),
        staging_prefix=os.environ.get("UPLOAD_STAGING_PREFIX"),
        signouts_file=os.environ.get("HOSTED_SIGNOUTS_FILE"),
        database_path=os.environ.get("DATABASE_PATH"),
        secrets=[n for n in (*SECRET_NAMES, "NEXTAUTH_SECRET") if n in os.environ],
    )
    crash = control("companion-crash-once")
    if crash.exists():
        crash.unlink()
        record("companion", "crash")
        return 4
    run_until_stopped("companion")
    return 0


def node(argv: list[str]) -> int:
    if argv and Path(argv[0]).parent.name == "companion":
        return companion()
    script = Path(argv[0]).name if argv else ""
    handlers = {"db-push.js": db_push, "hash-password.cjs": hash_password, "server.js": server}
    if script not in handlers:
        record("node", "unexpected", argv=argv)
        return 1
    return handlers[script]()


def watcher() -> int:
    """Like watcher-rs: drops rows of books whose files are missing (and their covers), then indexes new
    files: one whose SHA-256 it holds is skipped (watcher-rs/src/handlers/add.rs), the others get a cover,
    COVERS_PATH/<book id>.jpg, drawn once and never again for a file it knows."""
    db_path = Path(os.environ["DATABASE_PATH"])
    library = Path(os.environ["LIBRARY_PATH"])
    conn = alex_db.connect(db_path)
    rows = conn.execute("SELECT id, file_path FROM books").fetchall()
    orphans = [book_id for book_id, path in rows if not Path(path).exists()]
    for (cover_path,) in conn.execute(
        f"SELECT cover_path FROM books WHERE cover_path IS NOT NULL AND id IN ({','.join('?' * len(orphans))})", orphans
    ):
        Path(cover_path).unlink(missing_ok=True)
    conn.executemany("DELETE FROM books WHERE id = ?", [(b,) for b in orphans])
    record("watcher", "start", orphans=orphans, secrets=[n for n in SECRET_NAMES if n in os.environ])
    crash = control("watcher-crash-once")
    if crash.exists():
        crash.unlink()
        record("watcher", "crash")
        return 3

    covers = Path(os.environ["COVERS_PATH"])
    skipped: set[Path] = set()

    def ingest() -> None:
        known = {p for (p,) in conn.execute("SELECT file_path FROM books")}
        for path in sorted(p for p in library.rglob("*") if p.is_file()):
            if str(path) in known or path in skipped or path.name.startswith(".hosted-upload-"):
                continue
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            twin = conn.execute("SELECT title FROM books WHERE file_hash = ?", (digest,)).fetchone()
            if twin is not None:
                skipped.add(path)
                record("watcher", "duplicate", path=str(path.relative_to(library)), of=twin[0])
                continue
            book_id = f"b-{path.name}"
            covers.mkdir(parents=True, exist_ok=True)
            # Alex's book ids are UUIDs, so are its cover names.
            cover_path = covers / f"{uuid.uuid5(uuid.NAMESPACE_URL, book_id)}.jpg"
            cover_path.write_bytes(b"\xff\xd8\xff\xe0 cover of " + digest.encode())
            alex_db.add_book(conn, book_id, path, digest, cover_path)
            record("watcher", "ingested", path=str(path.relative_to(library)))

    run_until_stopped("watcher", ingest)
    return 0


def main() -> int:
    role, argv = sys.argv[1], sys.argv[2:]
    return node(argv) if role == "node" else watcher()


if __name__ == "__main__":
    sys.exit(main())
