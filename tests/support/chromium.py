"""Launch Debian's Chromium under Playwright for the browser tests (never a downloaded build).

One place for the path, the flags this machine's closed network needs, and the
rule that a missing browser fails the run (``make test`` installs it) rather
than skipping the tests that need it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "launched_chromium"]

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium keeps dialling Google's hosts, which this network refuses.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@contextmanager
def launched_chromium() -> Iterator[Browser]:
    """A headless Chromium, closed (with Playwright's event loop) when the block ends."""
    if not CHROMIUM.exists():
        pytest.fail("Debian chromium is not installed: run 'bash scripts/system_deps.sh' (make test does)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()
