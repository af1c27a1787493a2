"""A lean HTTP/1.1 client connection to a cluster's API server, for the gateway.

Who uses it: the gateway's front (``gateway.front``), which relays every request
kubectl sends through ``shoal server``, and ``kube.pool.Upstream`` for the
gateway's ASGI path. A request is one ``transport.write`` of a pre-built head
(then the body, if any, as the caller passes it on); the answer is parsed by
httptools (the C parser uvicorn uses) and handed, piece by piece, to an
:class:`Exchange` — a set of callbacks. No task, queue or future is made per
request on the front's path; :meth:`H1Connection.request` and
:meth:`H1Connection.chunks` wrap the same callbacks for code that prefers to await.

An upgrade (``101 Switching Protocols``: websocket, SPDY) turns the connection
into a tunnel: every byte that follows goes to :meth:`Exchange.on_tunnel_data`.
A connection that carried an upgrade request is never reusable, whatever the
answer: a cluster that declined the upgrade may still be reading bytes meant for
the tunnel as its next request. A 101 to a request that did not ask for one is
an error (the connection is closed), never a tunnel.

Flow control is the caller's: :meth:`pause_reading` when its client cannot take
more, :meth:`Exchange.on_drain` when the cluster's socket cannot take more of a
request body. The awaiting wrapper pauses reading while more than ``_HIGH``
bytes wait for its reader and resumes below ``_LOW``.

A connection is reused only when the answer was read to its end and both sides
keep it alive; a reused connection that turns out to be closed before any byte
of the answer arrived fails with :class:`StaleConnection`, which callers retry
once on a fresh connection (the usual keep-alive race).
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import AsyncIterator
from typing import Protocol, cast

import httptools

from shoal.kube.addresses import create_connection

__all__ = ["Exchange", "H1Connection", "StaleConnection", "open_connection"]

_FRAMING = frozenset({b"content-length", b"transfer-encoding"})
_HIGH = 1 << 20
_LOW = 1 << 18


class StaleConnection(ConnectionError):
    """A kept-alive connection was closed by the server before it answered (safe to retry)."""


class Exchange(Protocol):
    """What receives one answer from the cluster."""

    def on_head(self, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        """Status and headers (names in lower case) have arrived."""

    def on_body(self, chunk: bytes) -> None:
        """Body bytes, transfer framing removed, content encoding kept."""

    def on_end(self) -> None:
        """The answer is complete (or, for a tunnel, the cluster closed it)."""

    def on_error(self, error: BaseException) -> None:
        """The answer cannot be completed; the connection is closed."""

    def on_upgrade(self, status: int, headers: list[tuple[bytes, bytes]], rest: bytes) -> None:
        """``101``: the connection is now a tunnel; ``rest`` is what followed the head."""

    def on_tunnel_data(self, data: bytes) -> None:
        """Bytes from the cluster through the tunnel."""

    def on_drain(self, writable: bool) -> None:
        """The cluster's socket stopped (False) or resumed (True) taking bytes."""


