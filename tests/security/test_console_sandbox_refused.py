"""Where consoles cannot be sandboxed they are refused with a clear reason — never run unsandboxed (issue 13 b).

A real server run as a non-root user (a user namespace that maps the test's files to uid 1000 and gives
no privileges: as a server in an unprivileged container). A session that finds no free UID is in
``test_console_sandbox`` (it shares that module's server). And the server-side check
(:meth:`shoal.console.sandbox.Sandbox.problem`) for each reason it gives, including inside a user
namespace that does not map the range.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shoal.console.sandbox import Sandbox
from shoal.core.config import ConsoleSettings
from tests.console.conftest import (
    ADMIN_TOKEN,
    ShoalServer,
    console_world,  # noqa: F401  (fixture: the console tests' root server)
    )

ROOT = Path(__file__).resolve().parents[2]
KUBECTL = str(Path(sys.executable).parent / "kubectl")


class UnprivilegedServer(ShoalServer):
    """``shoal server`` as uid 1000 in a user namespace where the test's own (root's) files belong to it."""

    def start(self, timeout: float = 120) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as handle:
            self.proc = subprocess.Popen(["unshare", "--user", "--map-user=1000", "--map-group=1000",
                                          sys.executable, "-m", "shoal", "server"], env=self.env, stdout=handle,
                                         stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not self._ready():
            assert self.proc.poll() is None and time.monotonic() < deadline, self.output()
            time.sleep(0.2)


@pytest.fixture(scope="module")
def unprivileged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShoalServer]:
    server = UnprivilegedServer(tmp_path_factory.mktemp("unprivileged") / "data", {})
    try:
        server.start()
        yield server
    finally:
        server.stop()


def test_a_server_without_root_refuses_consoles(unprivileged: ShoalServer) -> None:
    for lang, words in (("en", "does not run as root"), ("zh-CN", "不以 root 运行")):
        with httpx.Client(base_url=unprivileged.url, timeout=30, headers={
                "Authorization": f"Bearer {ADMIN_TOKEN}", "Accept-Language": lang}) as admin:
            r = admin.post("/api/v1/clusters/BCS-K8S-40000/console/sessions")
        assert r.status_code == 503, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        body = r.json()
        assert body["code"] == "error.console_sandbox_not_root", body
        assert words in body["message"] and body["hint"], body
    assert "cannot be sandboxed (not_root" in unprivileged.output()


# --- the check itself, reason by reason --------------------------------------------------------------------

def _problem(data_dir: Path, **settings: object) -> str | None:
    box = Sandbox(ConsoleSettings(**settings), data_dir, KUBECTL)
    problem = box.problem()
    box.aclose()
    return problem.reason if problem is not None else None


def test_each_reason(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    assert _problem(data, sandbox_dir="/var/lib/shoal-console-test") is None
    assert _problem(data, sandbox_uid_range="") == "no_range"
    assert _problem(data, sandbox_uid_range="65000-65534") == "range_in_use"  # nobody's uid
    assert _problem(data, sandbox_dir="/tmp/shoal-console") == "sandbox_dir"  # sessions get an empty /tmp
    assert _problem(data, sandbox_dir="relative/dir") == "sandbox_dir"
    open_data = Path(tempfile.mkdtemp(dir="/var/tmp"))
    try:
        open_data.chmod(0o755)
        assert _problem(open_data) == "data_dir_open"
    finally:
        shutil.rmtree(open_data)
    shutil.rmtree("/var/lib/shoal-console-test", ignore_errors=True)


@pytest.mark.parametrize(("unshare", "reason"), [(["--map-root-user"], "range_unmapped"),
                                                 (["--map-user=1000", "--map-group=1000"], "not_root")])
def test_reasons_in_a_user_namespace(tmp_path: Path, unshare: list[str], reason: str) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    code = ("import sys; from pathlib import Path; from shoal.console.sandbox import Sandbox; "
            "from shoal.core.config import ConsoleSettings; "
            f"p = Sandbox(ConsoleSettings(), Path({str(data)!r}), {KUBECTL!r}).problem(); "
            "print(p.reason if p else 'none')")
    done = subprocess.run(["unshare", "--user", *unshare, sys.executable, "-c", code], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"})
    assert done.stdout.strip() == reason, done.stderr


def test_turning_the_sandbox_off_is_loud(caplog: pytest.LogCaptureFixture) -> None:
    from types import SimpleNamespace
    from typing import cast

    from shoal.console.sessions import ConsoleManager
    from shoal.context import AppContext

    settings = SimpleNamespace(console=ConsoleSettings(sandbox=False))
    with caplog.at_level("WARNING", logger="shoal.console"):
        manager = ConsoleManager(cast(AppContext, SimpleNamespace(settings=settings)))
    assert manager.sandbox_problem() is None
    assert any("UNSAFE" in r.getMessage() and "SANDBOX=false" in r.getMessage() for r in caplog.records)
    assert ConsoleSettings().sandbox is True  # never the default


@pytest.mark.parametrize("value", ["200000", "0-999", "300-2000", "5000-4000", "a-b", "1000-4294967295"])
def test_a_bad_uid_range_is_a_configuration_error(value: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="SANDBOX_UID_RANGE"):
        ConsoleSettings(sandbox_uid_range=value)
    assert ConsoleSettings(sandbox_uid_range=" 300000-300099 ").uid_range == range(300000, 300100)
