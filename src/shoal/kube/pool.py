"""Pooled, keep-alive upstream connections per cluster, for proxying byte for byte.

Who uses it: the kube gateway (``shoal.gateway``), which forwards every request
of ``kubectl`` to a managed cluster. ``KubeClient`` (``kube.client``) decodes
JSON for Shoal's own calls; this module never reads a body: it hands back a
streamed :class:`UpstreamResponse` and a websocket, so watches, ``logs -f`` and exec
pass through without buffering.

One :class:`Upstream` per cluster and credential holds one connection pool for
as long as the process lives, so no request pays for a client, a TLS context or
a handshake it does not need.

Why aiohttp and not httpx (``KubeClient`` made the same choice later, for the
same reason): under concurrency httpcore's pool collapses on this path (measured against
kubesim with 32 concurrent keep-alive requests: httpx 55 req/s, httpcore on
native asyncio streams 53 req/s, aiohttp 850 req/s on the same loaded machine),
and a proxy is nothing but that path. aiohttp streams both ways, keeps raw
bytes (``auto_decompress=False``: a gzip answer is relayed as gzip) and adds no
headers of its own (``skip_auto_headers``).

A credential rotation makes a new :class:`Upstream`; the old one is closed once
its last in-flight request (a watch, say) has finished.

Errors: transport failures leave as ``ClusterUnreachable`` (translated by
``kube.client``'s one translator); a websocket the cluster refuses leaves as
:class:`UpstreamRefused` carrying the cluster's own status and body, which the
gateway relays to the client unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
import httptools
import yarl
from multidict import CIMultiDict
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.typing import Subprotocol

from shoal.core.errors import ClusterUnreachable, Invalid
from shoal.kube.addresses import aiohttp_guard, connect_socket
from shoal.kube.client import _short
from shoal.kube.credentials import Credential
from shoal.kube.h1 import H1Connection, StaleConnection, open_connection
from shoal.kube.transport import ssl_context

__all__ = ["Upstream", "UpstreamPool", "UpstreamRefused", "UpstreamResponse", "UpstreamSocket", "unreachable"]

Headers = list[tuple[bytes, bytes]]


class UpstreamRefused(Exception):
    """The cluster answered a websocket upgrade with an HTTP status instead of 101."""

    def __init__(self, status: int, headers: Headers, body: bytes) -> None:
        super().__init__(f"cluster refused the upgrade with HTTP {status}")
        self.status = status
        self.headers = headers
        self.body = body


class UpstreamResponse:
    """A cluster's answer whose body has not been read: relay ``chunks()``, then ``aclose()``."""

    status: int
    raw_headers: list[tuple[bytes, bytes]]

    def chunks(self) -> AsyncIterator[bytes]:
        raise NotImplementedError

    async def aclose(self) -> None:
        raise NotImplementedError


