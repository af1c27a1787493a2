"""Client-certificate identities under uvicorn.

ASGI scopes carry no TLS details, so a thin subclass of uvicorn's httptools
protocol records each connection's verified peer certificate, keyed by the
client address that the scope does carry; the router looks it up to authenticate
x509 users (CN = user, O = groups) exactly as the API server does.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

from kubesim.authz import Identity
from kubesim.hijack import RawUpgradeMixin

__all__ = ["PEERS", "CertRecordingProtocol", "PeerRegistry", "SafeWebSocketProtocol", "reset_connection"]

_TRANSPORTS: dict[tuple[str, int], asyncio.Transport] = {}


class PeerRegistry:
    """Identities from client certificates, per (host, port) of live connections."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._peers: dict[tuple[str, int], Identity] = {}

    def record(self, addr: tuple[str, int], cert: dict[str, Any] | None) -> None:
        if not cert:
            return
        user, groups = "", []
        for rdn in cert.get("subject", ()):
            for key, value in rdn:
                if key == "commonName":
                    user = value
                elif key == "organizationName":
                    groups.append(value)
        if user:
            with self._lock:
                self._peers[addr] = Identity(user, tuple(groups))

    def forget(self, addr: tuple[str, int]) -> None:
        with self._lock:
            self._peers.pop(addr, None)

    def lookup(self, addr: tuple[str, int] | None) -> Identity | None:
        if addr is None:
            return None
        with self._lock:
            return self._peers.get((addr[0], addr[1]))


PEERS = PeerRegistry()


class CertRecordingProtocol(RawUpgradeMixin, HttpToolsProtocol):
    """httptools protocol that records the peer certificate of each TLS connection (and hands over SPDY upgrades)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        peer = transport.get_extra_info("peername")
        cert = transport.get_extra_info("peercert")
        if peer is not None:
            PEERS.forget((peer[0], peer[1]))
            PEERS.record((peer[0], peer[1]), cert)
            _TRANSPORTS[(peer[0], peer[1])] = transport

    def shutdown(self) -> None:
        """Server stopping: drop idle connections at once.

        A polite TLS close waits for the peer's close_notify, which idle pooled
        clients never send, so every stop would sit out the graceful timeout.
        """
        if self.cycle is None or self.cycle.response_complete:
            self.transport.abort()
        else:
            super().shutdown()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.client is not None:
            PEERS.forget(self.client)
            _TRANSPORTS.pop((self.client[0], self.client[1]), None)
        super().connection_lost(exc)


def reset_connection(addr: tuple[str, int] | None) -> bool:
    """Abort the TCP connection of a client (the "unreachable, reset" fault); False if unknown."""
    if addr is None:
        return False
    transport = _TRANSPORTS.pop((addr[0], addr[1]), None)
    if transport is None:
        return False
    transport.abort()
    return True


def _no_subprotocol(headers: object) -> None:
    """Skip the websockets library's strict parsing of Sec-WebSocket-Protocol (see SafeWebSocketProtocol)."""
    return None


class SafeWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websocket protocol, minus a crash on stop, accepting subprotocols like Go's servers do.

    Stopping the server while a client-initiated close is under way made uvicorn send
    a second close frame, which raises and aborts the server's shutdown; connections
    already closing are simply dropped instead.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # kubectl's port-forward offers the subprotocol "SPDY/3.1+portforward.k8s.io", which the websockets
        # library refuses as a malformed token list (400) and Go's servers accept; the app picks the
        # subprotocol from the scope and uvicorn writes it into the 101, so the library's own choice is unused
        self.conn.process_subprotocol = _no_subprotocol  # type: ignore[method-assign]

    def shutdown(self) -> None:
        if self.close_sent or (self.handshake_complete and self.conn.state is not State.OPEN):
            # already closing: drop it (a TLS close would wait for the peer's close_notify)
            self.stop_keepalive()
            if self.close_timer is not None:
                self.close_timer.cancel()
                self.close_timer = None
            self.transport.abort()
            return
        super().shutdown()
