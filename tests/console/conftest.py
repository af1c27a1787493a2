"""Fixtures of the console tests: a real ``shoal server`` (plain HTTP) in front of kubesim, people, a client.

``console_world`` (one per test session, a few seconds): kubesim (3 nodes) whose
RBAC binds Shoal's impersonated groups as the demo does (``grant_shoal_groups``, the objects
of ``shoal.kube.access``: manager -> cluster-admin, viewer -> view + shoal:cluster-reader);
a ``shoal server`` subprocess on plain HTTP — so the console's kubectl
reaches the gateway through the loopback TLS relay — with a short idle
timeout, a 1 s rights re-check and recording on; project ``alpha`` with mona
(manager) and vera (viewer), project ``beta`` with eve; the kubesim cluster
imported into alpha. :class:`ConsoleClient` drives a session over the
websocket with the original platform's framing.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from kubesim.runner import Simulator
from shoal.console.framing import resize_frame, stdin_frame
from shoal.demo import grant_shoal_groups
from tests.support.server import ShoalProcess

ADMIN_TOKEN = "shoal_console-test-admin-token-0123456789"
PASSWORD = "password-123"
PEOPLE = {"mona": ("alpha", "manager"), "vera": ("alpha", "viewer"), "walt": ("alpha", "viewer"),
          "eve": ("beta", "manager")}
#: Short enough for a test to wait for, long enough for a loaded machine to type and run a command.
IDLE_TIMEOUT = 12
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\x1b[=>]|[\x00-\x08\x0b-\x1f]")


def plain(text: str) -> str:
    """Terminal output without colour codes, cursor movements and control characters (keeps newlines)."""
    return _ANSI.sub("", text.replace("\r\n", "\n"))


class ShoalServer(ShoalProcess):
    """``shoal server`` on plain HTTP in a subprocess, set up for console tests."""

    def __init__(self, data_dir: Path, env: dict[str, str]) -> None:
        super().__init__(data_dir, {
            "SHOAL_ADMIN_TOKEN": ADMIN_TOKEN, "SHOAL_LOG_JSON": "false", "SHOAL_LOG_LEVEL": "WARNING",
            "SHOAL_CLUSTER_HEALTH_ENABLED": "false", "SHOAL_SECRET_KEY": "console-test-secret", **env})


@dataclass
class World:
    sim: Simulator
    shoal: ShoalServer
    cluster_id: str = ""
    tokens: dict[str, str] = field(default_factory=dict)

    def api(self, user: str = "admin") -> httpx.Client:
        token = ADMIN_TOKEN if user == "admin" else self.tokens[user]
        return httpx.Client(base_url=self.shoal.url, timeout=30,
                            headers={"Authorization": f"Bearer {token}", "Accept-Language": "en"})

    def audit(self, action: str = "console.command", **params: str) -> list[dict[str, Any]]:
        with self.api() as admin:
            r = admin.get("/api/v1/audit", params={"action": action, "limit": 500, **params})
            assert r.status_code == 200, r.text
            items: list[dict[str, Any]] = r.json()["items"]
            return items


def _post(client: httpx.Client, url: str, body: dict[str, Any], *codes: int) -> httpx.Response:
    """A seeding call, retried for a moment: the API commits after its response has gone out."""
    deadline = time.monotonic() + 10
    while True:
        response = client.post(url, json=body)
        if response.status_code in (codes or (200, 201)):
            return response
        assert 400 <= response.status_code < 500 and time.monotonic() < deadline, response.text
        time.sleep(0.1)


@pytest.fixture(scope="session")
def console_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("console")
    sim = Simulator(nodes=3).start()
    grant_shoal_groups(sim)
    shoal = ShoalServer(root / "data", {
        "SHOAL_CONSOLE__IDLE_TIMEOUT": str(IDLE_TIMEOUT), "SHOAL_CONSOLE__RECHECK_SECONDS": "1",
        "SHOAL_CONSOLE__RECORD": "true", "SHOAL_GATEWAY__AUDIT_FLUSH_SECONDS": "0.2",
        "SHOAL_GATEWAY__AUTH_CACHE_SECONDS": "0"})
    world = World(sim=sim, shoal=shoal)
    try:
        shoal.start()
        with world.api() as admin:
            _post(admin, "/api/v1/businesses", {"id": 100, "name": "Biz", "maintainers": ["admin"]})
            for code in ("alpha", "beta"):
                _post(admin, "/api/v1/projects", {"code": code, "name": code.title()}, 201)
                _post(admin, f"/api/v1/projects/{code}/enable", {"business_id": 100})
            for name, (project, role) in PEOPLE.items():
                _post(admin, "/api/v1/users", {"username": name, "password": PASSWORD})
                world.tokens[name] = _post(admin, "/api/v1/tokens",
                                           {"username": name, "expires": "1d"}).json()["token"]
                _post(admin, f"/api/v1/projects/{project}/members", {"username": name, "role": role})
        with world.api("mona") as mona:
            imported = _post(mona, "/api/v1/clusters", {"project": "alpha", "name": "kubesim",
                                                        "kubeconfig": sim.kubeconfig("admin")}, 201).json()
            world.cluster_id = imported["id"]
        yield world
    finally:
        shoal.stop()
        sim.stop()


class ConsoleClient:
    """A console session driven over its websocket: type, resize, read the screen as plain text."""

    def __init__(self, world: World, user: str) -> None:
        self.world = world
        with world.api(user) as client:
            r = _post(client, f"/api/v1/clusters/{world.cluster_id}/console/sessions", {}, 201)
        self.session: dict[str, Any] = r.json()
        self.socket: ClientConnection = connect(
            self.session["websocket_url"], additional_headers={"Authorization": f"Bearer {world.tokens[user]}",
                                                               "Accept-Language": "en"},
            open_timeout=30, ping_interval=None)
        self.screen = ""
        self.closed: tuple[int, str] | None = None

    def type(self, text: str) -> None:
        self.socket.send(stdin_frame(text))

    def resize(self, rows: int, cols: int) -> None:
        self.socket.send(resize_frame(rows, cols))

    def read_until(self, needle: str | re.Pattern[str], timeout: float = 45, start: int = 0) -> str:
        """Read output until ``needle`` shows after ``start`` in the plain screen text; that text."""
        deadline = time.monotonic() + timeout
        while True:
            text = plain(self.screen)[start:]
            if (needle.search(text) if isinstance(needle, re.Pattern) else needle in text):
                return text
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.closed is not None:
                raise AssertionError(f"{needle!r} not seen (closed={self.closed}); screen:\n{text[-3000:]}\n"
                                     f"--- server log ---\n{self.world.shoal.output()[-3000:]}")
            try:
                frame = self.socket.recv(timeout=min(remaining, 1.0))
            except TimeoutError:
                continue
            except ConnectionClosed as closed:
                rcvd = closed.rcvd
                self.closed = (rcvd.code, rcvd.reason) if rcvd is not None else (1006, "")
                continue
            assert isinstance(frame, str), "output frames are base64 text"
            self.screen += base64.b64decode(frame).decode("utf-8", errors="replace")

    def run(self, line: str, done: str | re.Pattern[str] = "kubectl>", timeout: float = 45) -> str:
        """Type ``line`` and Enter; the output up to the next prompt."""
        mark = len(plain(self.screen))
        self.type(line + "\r")
        text = self.read_until(re.compile(re.escape(line) + r"[\s\S]*kubectl> ") if done == "kubectl>" else done,
                               timeout, start=mark)
        return text

    def wait_closed(self, timeout: float = 60) -> tuple[int, str]:
        deadline = time.monotonic() + timeout
        while self.closed is None and time.monotonic() < deadline:
            try:
                frame = self.socket.recv(timeout=1.0)
                if isinstance(frame, str):
                    self.screen += base64.b64decode(frame).decode("utf-8", errors="replace")
            except TimeoutError:
                continue
            except ConnectionClosed as closed:
                rcvd = closed.rcvd
                self.closed = (rcvd.code, rcvd.reason) if rcvd is not None else (1006, "")
        assert self.closed is not None, f"still open; screen:\n{plain(self.screen)[-2000:]}"
        return self.closed

    def close(self) -> None:
        self.socket.close()


@pytest.fixture
def console(console_world: World) -> Iterator[Any]:
    """``console(user)`` opens a session; all are closed at teardown."""
    opened: list[ConsoleClient] = []

    def open_session(user: str = "mona") -> ConsoleClient:
        client = ConsoleClient(console_world, user)
        opened.append(client)
        client.read_until("kubectl> ")
        return client

    yield open_session
    for client in opened:
        client.close()


def audit_lines(world: World, session_id: str) -> list[dict[str, Any]]:
    return [e for e in world.audit() if e["detail"].get("session") == session_id]



