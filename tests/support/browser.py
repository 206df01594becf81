"""A real headless browser for the tests: Debian's Chromium driven by Python Playwright.

Use it from a test module by importing the fixtures (pytest finds fixtures imported into a module):

    from tests.support.browser import chromium, page, screenshot  # noqa: F401 - fixtures

    def test_the_page_greets_the_reader(page: Page, some_server: str) -> None:
        page.goto(f"{some_server}/_hosted/")
        expect(page.get_by_role("heading")).to_have_text("Add books")
        screenshot(page, "greeting")

- `chromium` (module-scoped): one browser per test module. It is Debian's
  `/usr/bin/chromium` (`ALEX_CHROMIUM` names another binary), launched with `executable_path`, so
  `playwright install` is never needed and never run: the pip package brings only its driver.
  Playwright gives every launch a fresh temporary profile (user-data dir) and deletes it on close.
  Missing Chromium or Playwright skips the test with what to install, except under `CI=true`, where it
  fails (`.ci/run` installs the Debian packages `chromium` and `fonts-dejavu-core`).
  Module, not session, scope: Playwright's sync API keeps its asyncio loop marked running in this
  thread until it stops, and Pulumi's mocks (tests/program) run loops of their own, so a browser left
  open for the session breaks whichever Pulumi test a worker runs next. Each module's tests share one
  browser (a launch takes about a second); it is closed when the module's last test is done.
- `page` (function-scoped): a fresh browser context (no cookies, storage or cache shared between
  tests) and one page in it, with a 15 s default timeout. The page's console messages and uncaught
  errors are printed at teardown, so a failing test shows what the page said.
- `screenshot(page, name)`: a full-page PNG in this test's folder under pytest's tmp dir
  (`<tmp_path>/screenshots/<NN>-<name>.png`), its path printed so it shows in the test output
  (`pytest -rP` shows it for passing tests too); returns the path.

Traffic stays on 127.0.0.1: the flags below switch off Chromium's own background calls (updates,
sync, field trials, QUIC), and tests point the page at local servers only.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn
from weakref import WeakKeyDictionary

import pytest

from tests.support.requires import missing

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ENV = "ALEX_CHROMIUM"
# What every launch passes (the project's rule for a browser that sends nothing off the machine).
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",  # root in CI: Chromium refuses its sandbox as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
DEFAULT_TIMEOUT_MS = 15_000
VIEWPORT = {"width": 1024, "height": 768}
INSTALL_HINT = "apt-get install chromium fonts-dejavu-core; pip install -r requirements-dev.txt"

_folders: WeakKeyDictionary[Page, tuple[Path, list[Path]]] = WeakKeyDictionary()


def chromium_path() -> Path | None:
    """The Chromium binary the tests launch, or None if there is none."""
    override = os.environ.get(CHROMIUM_ENV)
    if override:
        return Path(override) if os.access(override, os.X_OK) else None
    found = CHROMIUM if os.access(CHROMIUM, os.X_OK) else shutil.which("chromium")
    return Path(found) if found else None


def _unavailable(why: str) -> NoReturn:
    """Skips the test, or fails it under CI, where a missing browser is a broken setup."""
    missing(f"{why}; {INSTALL_HINT}")


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """One headless Debian Chromium for the module's tests (see the module docstring)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Python Playwright is not installed")
    executable = chromium_path()
    if executable is None:
        _unavailable(f"no Chromium at {os.environ.get(CHROMIUM_ENV) or CHROMIUM}")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(executable), headless=True, args=list(CHROMIUM_ARGS))
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(chromium: Browser, tmp_path: Path) -> Iterator[Page]:
    """A fresh context and page for one test; prints the page's console and errors at teardown."""
    context = chromium.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    new_page = context.new_page()
    said: list[str] = []
    new_page.on("console", lambda message: said.append(f"console.{message.type}: {message.text}"))
    new_page.on("pageerror", lambda error: said.append(f"page error: {error}"))
    _folders[new_page] = (tmp_path / "screenshots", [])
    try:
        yield new_page
    finally:
        if said:
            print("what the page said:\n  " + "\n  ".join(said))
        context.close()


def screenshot(page: Page, name: str) -> Path:
    """A full-page PNG of `page` in this test's screenshot folder; prints and returns its path."""
    if page not in _folders:  # a page this module's fixture did not make
        _folders[page] = (Path(os.environ.get("TMPDIR", "/tmp")) / "alex-screenshots", [])
    folder, taken = _folders[page]
    folder.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "page"
    path = folder / f"{len(taken) + 1:02d}-{slug}.png"
    page.screenshot(path=str(path), full_page=True)
    taken.append(path)
    print(f"screenshot: {path}")
    return path