def _declined(error: BaseException) -> InvalidStatus | None:
    """The cluster's non-101 answer behind a websocket failure, if that is what it was."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, InvalidStatus):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _broken(server: str, error: BaseException) -> ClusterUnreachable:
    return ClusterUnreachable("error.cluster_connect", hint="hint.cluster_network", server=server,
                              detail=_short(str(error) or type(error).__name__))


def unreachable(server: str, error: BaseException, read_timeout: float) -> ClusterUnreachable:
    """What a broken or silent connection to ``server`` means to the user (TimeoutError: no answer in time)."""
    if isinstance(error, TimeoutError):
        return ClusterUnreachable("error.cluster_timeout", hint="hint.cluster_network", server=server,
                                  seconds=f"{read_timeout:g}")
    return _broken(server, error)


class _AiohttpResponse(UpstreamResponse):
    def __init__(self, response: aiohttp.ClientResponse, server: str) -> None:
        self._response = response
        self._server = server
        self.status = response.status
        self.raw_headers = list(response.raw_headers)

    async def chunks(self) -> AsyncIterator[bytes]:
        """Body bytes as they arrive (chunked framing removed, content encoding kept)."""
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except (aiohttp.ClientError, TimeoutError) as e:
            raise _broken(self._server, e) from e

    async def aclose(self) -> None:
        self._response.release()


class _H1Response(UpstreamResponse):
    def __init__(self, upstream: Upstream, connection: H1Connection, status: int,
                 headers: list[tuple[bytes, bytes]], read_timeout: float | None) -> None:
        self._upstream = upstream
        self._connection = connection
        self._read_timeout = read_timeout
        self.status = status
        self.raw_headers = headers

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._connection.chunks(self._read_timeout):
                yield chunk
        except (OSError, TimeoutError, httptools.HttpParserError) as e:
            raise _broken(self._upstream.credential.server, e) from e

    async def aclose(self) -> None:
        self._upstream.release(self._connection)


@dataclass
class UpstreamSocket:
    """An open websocket to the cluster (exec, attach, port-forward)."""

    connection: ClientConnection

    @property
    def subprotocol(self) -> str | None:
        return self.connection.subprotocol

    async def recv(self) -> bytes | str | None:
        """The next message, or None once the cluster has closed the socket."""
        try:
            return await self.connection.recv()
        except ConnectionClosed:
            return None

    async def send(self, data: bytes | str) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self.connection.send(data)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self.connection.close(code, reason)

    @property
    def close_code(self) -> int | None:
        return self.connection.close_code

    @property
    def close_reason(self) -> str | None:
        return self.connection.close_reason


class Upstream:
    """Keep-alive connections to one cluster's API server with one credential."""

    def __init__(self, key: str, credential: Credential, *, max_connections: int, connect_timeout: float) -> None:
        self.key = key
        self.credential = credential
        self.connect_timeout = connect_timeout
        self.active = 0
        self.retired = False
        parts = urlsplit(credential.server)
        self.scheme = parts.scheme
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.base_path = parts.path.rstrip("/").encode()
        host_header = parts.netloc.rpartition("@")[2]
        self.host_header = host_header.encode()
        try:
            self.ssl: ssl.SSLContext | None = ssl_context(credential) if parts.scheme == "https" else None
        except ssl.SSLError as e:
            raise Invalid("error.cluster_bad_pem", hint="hint.cluster_credential",
                          detail=_short(e.reason or str(e))) from e
        self.auth: tuple[bytes, bytes] | None = (
            (b"authorization", f"Bearer {credential.token}".encode()) if credential.token else None)
        #: the credential's header line, rendered once (empty for client certificates)
        self.auth_line = b"authorization: " + self.auth[1] + b"\r\n" if self.auth is not None else b""
        self.max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._idle: list[H1Connection] = []

    def __repr__(self) -> str:
        return f"Upstream(key={self.key!r}, server={self.credential.server!r}, active={self.active})"

    def _url(self, target: bytes, scheme: str | None = None) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme or self.scheme}://{host}:{self.port}{(self.base_path + target).decode('latin-1')}"

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            # Watches and exec sessions hold a connection each for as long as they last, so the pool may
            # grow well past the keep-alive size; idle connections are closed after a minute.
            # every new connection's address is checked against the cluster address policy
            connector = aiohttp.TCPConnector(ssl=self.ssl if self.ssl is not None else False, limit=4096,
                                             limit_per_host=0, keepalive_timeout=60.0,
                                             socket_factory=aiohttp_guard(self.host, self.credential.server))
            self._session = aiohttp.ClientSession(connector=connector, auto_decompress=False,
                                                  cookie_jar=aiohttp.DummyCookieJar(),
                                                  skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept",
                                                                     "Content-Type"))
        return self._session

    async def send(self, method: str, target: bytes, headers: Headers, body: AsyncIterator[bytes] | None, *,
                   read_timeout: float | None) -> UpstreamResponse:
        """Send one request (``target`` = raw path and query); the response body is left unread.

        ``headers`` must already be stripped of the caller's credentials; the cluster's
        own ``Authorization`` is added here. Close the response with ``aclose()``.
        Body-less requests take the lean path (``kube.h1``); the rest go through aiohttp.
        """
        if body is None and method != "HEAD":
            return await self._send_h1(method, target, headers, read_timeout)
        all_headers: CIMultiDict[str] = CIMultiDict((k.decode("latin-1"), v.decode("latin-1")) for k, v in headers)
        all_headers["Host"] = self.host_header.decode("latin-1")
        if self.auth is not None:
            all_headers["Authorization"] = self.auth[1].decode("latin-1")
        timeout = aiohttp.ClientTimeout(total=None, connect=self.connect_timeout, sock_read=read_timeout)
        try:
            response = await self._client().request(
                method, yarl.URL(self._url(target), encoded=True), headers=all_headers, data=body,
                allow_redirects=False, timeout=timeout, server_hostname=self.credential.tls_server_name or None)
        except TimeoutError as e:
            raise ClusterUnreachable("error.cluster_timeout", hint="hint.cluster_network",
                                     server=self.credential.server,
                                     seconds=f"{read_timeout or self.connect_timeout:g}") from e
        except aiohttp.ClientConnectorCertificateError as e:
            raise ClusterUnreachable("error.cluster_tls", hint="hint.cluster_tls", server=self.credential.server,
                                     detail=_short(str(e.certificate_error))) from e
        except aiohttp.ClientConnectorDNSError as e:
            raise ClusterUnreachable("error.cluster_dns", hint="hint.cluster_network", server=self.credential.server,
                                     detail=_short(str(e))) from e
        except aiohttp.ClientError as e:
            raise _broken(self.credential.server, e) from e
        return _AiohttpResponse(response, self.credential.server)

    def head(self, method: str, target: bytes, headers: Headers) -> bytes:
        """The request head for ``target`` below the server's path, with the cluster's host and credential."""
        parts = [method.encode("ascii"), b" ", self.base_path, target, b" HTTP/1.1\r\nhost: ", self.host_header,
                 b"\r\n"]
        for key, value in headers:
            parts += [key, b": ", value, b"\r\n"]
        if self.auth is not None:
            parts += [b"authorization: ", self.auth[1], b"\r\n"]
        parts.append(b"\r\n")
        return b"".join(parts)

    def idle(self) -> H1Connection | None:
        """A kept-alive connection ready for a request, if one is pooled."""
        while self._idle:
            connection = self._idle.pop()
            if not connection.closed:
                return connection
        return None

    async def _connect(self) -> H1Connection:
        return self.idle() or await self.open()

    async def open(self) -> H1Connection:
        """A new connection to the cluster; failures leave as ``ClusterUnreachable``."""
        server = self.credential.server
        try:
            async with asyncio.timeout(self.connect_timeout):
                return await open_connection(self.host, self.port, self.ssl, self.credential.tls_server_name,
                                             server=server)
        except TimeoutError as e:
            raise ClusterUnreachable("error.cluster_timeout", hint="hint.cluster_network", server=server,
                                     seconds=f"{self.connect_timeout:g}") from e
        except ssl.SSLCertVerificationError as e:
            raise ClusterUnreachable("error.cluster_tls", hint="hint.cluster_tls", server=server,
                                     detail=_short(str(e.verify_message or e))) from e
        except socket.gaierror as e:
            raise ClusterUnreachable("error.cluster_dns", hint="hint.cluster_network", server=server,
                                     detail=_short(str(e))) from e
        except OSError as e:
            raise _broken(server, e) from e

    async def _send_h1(self, method: str, target: bytes, headers: Headers,
                       read_timeout: float | None) -> UpstreamResponse:
        head = self.head(method, target, headers)
        for attempt in (1, 2):
            connection = await self._connect()
            try:
                status, raw = await connection.request(head, read_timeout)
            except StaleConnection as e:
                connection.close()
                if attempt == 1:
                    continue
                raise _broken(self.credential.server, e) from e
            except TimeoutError as e:
                connection.close()
                raise ClusterUnreachable("error.cluster_timeout", hint="hint.cluster_network",
                                         server=self.credential.server, seconds=f"{read_timeout:g}") from e
            except (OSError, httptools.HttpParserError) as e:
                connection.close()
                raise _broken(self.credential.server, e) from e
            return _H1Response(self, connection, status, raw, read_timeout)
        raise AssertionError("unreachable")

    def release(self, connection: H1Connection) -> None:
        """Keep ``connection`` for the next request if its answer was read to the end, else close it."""
        if connection.reusable and len(self._idle) < self.max_connections:
            self._idle.append(connection)
        else:
            connection.close()

    async def websocket(self, target: bytes, headers: Headers, subprotocols: Sequence[str]) -> UpstreamSocket:
        """Open a websocket to ``target``; raise :class:`UpstreamRefused` if the cluster answers otherwise."""
        scheme = "wss" if self.scheme == "https" else "ws"
        extra = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers]
        if self.auth is not None:
            extra.append(("Authorization", self.auth[1].decode()))
        url = self._url(target, scheme)
        server = self.credential.server
        try:
            # resolved, checked against the address policy and connected here; TLS verifies the name
            async with asyncio.timeout(self.connect_timeout):
                sock = await connect_socket(self.host, self.port, server=server)
        except TimeoutError as e:
            raise ClusterUnreachable("error.cluster_timeout", hint="hint.cluster_network", server=server,
                                     seconds=f"{self.connect_timeout:g}") from e
        except OSError as e:
            raise ClusterUnreachable("error.cluster_connect", hint="hint.cluster_network", server=server,
                                     detail=_short(str(e) or type(e).__name__)) from e
        try:
            connection = await ws_connect(
                url, sock=sock, ssl=self.ssl,
                server_hostname=(self.credential.tls_server_name or self.host) if self.ssl is not None else None,
                additional_headers=extra, subprotocols=[Subprotocol(p) for p in subprotocols] or None,
                compression=None, max_size=None, open_timeout=self.connect_timeout, ping_interval=None,
                close_timeout=5, user_agent_header=None, proxy=None)
        except (InvalidStatus, InvalidURI, ValueError) as e:
            # a redirect is not followed (it would dial an address nobody checked): with our own socket
            # websockets refuses it (ValueError, or InvalidURI for an http:// target) over the cluster's
            # InvalidStatus, which is relayed like any other refusal
            status = _declined(e)
            if status is None:
                sock.close()
                raise
            response = status.response
            raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.headers.raw_items()]
            raise UpstreamRefused(response.status_code, raw, bytes(response.body or b"")) from e
        except TimeoutError as e:
            raise ClusterUnreachable("error.cluster_timeout", hint="hint.cluster_network",
                                     server=self.credential.server, seconds=f"{self.connect_timeout:g}") from e
        except (OSError, InvalidHandshake) as e:
            sock.close()
            raise ClusterUnreachable("error.cluster_connect", hint="hint.cluster_network",
                                     server=self.credential.server, detail=_short(str(e) or type(e).__name__)) from e
        except BaseException:
            sock.close()
            raise
        return UpstreamSocket(connection)

    async def aclose(self) -> None:
        for connection in self._idle:
            connection.close()
        self._idle.clear()
        if self._session is not None:
            await self._session.close()


