"""A stand-in for Alex's web server (the Next.js app) on 127.0.0.1, for the companion's tests.

It has what the companion relies on: NextAuth's `GET /api/auth/session` (the user for a valid session
cookie, `{}` otherwise), a login page whose form sets that cookie, pages behind the sign-in, redirects,
several Set-Cookie headers, an echo of the request, and the library's server-sent events.

    with AlexWeb() as alex:
        alex.url  # http://127.0.0.1:<port>
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import json
import secrets
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

EMAIL = "reader@example.com"
PASSWORD = "correct-horse-42"
COOKIE = "authjs.session-token"
EVENT_INTERVAL = 0.1

LOGIN_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Sign in</title></head><body>
<h1>Sign in to Alex</h1>{error}
<form id="login-form" method="post" action="/login">
<input type="hidden" name="callbackUrl" value="{callback}">
<label>Email <input id="email" name="email" type="email"></label>
<label>Password <input id="password" name="password" type="password"></label>
<button id="login-submit" type="submit">Sign in</button>
</form></body></html>
"""


class AlexWeb:
    """Sessions are random tokens held in memory; `library` (optional) is listed on the home page, one book per
    distinct content (Alex skips a file whose SHA-256 it already holds: watcher-rs/src/handlers/add.rs)."""

    def __init__(self, library: Path | None = None, port: int = 0) -> None:
        self.sessions: set[str] = set()
        self.library = library
        self.session_checks = 0
        self.event_streams_closed = 0
        self._connections: set[socket.socket] = set()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def send_body(
                self, status: int, body: bytes, content_type: str, headers: tuple[tuple[str, str], ...] = ()
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers:
                    self.send_header(name, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def redirect(self, status: int, location: str, headers: tuple[tuple[str, str], ...] = ()) -> None:
                self.send_body(status, b"", "text/plain", (("Location", location), *headers))

            def signed_in(self) -> bool:
                for part in (self.headers.get("Cookie") or "").split(";"):
                    name, _, value = part.strip().partition("=")
                    if name == COOKIE and value in outer.sessions:
                        return True
                return False

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                query = parse_qs(url.query)
                if url.path == "/api/auth/session":
                    outer.session_checks += 1
                    answer = {"user": {"email": EMAIL, "name": "Reader"}, "expires": "2099-01-01T00:00:00.000Z"}
                    body = json.dumps(answer if self.signed_in() else {}).encode()
                    self.send_body(200, body, "application/json")
                elif url.path == "/login":
                    callback = html.escape(query.get("callbackUrl", ["/"])[0])
                    self.send_body(
                        200, LOGIN_PAGE.format(error="", callback=callback).encode(), "text/html; charset=utf-8"
                    )
                elif url.path == "/api/library/events":
                    self.events(int(query.get("count", ["50"])[0]))
                elif url.path == "/set-cookies":
                    cookies = [("Set-Cookie", "first=1; Path=/"), ("Set-Cookie", "second=2; Path=/; HttpOnly")]
                    self.send_body(200, b"two cookies\n", "text/plain", tuple(cookies))
                elif url.path == "/redirect":
                    self.redirect(307, "https://reader.example.com/elsewhere?x=1")
                elif url.path == "/echo":
                    self.echo()
                elif url.path == "/":
                    if not self.signed_in():
                        self.redirect(307, "/login?callbackUrl=%2F")
                        return
                    books = outer.books()
                    items = "".join(f'<li class="book">{html.escape(b)}</li>' for b in books)
                    page = f'<!doctype html><title>Library</title><h1>Library</h1><ul id="books">{items}</ul>'
                    self.send_body(200, page.encode(), "text/html; charset=utf-8")
                else:
                    self.send_body(404, b"not found\n", "text/plain")

            do_HEAD = do_GET

            def do_POST(self) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if url.path == "/echo":
                    self.echo(body)
                    return
                if url.path != "/login":
                    self.send_body(404, b"not found\n", "text/plain")
                    return
                form = parse_qs(body.decode())
                callback = form.get("callbackUrl", ["/"])[0]
                if not callback.startswith("/") or callback.startswith("//"):
                    callback = "/"
                if form.get("email", [""])[0] == EMAIL and form.get("password", [""])[0] == PASSWORD:
                    token = outer.new_session()
                    self.redirect(303, callback, (("Set-Cookie", f"{COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax"),))
                else:
                    error = '<p id="login-error">Invalid email or password</p>'
                    page = LOGIN_PAGE.format(error=error, callback=html.escape(callback))
                    self.send_body(401, page.encode(), "text/html; charset=utf-8")

            def echo(self, body: bytes = b"") -> None:
                seen = {"method": self.command, "path": self.path, "headers": [[k, v] for k, v in self.headers.items()]}
                seen["body"] = body.decode("utf-8", "replace")
                self.send_body(200, json.dumps(seen).encode(), "application/json")

            def events(self, count: int) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache, no-transform")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                try:
                    for n in range(count):
                        self.wfile.write(
                            f"event: library\ndata: {json.dumps({'n': n, 'at': time.time()})}\n\n".encode()
                        )
                        self.wfile.flush()
                        time.sleep(EVENT_INTERVAL)
                except (BrokenPipeError, ConnectionResetError):
                    outer.event_streams_closed += 1

            def setup(self) -> None:
                super().setup()
                outer._connections.add(self.connection)

            def finish(self) -> None:
                outer._connections.discard(self.connection)
                super().finish()

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread: threading.Thread | None = None

    def books(self) -> list[str]:
        """The library page's books: like Alex's watcher, a file whose SHA-256 it already holds is skipped."""
        if self.library is None:
            return []
        seen: dict[str, str] = {}
        for path in sorted(p for p in self.library.iterdir() if not p.name.startswith(".") and p.is_file()):
            seen.setdefault(hashlib.sha256(path.read_bytes()).hexdigest(), path.name)
        return sorted(seen.values())

    def new_session(self) -> str:
        """A signed-in session's cookie value (what the login form sets)."""
        token = secrets.token_urlsafe(24)
        self.sessions.add(token)
        return token

    def cookie_header(self) -> str:
        return f"{COOKIE}={self.new_session()}"

    def start(self) -> AlexWeb:
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Like the process dying: the listener and every open connection (kept-alive ones too) close."""
        self._server.shutdown()
        self._server.server_close()
        for connection in list(self._connections):
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> AlexWeb:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
