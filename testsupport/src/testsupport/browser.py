"""Chromium driven by Playwright, for the browser tests.

The browser is the machine's own (Debian's `chromium`; Playwright cannot download one here).
`CHROMIUM_PATH` names another (e.g. GitHub's runners have `/usr/bin/google-chrome`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser

CHROMIUM_PATH = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@contextmanager
def launch_chromium() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM_PATH).exists(), f"no browser at {CHROMIUM_PATH}: run scripts/bootstrap"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM_PATH, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def screenshots_dir(committed: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where a browser test saves screenshots: `committed` with `UPDATE_SCREENSHOTS=1`,
    else a temporary folder, so test runs leave the committed images alone."""
    if os.environ.get("UPDATE_SCREENSHOTS"):
        committed.mkdir(parents=True, exist_ok=True)
        return committed
    return tmp_path_factory.mktemp("screenshots")