class UpstreamPool:
    """One :class:`Upstream` per cluster; replaced when the cluster's credential changes.

    ``lease(cluster_id, credential)`` is an async context manager counting in-flight
    requests, so a replaced upstream is closed only after its last stream ends.
    """

    def __init__(self, *, max_connections: int = 64, connect_timeout: float = 10.0) -> None:
        self.max_connections = max_connections
        self.connect_timeout = connect_timeout
        self._upstreams: dict[str, Upstream] = {}
        self._retiring: set[Upstream] = set()
        self._closing: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._upstreams)

    def get(self, cluster_id: str, credential: Credential) -> Upstream:
        key = credential.pool_key
        current = self._upstreams.get(cluster_id)
        if current is not None and current.key == key:
            return current
        upstream = Upstream(key, credential, max_connections=self.max_connections,
                            connect_timeout=self.connect_timeout)
        self._upstreams[cluster_id] = upstream
        if current is not None:
            current.retired = True
            self._retiring.add(current)
        return upstream

    def forget(self, cluster_id: str) -> None:
        """Drop the cluster's upstream (deleted cluster); it closes when its last request ends."""
        current = self._upstreams.pop(cluster_id, None)
        if current is not None:
            current.retired = True
            self._retiring.add(current)

    def acquire(self, upstream: Upstream) -> None:
        upstream.active += 1

    def _unused(self, upstream: Upstream) -> bool:
        """Count one request less; True when ``upstream`` is retired and has just lost its last one."""
        upstream.active -= 1
        if upstream.retired and upstream.active == 0 and upstream in self._retiring:
            self._retiring.discard(upstream)
            return True
        return False

    async def release(self, upstream: Upstream) -> None:
        if self._unused(upstream):
            await upstream.aclose()

    def finished(self, upstream: Upstream) -> None:
        """:meth:`release` for callers that cannot wait: a retired upstream is closed in the background."""
        if self._unused(upstream):
            task = asyncio.get_running_loop().create_task(upstream.aclose())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def aclose(self) -> None:
        upstreams = [*self._upstreams.values(), *self._retiring]
        self._upstreams.clear()
        self._retiring.clear()
        for upstream in upstreams:
            await upstream.aclose()
