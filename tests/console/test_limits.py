"""Why a session ends: idle timeout, hard limit, an admin's end, the browser leaving, the shell exiting.

In process, with a fake shell and a fake terminal (no server, no PTY): the
manager's pump is what decides, and what the user is then told.
"""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any, cast

import pytest

from shoal.console.framing import Resize, Stdin
from shoal.console.sessions import CloseReason, ConsoleManager, ConsoleSession, SessionId
from shoal.context import AppContext
from shoal.core.config import ConsoleSettings
from shoal.iam.authz import Principal


class FakeShell:
    def __init__(self) -> None:
        self.output: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.reports: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self.written: list[bytes] = []
        self.sizes: list[tuple[int, int]] = []

    async def read(self) -> bytes | None:
        return await self.output.get()

    async def write(self, data: bytes) -> None:
        self.written.append(data)

    def resize(self, rows: int, cols: int) -> None:
        self.sizes.append((rows, cols))


class FakeTerminal:
    def __init__(self) -> None:
        self.frames: asyncio.Queue[Stdin | Resize | None] = asyncio.Queue()
        self.sent: list[bytes] = []

    async def receive(self) -> Stdin | Resize | None:
        return await self.frames.get()

    async def send(self, data: bytes) -> None:
        self.sent.append(data)


def _manager(**limits: float) -> ConsoleManager:
    settings = SimpleNamespace(console=ConsoleSettings(**limits))  # type: ignore[arg-type]
    return ConsoleManager(cast(AppContext, SimpleNamespace(settings=settings)))


def _session() -> ConsoleSession:
    return ConsoleSession(id=SessionId("s" * 24), cluster_id="BCS-K8S-40000", cluster_name="c", project_code="p",
                          user_id=1, username="vera", lang="en")


async def _pump(manager: ConsoleManager, console: ConsoleSession, shell: FakeShell,
                terminal: FakeTerminal) -> CloseReason:
    actor = Principal(user_id=1, username="vera")
    return await asyncio.wait_for(manager._pump(console, actor, terminal, shell, None),  # type: ignore[arg-type]
                                  timeout=30)


async def test_idle_timeout_counts_from_the_last_keystroke() -> None:
    manager = _manager(idle_timeout=1.2, recheck_seconds=3600)
    shell, terminal = FakeShell(), FakeTerminal()

    async def typist() -> None:
        for _ in range(3):
            await asyncio.sleep(0.5)
            await terminal.frames.put(Stdin(b"k"))

    started = time.monotonic()
    typing = asyncio.ensure_future(typist())
    try:
        assert await _pump(manager, _session(), shell, terminal) is CloseReason.IDLE
    finally:
        await typing
    assert time.monotonic() - started >= 1.5 + 1.2 - 0.2  # the keystrokes kept it open
    assert shell.written == [b"k"] * 3
    text = manager._closing_text(_session(), CloseReason.IDLE).decode()
    assert "Session closed: no input for 1.2 s." in text


async def test_hard_limit_ends_a_busy_session() -> None:
    manager = _manager(idle_timeout=60, hard_limit=1, recheck_seconds=3600)
    shell, terminal = FakeShell(), FakeTerminal()

    async def busy() -> None:
        while True:
            await terminal.frames.put(Stdin(b"x"))
            await shell.output.put(b"x")
            await asyncio.sleep(0.1)

    typing = asyncio.ensure_future(busy())
    try:
        assert await _pump(manager, _session(), shell, terminal) is CloseReason.LIMIT
    finally:
        typing.cancel()
        await asyncio.gather(typing, return_exceptions=True)
    assert b"x" in terminal.sent
    assert "reached the 1 s limit" in manager._closing_text(_session(), CloseReason.LIMIT).decode()


@pytest.mark.parametrize("how", ["ended", "client", "exit"])
async def test_other_endings(how: str) -> None:
    manager = _manager(idle_timeout=60, recheck_seconds=3600)
    shell, terminal = FakeShell(), FakeTerminal()
    console = _session()
    await terminal.frames.put(Resize(40, 120))
    if how == "ended":
        console.stop(CloseReason.ENDED)
    elif how == "client":
        await terminal.frames.put(None)
    else:
        await shell.output.put(b"bye\r\n")
        await shell.output.put(None)
    expected = {"ended": CloseReason.ENDED, "client": CloseReason.CLIENT, "exit": CloseReason.EXIT}[how]
    assert await _pump(manager, console, shell, terminal) is expected
