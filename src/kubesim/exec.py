"""``pods/exec`` over websocket with the Kubernetes channel protocols (v4/v5).

kubectl 1.37 offers only ``v5.channel.k8s.io``; the Python client offers
``v4.channel.k8s.io`` (and older). Every binary frame starts with a channel byte:
0 stdin (client), 1 stdout, 2 stderr, 3 status (a JSON ``Status``), 4 resize
(tty), and with v5 255 = close signal (``[255, 0]``: stdin is closed). The command
runs in :mod:`kubesim.shell`; a non-zero exit is reported as reason
``NonZeroExitCode`` with an ``ExitCode`` cause, which kubectl turns into its exit code.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from kubesim.shell import ExecIO

JSON = dict[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

__all__ = ["SUBPROTOCOLS", "choose_subprotocol", "exit_status", "serve_exec"]

SUBPROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
STDIN, STDOUT, STDERR, STATUS, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255


def choose_subprotocol(offered: list[str]) -> str | None:
    for proto in SUBPROTOCOLS:
        if proto in offered:
            return proto
    return None


class _WebsocketIO:
    """Channel multiplexing over one ASGI websocket."""

    def __init__(self, receive: Receive, send: Send, want_stdin: bool, tty: bool) -> None:
        self._receive = receive
        self._send = send
        self._tty = tty
        self._stdin = bytearray()
        self._stdin_done = asyncio.Event()
        self._stdin_more = asyncio.Event()
        self.disconnected = asyncio.Event()
        if not want_stdin:
            self._stdin_done.set()

    async def pump(self) -> None:
        """Read client frames until the socket closes: stdin data, resize, close signal."""
        while True:
            msg = await self._receive()
            if msg["type"] == "websocket.disconnect":
                self._stdin_done.set()
                self.disconnected.set()
                return
            data = msg.get("bytes")
            if data is None and msg.get("text") is not None:
                data = msg["text"].encode()
            if not data:
                continue
            channel, payload = data[0], data[1:]
            if channel == STDIN:
                self._stdin.extend(payload)
                self._stdin_more.set()
            elif channel == CLOSE and payload[:1] == bytes([STDIN]):
                self._stdin_done.set()

    async def read_stdin(self) -> bytes:
        await self._stdin_done.wait()
        data = bytes(self._stdin)
        self._stdin.clear()
        return data

    async def read_some(self) -> bytes:
        """What the client has typed so far (waiting for some); ``b""`` once stdin is closed."""
        while not self._stdin and not self._stdin_done.is_set():
            self._stdin_more.clear()
            waiters = {asyncio.ensure_future(self._stdin_more.wait()), asyncio.ensure_future(self._stdin_done.wait())}
            _, pending = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            for waiter in pending:
                waiter.cancel()
        data = bytes(self._stdin)
        self._stdin.clear()
        return data

    async def write(self, channel: int, data: bytes) -> None:
        if not data or self.disconnected.is_set():
            return
        if self._tty:  # one pty: stderr joins stdout, and its ONLCR turns "\n" into "\r\n"
            channel, data = STDOUT, data.replace(b"\n", b"\r\n")
        await self._send({"type": "websocket.send", "bytes": bytes([channel]) + data})


def exit_status(argv: list[str], code: int) -> JSON:
    """The Status the kubelet writes on the error channel (``remotecommand/exec.go``)."""
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {
        "metadata": {}, "status": "Failure",
        "message": f"command terminated with non-zero exit code: error executing command {argv}, exit code {code}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


async def serve_exec(receive: Receive, send: Send, subprotocol: str, argv: list[str],
                     run: Callable[[ExecIO], Awaitable[int]] | None, *, stdin: bool, tty: bool) -> None:
    """Accept the websocket, run the command, report its exit status on channel 3, close.

    ``run`` is None for an attach to a container that reads no stdin: the session then
    lasts until the client leaves, as attaching to a silent process does.
    """
    await send({"type": "websocket.accept", "subprotocol": subprotocol})
    io = _WebsocketIO(receive, send, stdin, tty)
    pump = asyncio.ensure_future(io.pump())
    try:
        gone = asyncio.ensure_future(io.disconnected.wait())
        if run is None:
            await gone
            return
        runner = asyncio.ensure_future(run(io))
        done, _ = await asyncio.wait({runner, gone}, return_when=asyncio.FIRST_COMPLETED)
        gone.cancel()
        if runner not in done:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
            return
        code = runner.result()
        await send({"type": "websocket.send",
                    "bytes": bytes([STATUS]) + json.dumps(exit_status(argv, code)).encode()})
        await send({"type": "websocket.close", "code": 1000})
    finally:
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump
