"""The gateway's front in ``shoal server``: ``/clusters/…`` relayed connection to connection.

Why not ASGI for this: a proxied request through uvicorn, ASGI messages and an
awaiting client costs several times what relaying it does (``bench/gateway.py``
measured the ASGI gateway at 0.15 of nginx's throughput). Here a request is
parsed by httptools, admitted from a kept admission (``gateway.core``), and
relayed by callbacks: no task, queue or future per request — the work of
an nginx ``proxy_pass`` plus the admission and the audit row.

How it sits in the server: uvicorn accepts connections (TLS, lifespan, graceful
shutdown stay uvicorn's) and builds this protocol for each (``front_protocol``
is passed as uvicorn's ``http`` class). The first request that is not for
``/clusters/`` hands the connection, with the bytes of that request, to
uvicorn's own protocol and so to the API and web app; the connection stays
there. kubectl's connections only ever carry gateway requests.

Relayed as they come: request bodies (``Content-Length`` or chunked, re-chunked
as parsed), answers (``Content-Length`` kept, anything else chunked to the
client), watches and ``logs -f`` (each piece written as it arrives), and
upgrades — websocket and SPDY alike — become a byte tunnel once the cluster
answers 101, so exec, attach and port-forward work with any kubectl.

Upgrades, and why they are handled apart: only exec, attach, port-forward and
proxy may ask for one (``core.check_upgrade``), on a fresh cluster connection
that is never pooled afterwards. Bytes the client sends after the upgrade head
are held (and the client's socket paused) until the cluster answers: 101 sends
them on through the tunnel; any other answer drops them and closes both
connections. A cluster that declines an upgrade may keep its connection alive
and read those bytes as its next request — run with Shoal's own credential and
no impersonation.

Backpressure: a client that reads slowly pauses reading from the cluster
(``pause_writing``), a cluster that takes a body slowly pauses reading from the
client; nothing is buffered beyond the sockets' own buffers.

Pipelined requests are answered in order (the next starts when the previous
answer is complete); a non-gateway request behind a pipelined gateway request
cannot be handed over mid-stream and closes the connection.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections import deque
from http import HTTPStatus
from typing import Any, cast

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from shoal.core.errors import ShoalError, Unavailable
from shoal.gateway.core import (
    DROP_PREFIXES,
    DROP_REQUEST,
    DROP_RESPONSE,
    PREFIX,
    SPLIT_TARGETS,
    Admitted,
    Gateway,
    Seen,
    check_upgrade,
    hop_by_hop,
    split_target,
)
from shoal.gateway.metrics import GATEWAY_METRICS
from shoal.kube.h1 import H1Connection, StaleConnection
from shoal.kube.pool import unreachable

__all__ = ["FrontProtocol", "TrustedProxies", "front_protocol"]

log = logging.getLogger("shoal.gateway.front")

#: Seconds a kept-alive client connection may stay idle (nginx's default keepalive_timeout).
IDLE_SECONDS = 75.0
#: Pipelined requests held before the connection stops reading.
_MAX_QUEUED = 8
#: Dropped request headers the gateway itself reads, and the _Request field each goes to.
_READ = {b"authorization": "authorization", b"content-length": "length", b"transfer-encoding": "transfer_encoding",
         b"upgrade": "upgrade", b"expect": "expect", b"x-forwarded-for": "forwarded_for", b"connection": "connection"}
_DROP_UPGRADE_RESPONSE = frozenset({b"set-cookie", b"proxy-authenticate"})
_STATUS_LINES = {int(s): b"HTTP/1.1 %d %s\r\n" % (int(s), s.phrase.encode()) for s in HTTPStatus}
_BODYLESS = frozenset({204, 304})
_METHODS = {m.encode(): m for m in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")}


def _status_line(status: int) -> bytes:
    return _STATUS_LINES.get(status) or b"HTTP/1.1 %d Status\r\n" % status


class TrustedProxies:
    """Addresses whose ``X-Forwarded-For`` is believed: uvicorn's ``forwarded_allow_ips`` (hosts, networks, ``*``)."""

    def __init__(self, spec: list[str] | str) -> None:
        items = [item.strip() for item in (spec.split(",") if isinstance(spec, str) else spec) if item.strip()]
        self.everyone = "*" in items
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        self.names: set[str] = set()
        for item in items:
            try:
                self.networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                self.names.add(item)

    def __contains__(self, host: str) -> bool:
        if self.everyone or host in self.names:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    def client(self, forwarded_for: str) -> str | None:
        """The nearest address in the chain that is not a trusted proxy (the first one if all are)."""
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        for hop in reversed(hops):
            if hop not in self:
                return hop[:64]
        return hops[0][:64] if hops else None


