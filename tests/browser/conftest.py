"""A real ``shoal server`` on a loopback port and headless Debian Chromium driven by Playwright.

The server runs as a subprocess exactly as an operator starts it (``shoal server``
with ``SHOAL_*`` variables) on an empty data directory, so the browser tests
cover start-up, migrations and the first admin as well as the pages.

Starting a server costs seconds (more on a loaded machine), so browser tests share
one: ``shared_server`` is started once for the whole ``tests/browser`` package and
stopped after its last test. Tests on it must not assume an empty server: each
creates its own uniquely named users, projects and businesses (:func:`unique`)
and finds what it made by name, never by count or id. ``live_server`` (one per
module) remains for a test that needs a server of its own.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser

from tests.conftest import ADMIN_PASSWORD
from tests.support.chromium import launched_chromium

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
#: A cold start (migrations, first admin) takes about two seconds on an idle machine, but over 30 s was seen
#: on a machine loaded by parallel test runs; the wait only matters when something is wrong.
START_TIMEOUT = 120.0


@dataclass(frozen=True)
class LiveServer:
    url: str
    data_dir: Path
    log: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def unique(prefix: str) -> str:
    """A name no other test on the shared server uses: ``prefix`` plus six hex digits (valid user/project code)."""
    return f"{prefix}{secrets.token_hex(3)}"


def unique_business_id() -> int:
    """A business id unlikely to clash with another test's on the shared server (fixed ids stay below 10^6)."""
    return 10**6 + secrets.randbelow(10**9)


@contextmanager
def _run_server(data_dir: Path) -> Iterator[LiveServer]:
    port = _free_port()
    log = data_dir / "server.log"
    env = {**os.environ, "SHOAL_DATA_DIR": str(data_dir), "SHOAL_LISTEN": f"127.0.0.1:{port}",
           "SHOAL_ADMIN_PASSWORD": ADMIN_PASSWORD, "SHOAL_SECRET_KEY": "browser-test-secret",
           "SHOAL_LOG_JSON": "false", "SHOAL_LOG_LEVEL": "WARNING", "SHOAL_DATABASE_URL": "",
           "SHOAL_PLAIN_HTTP": "true"}
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "shoal", "server"], env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"shoal server exited with {proc.returncode}:\n{log.read_text()}")
            try:
                if httpx.get(url + "/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"shoal server did not start in {START_TIMEOUT}s:\n{log.read_text()}")
            time.sleep(0.1)
        yield LiveServer(url=url, data_dir=data_dir, log=log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="package")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server for every browser test (package scope: stopped once the browser tests are done)."""
    with _run_server(tmp_path_factory.mktemp("shoal-shared")) as server:
        yield server


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server of this module's own, on an empty data directory."""
    with _run_server(tmp_path_factory.mktemp("shoal-live")) as server:
        yield server


@pytest.fixture(scope="package")
def chromium() -> Iterator[Browser]:
    """One headless Chromium for the browser tests; each test opens its own contexts (cookies, locale)."""
    with launched_chromium() as browser:
        yield browser


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
