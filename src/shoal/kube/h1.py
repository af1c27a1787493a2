"""A lean HTTP/1.1 client connection for the gateway's body-less requests (GET, DELETE, watches, logs).

Who uses it: ``kube.pool.Upstream``, for requests without a body — nearly all of
what kubectl sends (discovery, gets, lists, watches, ``logs -f``). A request is
one ``transport.write`` of a pre-built head; the answer is parsed by httptools
(the C parser uvicorn uses) straight into a chunk queue, so a proxied GET costs
a fraction of a general-purpose client's request object, header multidicts and
stream readers. Requests with bodies, and anything unusual, go through aiohttp.

Flow control: reading from the cluster pauses while more than ``_HIGH`` bytes
wait for the client, and resumes below ``_LOW`` — a slow client slows the
cluster's stream instead of filling memory.

A connection is reused only when the answer was read to its end and both sides
keep it alive; a reused connection that turns out to be closed before any byte
of the answer arrived is retried once on a fresh one (the usual keep-alive race).
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import AsyncIterator
from typing import cast

import httptools

__all__ = ["H1Connection", "StaleConnection", "open_connection"]

_HIGH = 1 << 20
_LOW = 1 << 18


class StaleConnection(ConnectionError):
    """A kept-alive connection was closed by the server before it answered (safe to retry)."""


class H1Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.used = False
        self._parser: httptools.HttpResponseParser | None = None
        self._head: asyncio.Future[int] | None = None
        self._headers: list[tuple[bytes, bytes]] = []
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._paused = False
        self._done = False
        self._got_bytes = False
        self._keep_alive = False
        self._error: BaseException | None = None
        self._wake = asyncio.Event()

    # --- asyncio.Protocol ----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._got_bytes = True
        if self._parser is None:  # bytes nobody asked for: the connection cannot be trusted any more
            self.close()
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as e:
            self._fail(e)
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self._done:
            stale = self.used and not self._got_bytes
            self._fail(StaleConnection("closed before answering") if stale
                       else exc or ConnectionResetError("the cluster closed the connection"))

    # --- httptools callbacks ---------------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        assert self._parser is not None
        if self._head is not None and not self._head.done():
            self._head.set_result(self._parser.get_status_code())

    def on_body(self, body: bytes) -> None:
        self._chunks.append(body)
        self._buffered += len(body)
        self._wake.set()
        if self._buffered > _HIGH and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()

    def on_message_complete(self) -> None:
        assert self._parser is not None
        self._keep_alive = self._parser.should_keep_alive()
        self._done = True
        self._parser = None
        self._wake.set()

    # --- use -------------------------------------------------------------------------------------
    def _fail(self, error: BaseException) -> None:
        self._error = error
        if self._head is not None and not self._head.done():
            self._head.set_exception(error)
        self._wake.set()

    async def request(self, head: bytes, read_timeout: float | None) -> tuple[int, list[tuple[bytes, bytes]]]:
        """Send a request head (no body); return the status and headers once they arrived."""
        assert self.transport is not None
        reused, self.used = self.used, True
        self._parser = httptools.HttpResponseParser(self)
        self._head = asyncio.get_running_loop().create_future()
        self._headers, self._chunks, self._buffered = [], deque(), 0
        self._done = self._got_bytes = self._keep_alive = False
        self._error = None
        if self.closed:
            raise StaleConnection("closed while idle") if reused else ConnectionResetError("connection closed")
        self.transport.write(head)
        head_future = self._head
        timer = (asyncio.get_running_loop().call_later(read_timeout, _expire, head_future, read_timeout)
                 if read_timeout else None)
        try:
            status = await head_future
        finally:
            if timer is not None:
                timer.cancel()
        return status, self._headers

    async def chunks(self, read_timeout: float | None) -> AsyncIterator[bytes]:
        while True:
            while self._chunks:
                chunk = self._chunks.popleft()
                self._buffered -= len(chunk)
                if self._paused and self._buffered < _LOW and self.transport is not None:
                    self._paused = False
                    self.transport.resume_reading()
                yield chunk
            if self._done:
                return
            if self._error is not None:
                raise self._error
            self._wake.clear()
            if read_timeout:
                await asyncio.wait_for(self._wake.wait(), read_timeout)
            else:
                await self._wake.wait()

    @property
    def reusable(self) -> bool:
        return self._done and self._keep_alive and not self.closed and not self._chunks

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.close()


def _expire(future: asyncio.Future[int], seconds: float) -> None:
    """A timer instead of ``asyncio.wait_for``: no extra task or waiter per request."""
    if not future.done():
        future.set_exception(TimeoutError(f"no answer within {seconds:g}s"))


async def open_connection(host: str, port: int, ssl_context: ssl.SSLContext | None,
                          server_name: str | None) -> H1Connection:
    """Connect (and handshake); the caller bounds the time with ``asyncio.timeout``."""
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(
        H1Connection, host, port, ssl=ssl_context,
        server_hostname=(server_name or host) if ssl_context is not None else None)
    return protocol
