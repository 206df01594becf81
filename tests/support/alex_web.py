"""A stand-in for Alex's web server (the Next.js app) on 127.0.0.1, for the companion's tests.

It has what the companion relies on: NextAuth's `GET /api/auth/session` (the user for a valid session
cookie, `{}` otherwise), a login page whose form sets that cookie, pages behind the sign-in, redirects,
several Set-Cookie headers, an echo of the request, and the library's server-sent events.

Its sign-in is Alex 0.6.0's as far as the companion can tell (tests/support/nextauth_jwt.py has the token
format):
- the credentials check reads the users table of a real SQLite file (`db`, Alex's layout from
  tests/image/alex_db.py, next to the library like /app/data/library.db) and matches the email exactly
  (`WHERE email = ?1`, src/lib/auth/config.ts);
- sessions are stateless: an encrypted NextAuth JWT, valid 30 days, re-issued (new iat and jti) on every
  request that reads it; signing out only clears the cookie, deleting a user only deletes the row;
- the login page ignores `callbackUrl` and always goes to `/library` (src/app/(auth)/login/page.tsx);
- the sign-out answer points at NEXTAUTH_URL's origin (`nextauth_url`), whatever host was asked.

    with AlexWeb() as alex:
        alex.url  # http://127.0.0.1:<port>
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import json
import socket
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.image import alex_db
from tests.support import nextauth_jwt

EMAIL = "reader@example.com"
PASSWORD = "correct-horse-42"
USER_ID = "u-reader"
SECRET = "alex-web-nextauth-secret-3c4d"
EVENT_INTERVAL = 0.1

LOGIN_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Sign in</title></head><body>
<h1>Sign in to Alex</h1>{error}
<form id="login-form" method="post" action="/login">
<label>Email <input id="email" name="email" type="email"></label>
<label>Password <input id="password" name="password" type="password"></label>
<button id="login-submit" type="submit">Sign in</button>
</form></body></html>
"""


