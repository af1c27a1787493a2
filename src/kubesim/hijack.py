"""Taking over the connection of an HTTP request that asks for a non-websocket upgrade (SPDY/3.1).

ASGI has no way to switch an HTTP request to raw bytes, and uvicorn only upgrades
to websockets. kubectl's SPDY exec, attach and port-forward are ``POST`` requests
with ``Connection: Upgrade`` and ``Upgrade: SPDY/3.1``; the API server
authenticates and authorises them like any request and answers 101 only if it
will serve them. So the HTTP protocol puts a :class:`RawUpgrade` handle into the
scope (``scope["extensions"]["kubesim.raw_upgrade"]``) of such a request; the app
does its checks, answers errors as usual, and calls :meth:`RawUpgrade.accept` to
write the 101 head and get the socket as a :class:`RawPipe`.
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["EXTENSION", "RawPipe", "RawUpgrade", "RawUpgradeMixin"]

EXTENSION = "kubesim.raw_upgrade"


class RawPipe(asyncio.Protocol):
    """The upgraded connection: bytes in through a queue, out straight to the transport."""

    def __init__(self, transport: asyncio.Transport, previous: Any) -> None:
        self.transport = transport
        self._previous = previous
        self._inbox: asyncio.Queue[bytes] = asyncio.Queue()

    def data_received(self, data: bytes) -> None:
        self._inbox.put_nowait(data)

    def eof_received(self) -> bool | None:
        self._inbox.put_nowait(b"")
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._inbox.put_nowait(b"")
        # let the HTTP protocol forget the connection as if it had ended on its watch
        self._previous.connection_lost(exc)

    async def read(self) -> bytes:
        """The next bytes from the client; ``b""`` at end of stream."""
        data = await self._inbox.get()
        if not data:
            self._inbox.put_nowait(b"")
        return data

    async def write(self, data: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(data)

    def close(self) -> None:
        if not self.transport.is_closing():
            self.transport.close()


class RawUpgrade:
    """Handed to the app in the scope: ``accept(headers)`` answers 101 and returns the pipe."""

    def __init__(self, protocol: Any, cycle: Any) -> None:
        self._protocol = protocol
        self._cycle = cycle

    def accept(self, headers: list[tuple[str, str]]) -> RawPipe:
        cycle, protocol = self._cycle, self._protocol
        # the HTTP cycle must neither answer again (500 "returned without response") nor keep the connection
        cycle.response_started = cycle.response_complete = True
        cycle.keep_alive = False
        transport: asyncio.Transport = protocol.transport
        head = "HTTP/1.1 101 Switching Protocols\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
        transport.write(head.encode("latin-1"))
        pipe = RawPipe(transport, protocol)
        transport.set_protocol(pipe)
        if hasattr(protocol, "flow"):
            protocol.flow.resume_reading()
        return pipe


class RawUpgradeMixin:
    """For uvicorn's httptools protocol: offer :class:`RawUpgrade` on ``Upgrade: SPDY/3.1`` requests."""

    scope: Any
    cycle: Any
    headers: list[tuple[bytes, bytes]]

    def on_headers_complete(self) -> None:
        super().on_headers_complete()  # type: ignore[misc]
        upgrade = next((v for k, v in self.headers if k == b"upgrade"), b"")
        if upgrade.lower().startswith(b"spdy/") and self.cycle is not None and self.cycle.scope is self.scope:
            self.scope.setdefault("extensions", {})[EXTENSION] = RawUpgrade(self, self.cycle)

    def _unsupported_upgrade_warning(self) -> None:
        upgrade = next((v for k, v in self.headers if k == b"upgrade"), b"")
        if not upgrade.lower().startswith(b"spdy/"):  # SPDY is served through RawUpgrade, not unsupported
            super()._unsupported_upgrade_warning()  # type: ignore[misc]