class _Request(Seen):
    """One gateway request: what was asked, how far its answer got; the exchange its cluster connection feeds."""

    __slots__ = (
        "admitted",
        "authorization",
        "body",
        "body_done",
        "chunked_in",
        "chunked_out",
        "client",
        "cluster_id",
        "conn",
        "connection",
        "deadline",
        "discard",
        "expect",
        "forwarded_for",
        "front",
        "has_body",
        "head_only",
        "head_sent",
        "headers",
        "held",
        "keep_alive",
        "language",
        "length",
        "lines",
        "method",
        "path",
        "query",
        "retried",
        "started",
        "status",
        "target",
        "transfer_encoding",
        "upgrade",
        "url",
        "writing",
    )
    # set from the request head by FrontProtocol._read_head
    method: str
    cluster_id: str
    target: bytes
    path: str
    query: bytes
    keep_alive: bool
    head_only: bool
    has_body: bool
    lines: bytes

    def __init__(self, front: FrontProtocol) -> None:
        self.caller = self.cluster = self.info = None  # Seen's, set here: one call less per request
        self.front = front
        self.url = b""
        #: forwarded header lines as they are parsed (FrontProtocol.on_header), and the headers the gateway reads
        self.headers: list[bytes] = []
        self.authorization: bytes | None = None
        self.language: bytes | None = None
        self.length: bytes | None = None
        self.expect: bytes | None = None
        self.upgrade: bytes | None = None
        self.forwarded_for: bytes | None = None
        self.transfer_encoding: bytes | None = None
        self.connection: bytes | None = None
        self.client = front.client
        self.chunked_in = False
        self.body: list[bytes] = []
        self.body_done = False
        self.discard = False
        self.conn: H1Connection | None = None
        self.admitted: Admitted | None = None
        self.writing = False
        self.head_sent = False
        self.chunked_out = False
        self.held = b""
        self.status = 0
        self.retried = False
        self.deadline = 0.0  # loop time by which the head of the answer must arrive (0: none)
        self.started = time.perf_counter()

    # --- the cluster's answer (kube.h1.Exchange) -----------------------------------------------
    def on_head(self, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        self.deadline = 0.0
        self.status = status
        if self.upgrade is not None:  # the cluster declined the upgrade: what the client sent after it goes nowhere
            self.body.clear()
            self.discard = True
        parts = [_status_line(status)]
        has_length = False
        for name, value in headers:
            if name in DROP_RESPONSE:
                continue
            if name == b"content-length":
                has_length = True
            parts += [name, b": ", value, b"\r\n"]
        if self.keep_alive and not (has_length or self.head_only or status in _BODYLESS or status < 200):
            self.chunked_out = True  # framing the client can follow on a kept connection
            parts.append(b"transfer-encoding: chunked\r\n")
        if not self.keep_alive:
            parts.append(b"connection: close\r\n")
        parts.append(b"\r\n")
        self.head_sent = True
        head = b"".join(parts)
        if self.info is not None and self.info.long_running:
            self.front.write(head)  # a watch's head goes out at once: the first event may be minutes away
        else:
            # goes out with the first piece of the body, joined: one TLS record and one send, so the client
            # reads the answer in one go (a record per piece made it read twice)
            self.held = head

    def on_body(self, chunk: bytes) -> None:
        held, self.held = self.held, b""
        if self.chunked_out:
            self.front.write(b"%s%x\r\n%s\r\n" % (held, len(chunk), chunk))
        elif held:
            self.front.write(held + chunk)
        else:
            self.front.write(chunk)

    def on_end(self) -> None:
        if self.front.tunnel is not None:  # the cluster closed the tunnel
            self.front.close()
            return
        held, self.held = self.held, b""
        if self.chunked_out:
            self.front.writelines((held, b"0\r\n\r\n"))
        elif held:
            self.front.write(held)
        self.front.finish(self)

    def on_error(self, error: BaseException) -> None:
        self.front.failed(self, error)

    def on_upgrade(self, status: int, headers: list[tuple[bytes, bytes]], rest: bytes) -> None:
        self.status = status
        parts = [_status_line(status)]
        parts += [b"%s: %s\r\n" % (name, value) for name, value in headers if name not in _DROP_UPGRADE_RESPONSE]
        parts.append(b"\r\n")
        self.head_sent = True
        self.front.tunnelled(self, b"".join(parts) + rest)

    def on_tunnel_data(self, data: bytes) -> None:
        self.front.write(data)

    def on_drain(self, writable: bool) -> None:
        self.front.cluster_writable(writable)

    def expire(self) -> None:
        """No answer within the read timeout."""
        self.deadline = 0.0
        if not self.head_sent:
            self.front.failed(self, TimeoutError(f"no answer within {self.front.gateway.read_timeout:g}s"))


class FrontProtocol(asyncio.Protocol):
    """One client connection of ``shoal server`` (see the module's docstring)."""

    gateway: Gateway  # bound by front_protocol()
    trusted: TrustedProxies | None = None

    def __init__(self, config: Any, server_state: Any, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.config = config
        self.server_state = server_state
        self.app_state = app_state
        self.loop = _loop or asyncio.get_event_loop()
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.client = ""
        self.forwarded = b""
        self.behind_proxy = False
        self.raw: list[bytes] | None = None  # the bytes since the parser was last between requests
        self.between = True
        self.parsing: _Request | None = None  # the request being parsed
        self.current: _Request | None = None  # the request being answered
        self.queue: deque[_Request] = deque()
        self.upgrading: _Request | None = None
        self.tunnel: H1Connection | None = None
        self.hand_off = False
        self.closing = False
        self.closed = False
        self.last_active = self.loop.time()
        self.idle_timer: asyncio.TimerHandle | None = None
        #: one timer per connection for read timeouts, not one per request: it fires at the current
        #: request's deadline, or re-arms itself for a later request's
        self.watchdog: asyncio.TimerHandle | None = None
        self.watch_at = 0.0
        self.tasks: set[asyncio.Task[None]] = set()
        self.paused: set[str] = set()

    # --- asyncio.Protocol ----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.server_state.connections.add(self)
        peer = transport.get_extra_info("peername")
        self.client = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        self.forwarded = b"x-forwarded-for: %s\r\n" % self.client.encode() if self.client else b""
        trusted = self.trusted
        if trusted is None:  # once per server: uvicorn's --forwarded-allow-ips, as the app's requests use it
            trusted = type(self).trusted = TrustedProxies(getattr(self.config, "forwarded_allow_ips", "127.0.0.1,::1"))
        self.behind_proxy = bool(getattr(self.config, "proxy_headers", False)) and self.client in trusted
        self.idle_timer = self.loop.call_later(IDLE_SECONDS, self._check_idle)

    def data_received(self, data: bytes) -> None:
        if self.tunnel is not None:
            self.tunnel.write(data)
            return
        if self.upgrading is not None:  # bytes sent before the cluster agreed to the upgrade
            self._hold(self.upgrading, data)
            return
        if self.between:
            self.raw = [data]
        elif self.raw is not None:
            self.raw.append(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            request = self.upgrading
            if request is None:  # an upgrade the gateway did not take as one (not for /clusters/): nothing to relay
                if not self.hand_off:
                    self.close()
            elif upgrade.args[0] < len(data):
                self._hold(request, data[upgrade.args[0]:])
        except httptools.HttpParserError as e:
            log.info("bad request from %s: %s", self.client, e)
            if self.current is None:
                self.write(_status_line(400) + b"content-length: 0\r\nconnection: close\r\n\r\n")
            self.close()
            return
        if self.hand_off:
            self._hand_off()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.server_state.connections.discard(self)
        if self.idle_timer is not None:
            self.idle_timer.cancel()
        if self.watchdog is not None:
            self.watchdog.cancel()
        request = self.current
        if request is not None:
            self.current = None
            self._release(request, reuse=False)
            if self.tunnel is not None:
                self._record(request, 101, "")
            else:
                self._record(request, request.status if request.head_sent else 499,
                             "stream_interrupted" if request.head_sent else "client_gone")
        if self.tunnel is not None:
            self.tunnel.close()
        self.queue.clear()

    def pause_writing(self) -> None:
        conn = self.tunnel or (self.current.conn if self.current is not None else None)
        if conn is not None:
            conn.pause_reading()

    def resume_writing(self) -> None:
        conn = self.tunnel or (self.current.conn if self.current is not None else None)
        if conn is not None:
            conn.resume_reading()

    def shutdown(self) -> None:
        """uvicorn's graceful shutdown: finish an ordinary answer, cut streams and idle connections."""
        self.closing = True
        request = self.current
        if request is None or self.tunnel is not None or (request.info is not None and request.info.long_running):
            self.close()

    # --- httptools callbacks (the client's requests) ---------------------------------------------
    def on_url(self, url: bytes) -> None:
        request = self.parsing
        if request is None:  # a request begins (no on_message_begin: one callback less per request)
            self.between = False
            self.parsing = request = _Request(self)
        request.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        request = self.parsing
        if request is None:
            return
        name = name.lower()
        if name in DROP_REQUEST or name.startswith(DROP_PREFIXES):
            field = _READ.get(name)
            if field is not None:
                setattr(request, field, value)
            return
        if name == b"accept-language":
            request.language = value
        request.headers += (name, b": ", value, b"\r\n")

    def on_headers_complete(self) -> None:
        request = self.parsing
        if request is None or self.hand_off:
            return
        url = request.url
        if not url.startswith(PREFIX):
            self.parsing = None
            if self.raw is not None and self.current is None and not self.queue:
                self.hand_off = True  # done once the parser has returned (data_received)
            else:
                log.info("non-gateway request pipelined behind gateway requests from %s: closing", self.client)
                self.close()
            return
        self.raw = None
        self.server_state.total_requests += 1
        self._read_head(request)
        if self.current is None:
            self._begin(request)
        else:
            self.queue.append(request)
            if len(self.queue) >= _MAX_QUEUED:
                self._pause("queue")

    def on_body(self, body: bytes) -> None:
        request = self.parsing
        if request is not None:
            self._body_bytes(request, body)

    def on_message_complete(self) -> None:
        self.between = True
        request, self.parsing = self.parsing, None
        if request is None:
            return
        request.body_done = True
        if request.writing and request.chunked_in and request.conn is not None and not request.discard:
            request.conn.write(b"0\r\n\r\n")

    # --- one request ---------------------------------------------------------------------------
    def _read_head(self, request: _Request) -> None:
        """Split the target, pick out the headers the gateway reads, and render the ones it forwards."""
        parser = self.parser
        method = parser.get_method()
        request.method = _METHODS.get(method) or method.decode("ascii", "replace")
        split = SPLIT_TARGETS.get(request.url) or split_target(request.url)
        request.cluster_id, request.target, request.path, request.query = split
        request.keep_alive = parser.should_keep_alive() and parser.get_http_version() == "1.1"
        request.head_only = request.method == "HEAD"
        lines = request.headers
        if request.connection is not None:
            named = hop_by_hop(request.connection)
            if named:  # rare: kubectl names no headers in Connection
                lines = [piece for i in range(0, len(lines), 4) if lines[i] not in named
                         for piece in lines[i:i + 4]]
        if request.forwarded_for is not None and self.behind_proxy and self.trusted is not None:
            request.client = self.trusted.client(request.forwarded_for.decode("latin-1")) or self.client
            lines.append(b"x-forwarded-for: %s\r\n" % request.client.encode())
        else:
            lines.append(self.forwarded)
        if request.upgrade is not None and parser.should_upgrade():
            lines += (b"connection: Upgrade\r\nupgrade: ", request.upgrade, b"\r\n")
            self.upgrading = request
            request.keep_alive = False  # after an upgrade request the connection is a tunnel or nothing
        else:
            request.upgrade = None
        length = request.length
        request.chunked_in = request.transfer_encoding is not None
        if request.chunked_in:
            lines.append(b"transfer-encoding: chunked\r\n")
        elif length is not None and length != b"0":
            lines += (b"content-length: ", length, b"\r\n")
        request.has_body = request.chunked_in or (length is not None and length != b"0")
        request.lines = b"".join(lines)
        request.headers = []

    def _begin(self, request: _Request) -> None:
        self.current = request
        try:
            admitted = self.gateway.admit_cached(request, request.authorization, request.cluster_id,
                                                 request.method, request.path, request.query)
        except ShoalError as error:
            self.refuse(request, error)
            return
        if admitted is None:
            self._spawn(self._admit(request))
        else:
            self._send(request, admitted)

    async def _admit(self, request: _Request) -> None:
        self._pause("admission")
        try:
            admitted = await self.gateway.admit(request, request.authorization, request.cluster_id,
                                                request.method, request.path, request.query)
        except ShoalError as error:
            self.refuse(request, error)
            return
        except Exception as e:  # the database, say: answer the client instead of leaving it waiting
            log.exception("could not admit a gateway request to %s", request.cluster_id)
            self.refuse(request, Unavailable("error.gateway_unavailable", hint="hint.gateway_unavailable",
                                             detail=type(e).__name__))
            return
        finally:
            self._resume("admission")
        if not self.closed:
            self._send(request, admitted)

    def _send(self, request: _Request, admitted: Admitted) -> None:
        if request.upgrade is not None:
            assert request.info is not None
            try:
                check_upgrade(request.info, request.has_body)
            except ShoalError as error:
                self.refuse(request, error)
                return
        request.admitted = admitted
        self.gateway.pool.acquire(admitted.upstream)
        conn = None if request.upgrade is not None else admitted.upstream.idle()  # an upgrade gets a fresh one
        if conn is None:
            self._spawn(self._open(request))
        else:
            self._start(request, conn)

    async def _open(self, request: _Request) -> None:
        assert request.admitted is not None
        self._pause("connect")
        try:
            conn = await request.admitted.upstream.open()
        except Exception as e:
            error = e if isinstance(e, ShoalError) else unreachable(request.admitted.upstream.credential.server, e, 0)
            if not isinstance(e, ShoalError):
                log.exception("could not connect to cluster %s", request.cluster_id)
            self._release(request, reuse=False)
            self.refuse(request, error)
            return
        finally:
            self._resume("connect")
        if self.closed:
            conn.close()
            return
        self._start(request, conn)

    def _start(self, request: _Request, conn: H1Connection) -> None:
        admitted = request.admitted
        assert admitted is not None
        upstream = admitted.upstream
        head = b"".join((request.method.encode(), b" ", upstream.base_path, request.target,
                         b" HTTP/1.1\r\nhost: ", upstream.host_header, b"\r\n", request.lines, admitted.extra,
                         upstream.auth_line, b"\r\n"))
        request.conn = conn
        try:
            conn.start(head, request, head_only=request.head_only, upgrade=request.upgrade is not None)
        except ConnectionError as error:
            request.conn = None
            self.failed(request, error)
            return
        info = request.info
        if info is not None and not info.long_running and request.upgrade is None:
            request.deadline = self.loop.time() + self.gateway.read_timeout
            if self.watchdog is None or request.deadline < self.watch_at:
                self._arm(request.deadline)
        if request.upgrade is not None:
            return  # no body (check_upgrade); what follows the head waits for the cluster's 101 (tunnelled)
        if request.expect is not None and not request.body_done:
            self.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writing = True
        for chunk in request.body:
            self._write_body(request, chunk)
        request.body.clear()
        if request.body_done and request.chunked_in:
            conn.write(b"0\r\n\r\n")

    def _hold(self, request: _Request, data: bytes) -> None:
        """Keep bytes sent after an upgrade head until the cluster has answered it (see the module's docstring).

        Reading from the client stops meanwhile, so at most one read's worth is held."""
        if request.discard:
            return
        request.body.append(data)
        self._pause("upgrade")

    def _body_bytes(self, request: _Request, data: bytes) -> None:
        if request.discard:
            return
        if request.writing and request.conn is not None:
            self._write_body(request, data)
        else:
            request.body.append(data)

    def _write_body(self, request: _Request, data: bytes) -> None:
        assert request.conn is not None
        if request.chunked_in:
            request.conn.write(b"%x\r\n%s\r\n" % (len(data), data))
        else:
            request.conn.write(data)

    # --- ends --------------------------------------------------------------------------------------
    def finish(self, request: _Request) -> None:
        """The answer is complete: keep the cluster connection if it can be, audit, go on with the next."""
        reuse = request.body_done and request.upgrade is None  # a connection that carried an upgrade never returns
        if not reuse:
            request.discard = True  # the cluster answered before the body ended: drop the rest of it
        self._release(request, reuse=reuse)
        self._record(request, request.status, "")
        self._next(request)

    def refuse(self, request: _Request, error: ShoalError) -> None:
        """Answer with a Kubernetes ``Status`` (no cluster connection involved any more)."""
        if self.closed:
            return
        request.discard = True
        if request is self.upgrading:
            self.upgrading = None
            request.keep_alive = False  # the client's parser expects a tunnel after this request
        status, headers, body = self.gateway.refusal(request.language, error)
        request.status = status
        parts = [_status_line(status)]
        parts += [b"%s: %s\r\n" % (name, value) for name, value in headers]
        parts.append(b"content-length: %d\r\n" % len(body))
        if not request.keep_alive:
            parts.append(b"connection: close\r\n")
        parts += [b"\r\n", body]
        self.write(b"".join(parts))
        self._record(request, status, error.code)
        self._next(request)

    def failed(self, request: _Request, error: BaseException) -> None:
        """The cluster connection broke: retry a stale keep-alive, refuse if nothing was sent, else cut."""
        request.deadline = 0.0
        conn, request.conn = request.conn, None
        if conn is not None:
            conn.detach()
            conn.close()
        if self.closed or request is not self.current:
            return
        if (isinstance(error, StaleConnection) and not request.retried and not request.has_body
                and request.upgrade is None and request.admitted is not None):
            request.retried = True
            self._spawn(self._open(request))
            return
        if request.held:  # the head never left: the client can still be told what happened
            request.held = b""
            request.head_sent = False
        if request.head_sent:
            log.info("stream to %s ended early: %s", request.cluster_id, type(error).__name__)
            self._release(request, reuse=False)
            self._record(request, request.status, "stream_interrupted")
            self.current = None
            self.close()
            return
        self._release(request, reuse=False)
        server = request.admitted.upstream.credential.server if request.admitted is not None else ""
        self.refuse(request, unreachable(server, error, self.gateway.read_timeout))

    def tunnelled(self, request: _Request, head: bytes) -> None:
        """The cluster switched protocols: from now on bytes flow unchanged both ways until one side closes.

        The request stays current until then, so its audit entry carries the session's length."""
        tunnel = self.tunnel = request.conn
        self.upgrading = None
        self.write(head)
        if tunnel is not None:
            for data in request.body:  # what the client sent before the 101, in order
                tunnel.write(data)
        request.body.clear()
        self._resume("upgrade")

    def _release(self, request: _Request, *, reuse: bool) -> None:
        conn, request.conn = request.conn, None
        admitted, request.admitted = request.admitted, None
        if conn is not None:
            if reuse and admitted is not None:
                admitted.upstream.release(conn)
            else:
                conn.detach()
                conn.close()
        if admitted is not None:
            self.gateway.pool.finished(admitted.upstream)

    def _record(self, request: _Request, status: int, code: str) -> None:
        elapsed = time.perf_counter() - request.started
        self.gateway.record(request, request.cluster_id, request.method, request.path, request.client, status,
                            elapsed, code)
        GATEWAY_METRICS.observe(request.method, status, elapsed)
        if log.isEnabledFor(logging.INFO):
            log.info("request", extra={"method": request.method, "path": f"/clusters/{request.cluster_id}"
                                       f"{request.path}", "status": status, "duration_ms": round(elapsed * 1000, 1)})

    def _next(self, request: _Request) -> None:
        if request is self.current:
            self.current = None
        self.last_active = self.loop.time()
        if not request.keep_alive or self.closing:
            self.close()
            return
        if self.queue:
            following = self.queue.popleft()
            if len(self.queue) < _MAX_QUEUED:
                self._resume("queue")
            self._begin(following)

    # --- the connection --------------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(data)

    def writelines(self, data: tuple[bytes, ...]) -> None:
        if self.transport is not None and not self.closed:
            self.transport.writelines(data)

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.close()

    def cluster_writable(self, writable: bool) -> None:
        if writable:
            self._resume("cluster")
        else:
            self._pause("cluster")

    def _pause(self, reason: str) -> None:
        """Stop reading from the client while any reason holds (waiting for admission, a full cluster socket…)."""
        if not self.paused and self.transport is not None and not self.closed:
            self.transport.pause_reading()
        self.paused.add(reason)

    def _resume(self, reason: str) -> None:
        self.paused.discard(reason)
        if not self.paused and self.transport is not None and not self.closed:
            self.transport.resume_reading()

    def _spawn(self, coroutine: Any) -> None:
        task = self.loop.create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _watch(self) -> None:
        self.watchdog = None
        request = self.current
        if self.closed or request is None or not request.deadline:
            return
        if self.loop.time() >= request.deadline:
            request.expire()
        else:
            self._arm(request.deadline)

    def _arm(self, when: float) -> None:
        if self.watchdog is not None:
            self.watchdog.cancel()
        self.watch_at = when
        self.watchdog = self.loop.call_at(when, self._watch)

    def _check_idle(self) -> None:
        if self.closed:
            return
        idle_for = self.loop.time() - self.last_active
        if self.current is None and self.tunnel is None and self.between and idle_for >= IDLE_SECONDS:
            self.close()
            return
        self.idle_timer = self.loop.call_later(max(1.0, IDLE_SECONDS - idle_for), self._check_idle)

    def _hand_off(self) -> None:
        """Give the connection, with the bytes of its current request, to uvicorn's protocol (the API app)."""
        assert self.transport is not None
        raw = b"".join(self.raw or ())
        self.raw = None
        if self.idle_timer is not None:
            self.idle_timer.cancel()
        self.server_state.connections.discard(self)
        protocol = HttpToolsProtocol(config=self.config, server_state=self.server_state, app_state=self.app_state,
                                     _loop=self.loop)
        self.transport.set_protocol(protocol)
        protocol.connection_made(self.transport)
        protocol.data_received(raw)


def front_protocol(gateway: Gateway) -> type[FrontProtocol]:
    """The protocol class for ``uvicorn.Config(http=…)``, bound to the server's gateway."""
    return type("BoundFrontProtocol", (FrontProtocol,), {"gateway": gateway})