# What next-auth/react's signOut() does in the library page: POST, then go where the JSON answer says.
LIBRARY_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Library</title></head><body>
<h1>{title}</h1><ul id="books">{items}</ul>
<nav aria-label="Primary navigation"><a href="/library">Library</a> <a href="/collections">Collections</a>
<button id="sign-out" type="button">Sign out</button></nav>
<script>
document.getElementById("sign-out").addEventListener("click", async () => {{
  const answer = await fetch("/api/auth/signout", {{method: "POST", headers: {{"X-Auth-Return-Redirect": "1",
    "Content-Type": "application/x-www-form-urlencoded"}}, body: "callbackUrl=%2Flogin"}});
  window.location.href = (await answer.json()).url;
}});
</script></body></html>
"""


class AlexWeb:
    """`library` (optional) is listed on the library page; `db` is Alex's database (default: next to the
    library, else a temporary file) with the reader EMAIL/PASSWORD in it; `nextauth_url` is Alex's
    NEXTAUTH_URL (its origin is where sign-out sends the browser; https makes the cookie __Secure-)."""

    def __init__(
        self, library: Path | None = None, port: int = 0, db: Path | None = None, nextauth_url: str | None = None
    ) -> None:
        self.library = library
        self._tmp = None if db or library else tempfile.TemporaryDirectory()
        self.db = db or (library.parent if library else Path(self._tmp.name)) / "library.db"  # type: ignore[union-attr]
        self.nextauth_url = nextauth_url
        self.cookie = nextauth_jwt.cookie_name(nextauth_url)
        conn = alex_db.create(self.db)
        found = conn.execute("SELECT id FROM users WHERE email = ?", (EMAIL,)).fetchone()
        if not found:
            alex_db.add_user(conn, USER_ID, EMAIL, PASSWORD)
        # The reader's id: USER_ID, unless a database made elsewhere (an image test's) already has them.
        self.user_id: str = found[0] if found else USER_ID
        conn.close()
        self.session_checks = 0
        self.sign_outs = 0
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

            def session(self) -> dict[str, Any] | None:
                """The token's payload if it is one of ours and not expired: Alex looks at nothing else."""
                for part in (self.headers.get("Cookie") or "").split(";"):
                    name, _, value = part.strip().partition("=")
                    if name == outer.cookie:
                        return nextauth_jwt.decode(value, SECRET, outer.cookie)
                return None

            def refreshed(self, payload: dict[str, Any]) -> tuple[tuple[str, str], ...]:
                """NextAuth re-issues the token (new iat, exp and jti) whenever it reads a session."""
                return (("Set-Cookie", outer.set_cookie(nextauth_jwt.encode(payload, SECRET, outer.cookie))),)

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                query = parse_qs(url.query)
                payload = self.session()
                if url.path == "/api/auth/session":
                    outer.session_checks += 1
                    if payload is None:
                        self.send_body(200, b"{}", "application/json")
                        return
                    user = {k: payload.get(k) for k in ("id", "email", "name", "role", "displayName")}
                    body = json.dumps({"user": user, "expires": "2099-01-01T00:00:00.000Z"}).encode()
                    self.send_body(200, body, "application/json", self.refreshed(payload))
                elif url.path == "/login":
                    self.send_body(200, LOGIN_PAGE.format(error="").encode(), "text/html; charset=utf-8")
                elif url.path == "/api/books":
                    if payload is None:
                        self.send_body(401, b'{"error":"Unauthorized"}', "application/json")
                    else:
                        self.send_body(
                            200, json.dumps(outer.books()).encode(), "application/json", self.refreshed(payload)
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
                elif url.path in ("/", "/library", "/collections"):
                    if payload is None:  # Alex's middleware: to /login, with no callbackUrl
                        self.redirect(307, "/login")
                    elif url.path == "/":
                        self.redirect(307, "/library")
                    else:
                        items = "".join(f'<li class="book">{html.escape(b)}</li>' for b in outer.books())
                        title = "Library" if url.path == "/library" else "Collections"
                        page = LIBRARY_PAGE.format(title=title, items=items)
                        self.send_body(200, page.encode(), "text/html; charset=utf-8", self.refreshed(payload))
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
                if url.path == "/api/auth/signout":
                    self.sign_out()
                    return
                if url.path != "/login":
                    self.send_body(404, b"not found\n", "text/plain")
                    return
                form = parse_qs(body.decode())
                user_id = alex_db.sign_in(outer.db, form.get("email", [""])[0], form.get("password", [""])[0])
                if user_id is not None:
                    # Whatever callbackUrl said: Alex's login page always goes to /library.
                    self.redirect(303, "/library", (("Set-Cookie", outer.set_cookie(outer.new_session(user_id))),))
                else:
                    error = '<p id="login-error">Invalid email or password</p>'
                    self.send_body(401, LOGIN_PAGE.format(error=error).encode(), "text/html; charset=utf-8")

            def sign_out(self) -> None:
                """NextAuth's sign-out: the cookie is cleared (the token itself stays valid), and the browser
                is sent to /login on NEXTAUTH_URL's origin (JSON for next-auth/react's fetch)."""
                outer.sign_outs += 1
                origin = outer.nextauth_url or f"http://{self.headers.get('Host')}"
                target = f"{urlsplit(origin).scheme}://{urlsplit(origin).netloc}/login"
                clear = (("Set-Cookie", f"{outer.cookie}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"),)
                if self.headers.get("X-Auth-Return-Redirect") == "1":
                    self.send_body(200, json.dumps({"url": target}).encode(), "application/json", clear)
                else:
                    self.redirect(302, target, clear)

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

    def new_session(self, user_id: str | None = None, now: float | None = None) -> str:
        """A signed-in session's cookie value (what the login form sets) for a user of the database."""
        user_id = user_id or self.user_id
        with alex_db.connect(self.db) as conn:
            row = conn.execute("SELECT email, display_name, role FROM users WHERE id = ?", (user_id,)).fetchone()
        assert row, f"no user {user_id} in {self.db}"
        email, name, role = row
        claims = {"name": name, "email": email, "sub": user_id, "id": user_id, "role": role, "displayName": name}
        return nextauth_jwt.encode(claims, SECRET, self.cookie, now=now)

    def set_cookie(self, token: str) -> str:
        secure = "; Secure" if self.cookie.startswith("__Secure-") else ""
        return f"{self.cookie}={token}; Path=/; HttpOnly; SameSite=Lax{secure}"

    def cookie_header(self, user_id: str | None = None) -> str:
        return f"{self.cookie}={self.new_session(user_id)}"

    def add_user(self, user_id: str, email: str, password: str) -> None:
        conn = alex_db.connect(self.db)
        alex_db.add_user(conn, user_id, email, password)
        conn.close()

    def delete_user(self, user_id: str) -> None:
        """What Alex's admin does to remove a user: the row goes; its tokens stay valid to Alex."""
        conn = alex_db.connect(self.db)
        conn.execute("DELETE FROM users WHERE id = ?", (user_id,))
        conn.close()

    def companion_env(self) -> dict[str, str]:
        """What the companion shares with this Alex: the secret, the database, NEXTAUTH_URL."""
        env = {"NEXTAUTH_SECRET": SECRET, "DATABASE_PATH": str(self.db)}
        if self.nextauth_url:
            env["NEXTAUTH_URL"] = self.nextauth_url
        return env

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
        if self._tmp is not None:  # the database made for this Alex alone
            self._tmp.cleanup()