class H1Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.used = False
        self.tunnel = False
        self.upgrade_sent = False  # an upgrade request went out: never kept for another request
        self._parser: httptools.HttpResponseParser | None = None  # set while an answer is expected
        self._reader: httptools.HttpResponseParser | None = None
        self._exchange: Exchange | None = None
        self._headers: list[tuple[bytes, bytes]] = []
        self._head_only = False
        self._until_close = False
        self._framed = False  # the answer has a Content-Length or Transfer-Encoding
        self._done = False
        self._got_bytes = False
        self._keep_alive = False
        self._waiter: _Waiter | None = None

    # --- asyncio.Protocol ----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._got_bytes = True
        if self.tunnel:
            if self._exchange is not None:
                self._exchange.on_tunnel_data(data)
            return
        if self._parser is None:  # bytes nobody asked for: the connection cannot be trusted any more
            self.close()
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            self._upgrade(data[upgrade.args[0]:])
        except httptools.HttpParserError as e:
            self._fail(e)
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        exchange = self._exchange
        if exchange is None:
            return
        if self.tunnel:
            self._exchange = None
            exchange.on_end()
        elif self._until_close and not self._done:  # an answer without length or chunks ends with the connection
            self._keep_alive = False
            self._finish()
        elif not self._done:
            stale = self.used and not self._got_bytes
            self._fail(StaleConnection("closed before answering") if stale
                       else exc or ConnectionResetError("the cluster closed the connection"))

    def pause_writing(self) -> None:
        if self._exchange is not None:
            self._exchange.on_drain(False)

    def resume_writing(self) -> None:
        if self._exchange is not None:
            self._exchange.on_drain(True)

    # --- httptools callbacks ---------------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name in _FRAMING:
            self._framed = True
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        assert self._parser is not None and self._exchange is not None
        status = self._parser.get_status_code()
        if status == 101:
            return  # the upgrade follows once the parser stops (see data_received)
        self._until_close = not self._framed
        self._exchange.on_head(status, self._headers)
        if self._head_only and self._exchange is not None:  # an answer to HEAD has no body, whatever it says
            self._keep_alive = False
            self._finish()

    def on_body(self, body: bytes) -> None:
        if self._exchange is not None and not self._done:
            self._exchange.on_body(body)

    def on_message_complete(self) -> None:
        if self._done or self._parser is None or self._parser.get_status_code() == 101:
            return
        self._keep_alive = self._parser.should_keep_alive()
        self._finish()

    # --- use -------------------------------------------------------------------------------------
    def _finish(self) -> None:
        self._done = True
        self._parser = None
        exchange, self._exchange = self._exchange, None
        if exchange is not None:
            exchange.on_end()

    def _fail(self, error: BaseException) -> None:
        self._done = True
        self._parser = None
        exchange, self._exchange = self._exchange, None
        if exchange is not None:
            exchange.on_error(error)

    def _upgrade(self, rest: bytes) -> None:
        if not self.upgrade_sent:  # a switch nobody asked for: the bytes that follow are not an answer
            self._fail(ConnectionError("the cluster switched protocols without being asked to"))
            self.close()
            return
        self.tunnel = True
        self._done = True
        self._parser = None
        if self._exchange is not None:
            self._exchange.on_upgrade(101, self._headers, rest)

    def start(self, head: bytes, exchange: Exchange, *, head_only: bool = False, upgrade: bool = False) -> None:
        """Send a request head; the answer goes to ``exchange``. Raises if the connection is closed.

        ``upgrade``: the head asks to switch protocols, so the connection is spent after this answer."""
        assert self.transport is not None
        reused, self.used = self.used, True
        if self.closed:
            raise StaleConnection("closed while idle") if reused else ConnectionResetError("connection closed")
        if self._reader is None or head_only:  # one parser per connection: llhttp resets between answers
            self._reader = httptools.HttpResponseParser(self)
        self._parser = self._reader
        self._exchange = exchange
        self._headers = []
        self._head_only = head_only
        if upgrade:
            self.upgrade_sent = True
        self._done = self._got_bytes = self._keep_alive = self._until_close = self._framed = False
        self.transport.write(head)

    def write(self, data: bytes) -> None:
        """Request body bytes (already framed), or tunnel bytes."""
        if self.transport is not None and not self.closed:
            self.transport.write(data)

    def pause_reading(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.resume_reading()

    def detach(self) -> None:
        """Forget the exchange (its client went away); the caller closes or keeps the connection."""
        self._exchange = None

    @property
    def reusable(self) -> bool:
        return self._done and self._keep_alive and not self.closed and not self.tunnel and not self.upgrade_sent

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.close()

    # --- awaiting ------------------------------------------------------------------------------
    async def request(self, head: bytes, read_timeout: float | None) -> tuple[int, list[tuple[bytes, bytes]]]:
        """Send a body-less request head; return the status and headers once they arrived."""
        waiter = _Waiter(self)
        self.start(head, waiter)
        timer = (asyncio.get_running_loop().call_later(read_timeout, _expire, waiter.head, read_timeout)
                 if read_timeout else None)
        try:
            status = await waiter.head
        finally:
            if timer is not None:
                timer.cancel()
        self._waiter = waiter
        return status, self._headers

    async def chunks(self, read_timeout: float | None) -> AsyncIterator[bytes]:
        """The body of the answer :meth:`request` waited for, as it arrives."""
        waiter = self._waiter
        assert waiter is not None, "chunks() follows request()"
        while True:
            while waiter.chunks:
                chunk = waiter.chunks.popleft()
                waiter.buffered -= len(chunk)
                if waiter.paused and waiter.buffered < _LOW:
                    waiter.paused = False
                    self.resume_reading()
                yield chunk
            if waiter.done:
                return
            if waiter.error is not None:
                raise waiter.error
            waiter.wake.clear()
            if read_timeout:
                await asyncio.wait_for(waiter.wake.wait(), read_timeout)
            else:
                await waiter.wake.wait()


class _Waiter:
    """The :class:`Exchange` behind :meth:`H1Connection.request`: a head future and a queue of chunks."""

    def __init__(self, connection: H1Connection) -> None:
        self.connection = connection
        self.head: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.chunks: deque[bytes] = deque()
        self.buffered = 0
        self.paused = False
        self.done = False
        self.error: BaseException | None = None
        self.wake = asyncio.Event()

    def on_head(self, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        if not self.head.done():
            self.head.set_result(status)

    def on_body(self, chunk: bytes) -> None:
        self.chunks.append(chunk)
        self.buffered += len(chunk)
        self.wake.set()
        if self.buffered > _HIGH and not self.paused:
            self.paused = True
            self.connection.pause_reading()

    def on_end(self) -> None:
        self.done = True
        self.wake.set()

    def on_error(self, error: BaseException) -> None:
        self.error = error
        if not self.head.done():
            self.head.set_exception(error)
        self.wake.set()

    def on_upgrade(self, status: int, headers: list[tuple[bytes, bytes]], rest: bytes) -> None:
        self.on_error(ConnectionError("unexpected upgrade"))
        self.connection.close()

    def on_tunnel_data(self, data: bytes) -> None:
        """Never called: :meth:`on_upgrade` closes the connection."""

    def on_drain(self, writable: bool) -> None:
        """Body-less requests write nothing after their head."""


def _expire(future: asyncio.Future[int], seconds: float) -> None:
    """A timer instead of ``asyncio.wait_for``: no extra task or waiter per request."""
    if not future.done():
        future.set_exception(TimeoutError(f"no answer within {seconds:g}s"))


async def open_connection(host: str, port: int, ssl_context: ssl.SSLContext | None,
                          server_name: str | None, *, server: str = "") -> H1Connection:
    """Connect (and handshake); the caller bounds the time with ``asyncio.timeout``.

    The address is resolved and checked against the cluster address policy here, on every
    new connection (``kube.addresses``); TLS verifies ``server_name or host``, not the address.
    Raises ``AddressRefused`` for a refused address.
    """
    _, protocol = await create_connection(H1Connection, host, port, ssl=ssl_context,
                                          server_hostname=server_name or host, server=server)
    return protocol
