"""``pods/exec`` and ``pods/attach`` over SPDY/3.1, as the kubelet serves them.

Follows ``pkg/kubelet/cri/streaming/remotecommand/httpstream.go``: the client
negotiates ``X-Stream-Protocol-Version`` (kubesim speaks v4 and v5, which over
SPDY behave alike: stdin is closed by half-closing its stream), then opens one
stream per role, named by the ``streamType`` header — ``error`` first, then
``stdin``, ``stdout``, ``stderr`` (as the query asks) and ``resize`` with a TTY.
Once all expected streams are there the command runs; its exit status is written
to the error stream as a JSON ``Status`` (``Success``, or ``NonZeroExitCode``
with an ``ExitCode`` cause, which kubectl turns into its own exit code), every
stream is half-closed and the connection ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable

from kubesim.exec import exit_status
from kubesim.shell import ExecIO
from kubesim.spdy import SpdySession, SpdyStream

__all__ = ["SPDY_PROTOCOLS", "negotiate", "serve_spdy_remotecommand"]

#: what the kubelet offers over SPDY, newest first; v1–v3 (plain-text errors) are not served
SPDY_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
#: the kubelet gives a client this long to open its streams (``streamCreationTimeout``)
STREAM_CREATION_TIMEOUT = 30.0

Runner = Callable[[ExecIO], Awaitable[int]]
Read = Callable[[], Awaitable[bytes]]
Write = Callable[[bytes], Awaitable[None]]


def negotiate(offered: list[str], supported: tuple[str, ...]) -> str | None:
    """``httpstream.Handshake``: the first protocol in the client's order that the server supports."""
    for proto in (p.strip() for value in offered for p in value.split(",")):
        if proto in supported:
            return proto
    return None


class _SpdyIO:
    """The command's stdin/stdout/stderr as SPDY streams."""

    def __init__(self, streams: dict[str, SpdyStream], tty: bool) -> None:
        self._streams = streams
        self._tty = tty

    async def read_stdin(self) -> bytes:
        stdin = self._streams.get("stdin")
        return await stdin.read_all() if stdin is not None else b""

    async def read_some(self) -> bytes:
        stdin = self._streams.get("stdin")
        return await stdin.read() if stdin is not None else b""

    async def write(self, channel: int, data: bytes) -> None:
        name = "stdout" if channel == 1 or self._tty else "stderr"
        if self._tty:  # one pty: stderr joins stdout, and its ONLCR turns "\n" into "\r\n"
            data = data.replace(b"\n", b"\r\n")
        stream = self._streams.get(name)
        if stream is not None and data:
            await stream.write(data)


async def serve_spdy_remotecommand(read: Read, write: Write, close: Callable[[], None], run: Runner | None,
                                   argv: list[str], *, stdin: bool, stdout: bool, stderr: bool, tty: bool) -> None:
    """Serve one exec/attach session; ``run`` is None for an attach that only waits for the client to leave."""
    expected = {"error"} | {name for name, wanted in
                            (("stdin", stdin), ("stdout", stdout), ("stderr", stderr and not tty),
                             ("resize", tty)) if wanted}
    streams: dict[str, SpdyStream] = {}
    ready = asyncio.Event()

    def on_stream(stream: SpdyStream) -> None:
        streams[stream.header("streamType")] = stream
        if expected <= streams.keys():
            ready.set()

    session = SpdySession(read, write, on_stream)
    reader = asyncio.ensure_future(session.run())
    try:
        gone = asyncio.ensure_future(session.done.wait())
        waiting = asyncio.ensure_future(ready.wait())
        await asyncio.wait({waiting, gone}, timeout=STREAM_CREATION_TIMEOUT, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        if not ready.is_set():  # the client left, or never opened the streams it asked for
            gone.cancel()
            return
        if run is None:
            await gone
            return
        runner = asyncio.ensure_future(run(_SpdyIO(streams, tty)))
        done, _ = await asyncio.wait({runner, gone}, return_when=asyncio.FIRST_COMPLETED)
        gone.cancel()
        if runner not in done:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
            return
        error = streams["error"]
        await error.write(json.dumps(exit_status(argv, runner.result())).encode())
        for stream in streams.values():
            await stream.close()
        await session.goaway()
    finally:
        close()
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
