"""Alex's SQLite layout as far as the entrypoint touches it, for building and reading test databases.

The schema mirrors the columns and foreign keys of Alex 0.6.0 that matter here (users, books, reading
progress, collections); it is written for the tests, not copied from Alex.
"""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path

import bcrypt

DEFAULT_ADMIN_EMAIL = "admin@localhost"
DEFAULT_ADMIN_PASSWORD = "admin123"

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY NOT NULL, email TEXT NOT NULL, password_hash TEXT NOT NULL,
    display_name TEXT NOT NULL, role TEXT DEFAULT 'user' NOT NULL,
    created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS users_email_unique ON users (email);
CREATE TABLE IF NOT EXISTS books (
    id TEXT PRIMARY KEY NOT NULL, title TEXT NOT NULL, file_type TEXT NOT NULL,
    file_path TEXT NOT NULL, file_size INTEGER NOT NULL, file_hash TEXT NOT NULL,
    added_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, cover_path TEXT);
CREATE TABLE IF NOT EXISTS collections (
    id TEXT PRIMARY KEY NOT NULL, user_id TEXT NOT NULL REFERENCES users (id), name TEXT NOT NULL,
    created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS collection_books (
    collection_id TEXT NOT NULL REFERENCES collections (id),
    book_id TEXT NOT NULL REFERENCES books (id) ON DELETE CASCADE,
    added_at INTEGER NOT NULL, PRIMARY KEY (collection_id, book_id));
CREATE TABLE IF NOT EXISTS reading_progress (
    id TEXT PRIMARY KEY NOT NULL, user_id TEXT NOT NULL REFERENCES users (id),
    book_id TEXT NOT NULL REFERENCES books (id) ON DELETE CASCADE,
    percent_complete REAL DEFAULT 0 NOT NULL, last_read_at INTEGER);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL,
    updated_at INTEGER NOT NULL);
"""


def connect(path: Path) -> sqlite3.Connection:
    """Opens the database the way Alex's watcher does: WAL, foreign keys on, a busy timeout."""
    conn = sqlite3.connect(path, timeout=10, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def create(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = connect(path)
    conn.executescript(SCHEMA)
    return conn


def add_user(conn: sqlite3.Connection, user_id: str, email: str, password: str, role: str = "user") -> str:
    pw_hash = bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()
    now = int(time.time())
    conn.execute("INSERT INTO users VALUES (?, ?, ?, ?, ?, ?, ?)", (user_id, email, pw_hash, email, role, now, now))
    return pw_hash


def add_book(
    conn: sqlite3.Connection,
    book_id: str,
    file_path: Path,
    file_hash: str | None = None,
    cover_path: Path | None = None,
) -> None:
    now = int(time.time())
    conn.execute(
        "INSERT INTO books (id, title, file_type, file_path, file_size, file_hash, added_at, updated_at, cover_path)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            book_id,
            file_path.stem,
            file_path.suffix.lstrip("."),
            str(file_path),
            1,
            file_hash or book_id,
            now,
            now,
            None if cover_path is None else str(cover_path),
        ),
    )


def add_progress(conn: sqlite3.Connection, user_id: str, book_id: str, percent: float) -> None:
    conn.execute(
        "INSERT INTO reading_progress (id, user_id, book_id, percent_complete) VALUES (?, ?, ?, ?)",
        (f"p-{user_id}-{book_id}", user_id, book_id, percent),
    )


def users(path: Path) -> dict[str, tuple[str, str, str]]:
    """email -> (id, password_hash, role)."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as conn:
        rows = conn.execute("SELECT email, id, password_hash, role FROM users").fetchall()
    return {email: (uid, pw_hash, role) for email, uid, pw_hash, role in rows}


def progress(path: Path) -> dict[tuple[str, str], float]:
    """(user email, book id) -> percent complete."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as conn:
        rows = conn.execute(
            "SELECT u.email, p.book_id, p.percent_complete FROM reading_progress p JOIN users u ON u.id = p.user_id"
        ).fetchall()
    return {(email, book): pct for email, book, pct in rows}


def password_ok(pw_hash: str, password: str) -> bool:
    return bcrypt.checkpw(password.encode(), pw_hash.encode())


# Alex's sign-in form refuses anything else before asking the server (src/app/(auth)/login/page.tsx).
_LOGIN_FORM_EMAIL = re.compile(r"^[^\s@]+@[^\s@]+$")


def sign_in(path: Path, email: str, password: str) -> str | None:
    """Alex 0.6.0's credentials check (src/lib/auth/config.ts `authorize`): the row whose email is exactly
    the typed text (`WHERE email = ?1`, SQLite's case-sensitive `=`), then bcrypt. The user's id, or None."""
    if not _LOGIN_FORM_EMAIL.match(email) or not password:
        return None
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as conn:
        row = conn.execute("SELECT id, password_hash FROM users WHERE email = ?1 LIMIT 1", (email,)).fetchone()
    return str(row[0]) if row and password_ok(row[1], password) else None


def assert_default_admin_invalid(path: Path) -> None:
    """admin@localhost / admin123 must not log in: the account is gone or has another password."""
    found = users(path).get(DEFAULT_ADMIN_EMAIL)
    assert found is None or not password_ok(found[1], DEFAULT_ADMIN_PASSWORD), (
        f"{path}: admin@localhost still logs in with admin123"
    )
