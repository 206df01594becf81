"""The shared browser harness (tests/support/browser.py): Debian's Chromium without `playwright install`."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.browser import chromium, page, screenshot  # noqa: F401 - fixtures

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_browser_harness_launches_debians_chromium_not_a_downloaded_one(chromium: Browser) -> None:  # noqa: F811
    assert chromium.browser_type.name == "chromium"
    assert chromium.version.split(".")[0].isdigit()
    assert chromium.is_connected()


def test_browser_harness_screenshot_writes_a_png_under_the_tests_tmp_dir_and_prints_it(
    page: Page,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    page.set_content("<h1>Add books</h1><p>Drop EPUB or PDF files here.</p>")
    expect(page.get_by_role("heading")).to_have_text("Add books")
    first = screenshot(page, "Add books!")
    second = screenshot(page, "again")
    assert first == tmp_path / "screenshots" / "01-add-books.png"
    assert second.name == "02-again.png"
    assert first.read_bytes().startswith(PNG_SIGNATURE)
    assert f"screenshot: {first}" in capsys.readouterr().out


def test_browser_harness_gives_each_test_a_fresh_context(page: Page) -> None:  # noqa: F811
    assert page.context.cookies() == []
    assert len(page.context.pages) == 1
