"""The gateway as a plain ASGI application, behind ``GatewayDispatch`` in ``api.app.create_app``.

``shoal server`` relays most gateway traffic at the connection level
(``gateway.front``); this application serves what reaches the ASGI app:
connections that began with another request, and in-process use (tests).
Admission, audit and refusals are ``gateway.core``'s, shared by both.

Why plain ASGI and not FastAPI routes: a route would read bodies into memory and
wrap streams; here every byte is passed on as it arrives, both ways, and the
slowest side sets the pace (``send`` waits while the client's socket is full,
and the next chunk is read from the cluster only after that), so a slow client
applies backpressure instead of growing memory. Websocket upgrades (exec,
attach, port-forward) are relayed frame by frame with the subprotocol the
cluster chose; other upgrades (SPDY) are refused here — the front relays them.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Awaitable
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from shoal.core.errors import Invalid, ShoalError, Unauthenticated
from shoal.gateway.core import (
    DROP_PREFIXES,
    DROP_REQUEST,
    DROP_RESPONSE,
    PREFIX,
    STATUS_HEADERS,
    Admitted,
    Gateway,
    Seen,
    check_upgrade,
    hop_by_hop,
    impersonation_headers,
    split_target,
)
from shoal.gateway.metrics import GATEWAY_METRICS
from shoal.kube.pool import Headers, Upstream, UpstreamRefused

__all__ = ["AsgiGateway", "GatewayDispatch", "GatewayFront"]

log = logging.getLogger("shoal.gateway")

_DROP_WEBSOCKET = DROP_REQUEST | {b"sec-websocket-key", b"sec-websocket-version", b"sec-websocket-extensions",
                                   b"sec-websocket-protocol", b"origin"}


class _ClientGone(Exception):
    """The client disconnected while its request body was being forwarded."""


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    for key, value in headers:
        if key == name:
            return value
    return None


def _split(scope: Scope) -> tuple[str, bytes, str]:
    """``(cluster id, raw target below it, decoded path below it)`` of a gateway request."""
    raw: bytes = scope.get("raw_path") or scope["path"].encode()
    start = raw.find(PREFIX)
    if start < 0:
        raise Unauthenticated("error.gateway_no_token", hint="hint.gateway_token")
    query: bytes = scope.get("query_string") or b""
    cluster_id, target, path, _ = split_target(raw[start:] + b"?" + query if query else raw[start:])
    return cluster_id, target, path


def _check_framing(headers: list[tuple[bytes, bytes]]) -> None:
    """Refuse a request whose length is given twice: ``Transfer-Encoding`` with ``Content-Length``, or two
    ``Content-Length`` headers. The server's parser refuses these too; this keeps the gateway from forwarding
    a length that is not the body's if it ever did not (request smuggling toward the cluster)."""
    lengths = [value for name, value in headers if name == b"content-length"]
    if len(lengths) > 1 or (lengths and _header(headers, b"transfer-encoding") is not None):
        raise Invalid("error.gateway_framing", hint="hint.gateway_framing")


async def _first(*awaitables: Awaitable[Any]) -> None:
    """Run ``awaitables`` until the first one finishes; cancel and await the rest (no task outlives this)."""
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    try:
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
            raise result
    del done, pending


@dataclasses.dataclass
class _Outcome:
    status: int = 0
    code: str = ""


class AsgiGateway:
    """``/clusters/{clusterId}/…`` over ASGI -> the managed cluster, with the caller's rights."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.pool = gateway.pool

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)

    # --- shared steps -------------------------------------------------------------------------
    async def _admit(self, scope: Scope, method: str, seen: Seen) -> tuple[Admitted, bytes]:
        """Admit the request (``gateway.core``); raise a ShoalError for any refusal."""
        cluster_id, target, path = _split(scope)
        admitted = await self.gateway.admit(seen, _header(scope["headers"], b"authorization"), cluster_id, method,
                                            path, scope.get("query_string") or b"")
        return admitted, target

    @staticmethod
    def _upstream_headers(scope: Scope, admitted: Admitted, drop: frozenset[bytes]) -> Headers:
        connection = _header(scope["headers"], b"connection")
        if connection is not None:
            drop = drop | hop_by_hop(connection)
        headers: Headers = [(k, v) for k, v in scope["headers"] if k not in drop and not k.startswith(DROP_PREFIXES)]
        client = scope.get("client")
        if client:
            headers.append((b"x-forwarded-for", str(client[0]).encode()))
        if admitted.cluster.impersonate:
            headers.extend(impersonation_headers(admitted.caller.principal, admitted.cluster.project_code))
        return headers

    def _record(self, scope: Scope, seen: Seen, method: str, status: int, started: float, code: str = "") -> None:
        cluster_id, _, path = _split(scope)
        client = scope.get("client")
        elapsed = time.perf_counter() - started
        self.gateway.record(seen, cluster_id, method, path, str(client[0]) if client else "", status, elapsed, code)
        GATEWAY_METRICS.observe(method, status, elapsed)

    def _refusal(self, scope: Scope, error: ShoalError) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        return self.gateway.refusal(_header(scope["headers"], b"accept-language"), error)

    # --- HTTP ----------------------------------------------------------------------------------
    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        method: str = scope["method"]
        outcome = _Outcome()
        seen = Seen()
        try:
            admitted, target = await self._admit(scope, method, seen)
            if _header(scope["headers"], b"upgrade") is not None:
                raise Invalid("error.gateway_spdy", hint="hint.gateway_spdy")
            _check_framing(scope["headers"])
        except ShoalError as error:
            status, headers, body = self._refusal(scope, error)
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            self._record(scope, seen, method, status, started, error.code)
            return
        upstream = admitted.upstream
        self.pool.acquire(upstream)
        try:
            await self._forward(scope, receive, send, admitted, seen, target, outcome)
        finally:
            await self.pool.release(upstream)
            self._record(scope, seen, method, outcome.status, started, outcome.code)

    async def _forward(self, scope: Scope, receive: Receive, send: Send, admitted: Admitted, seen: Seen,
                       target: bytes, outcome: _Outcome) -> None:
        headers = self._upstream_headers(scope, admitted, DROP_REQUEST)
        upstream: Upstream = admitted.upstream
        assert seen.info is not None
        long_running = seen.info.long_running
        length = _header(scope["headers"], b"content-length")
        chunked = _header(scope["headers"], b"transfer-encoding") is not None
        body: AsyncIterator[bytes] | None = None
        if length not in (None, b"0") or chunked:
            headers.append((b"content-length", length) if length is not None else (b"transfer-encoding", b"chunked"))
            body = _request_body(receive)
        try:
            response = await upstream.send(scope["method"], target, headers, body,
                                           read_timeout=None if long_running else self.gateway.read_timeout)
        except (ShoalError, _ClientGone) as error:
            if isinstance(error, _ClientGone):
                outcome.status, outcome.code = 499, "client_gone"
                return
            status, refusal_headers, refusal = self._refusal(scope, error)
            outcome.status, outcome.code = status, error.code
            await send({"type": "http.response.start", "status": status, "headers": refusal_headers})
            await send({"type": "http.response.body", "body": refusal})
            return
        try:
            outcome.status = response.status
            kept = [(k.lower(), v) for k, v in response.raw_headers if k.lower() not in DROP_RESPONSE]
            await send({"type": "http.response.start", "status": response.status, "headers": kept})
            if long_running and body is None:
                await _first(_pump(response.chunks(), send), _disconnected(receive))
            else:
                await _pump_holding_last(response.chunks(), send)
        except Exception as e:  # the cluster or the client went away mid-stream: nothing more can be said
            log.info("stream to %s ended early: %s", admitted.cluster.id, type(e).__name__)
            outcome.code = "stream_interrupted"
        finally:
            await response.aclose()

    # --- websocket -----------------------------------------------------------------------------
    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        seen = Seen()
        try:
            admitted, target = await self._admit(scope, "GET", seen)
            assert seen.info is not None
            check_upgrade(seen.info, False)  # exec, attach, port-forward and proxy only
        except ShoalError as error:
            status, headers, body = self._refusal(scope, error)
            await _deny(scope, send, status, headers, body)
            self._record(scope, seen, "GET", status, started, error.code)
            return
        headers = self._upstream_headers(scope, admitted, _DROP_WEBSOCKET)
        upstream = admitted.upstream
        status = 101
        code = ""
        self.pool.acquire(upstream)
        try:
            try:
                socket = await upstream.websocket(target, headers, list(scope.get("subprotocols") or []))
            except UpstreamRefused as refused:
                status = refused.status
                kept = [(k, v) for k, v in refused.headers if k in (b"content-type",)] or list(STATUS_HEADERS)
                await _deny(scope, send, refused.status, kept, refused.body)
                return
            except ShoalError as error:
                status, refusal_headers, body = self._refusal(scope, error)
                code = error.code
                await _deny(scope, send, status, refusal_headers, body)
                return
            await send({"type": "websocket.accept", "subprotocol": socket.subprotocol})

            async def downstream() -> None:  # cluster -> client
                while True:
                    data = await socket.recv()
                    if data is None:
                        await send({"type": "websocket.close", "code": socket.close_code or 1000,
                                    "reason": socket.close_reason or ""})
                        return
                    if isinstance(data, bytes):
                        await send({"type": "websocket.send", "bytes": data})
                    else:
                        await send({"type": "websocket.send", "text": data})

            async def upstream_pump() -> None:  # client -> cluster
                while True:
                    msg: Message = await receive()
                    if msg["type"] == "websocket.disconnect":
                        await socket.close(1000)
                        return
                    if msg["type"] == "websocket.receive":
                        data = msg.get("bytes")
                        await socket.send(data if data is not None else msg.get("text") or "")

            try:
                await _first(downstream(), upstream_pump())
            except Exception as e:
                log.info("websocket to %s ended: %s", admitted.cluster.id, type(e).__name__)
                code = "stream_interrupted"
            finally:
                await socket.close(1000)
        finally:
            await self.pool.release(upstream)
            self._record(scope, seen, "GET", status, started, code)


async def _request_body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        chunk = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


async def _pump(stream: AsyncIterator[bytes], send: Send) -> None:
    async for chunk in stream:
        if chunk:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _pump_holding_last(stream: AsyncIterator[bytes], send: Send) -> None:
    """Like :func:`_pump` but each chunk waits for the next, so the last goes out with the end of the body:
    one ASGI message less per ordinary answer (most are one chunk). Never for watches or ``logs -f``."""
    pending = b""
    async for chunk in stream:
        if chunk:
            if pending:
                await send({"type": "http.response.body", "body": pending, "more_body": True})
            pending = chunk
    await send({"type": "http.response.body", "body": pending, "more_body": False})


async def _disconnected(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


async def _deny(scope: Scope, send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    """Refuse a websocket with an HTTP answer when the server can send one (kubectl prints it), else close."""
    if "websocket.http.response" in (scope.get("extensions") or {}):
        await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})
        return
    with contextlib.suppress(Exception):
        await send({"type": "websocket.close", "code": 1008 if status in (401, 403) else 1011})


@dataclasses.dataclass(frozen=True)
class _Route:
    """What the access log and metrics name gateway requests by (``scope["route"].path``)."""

    path: str = "/clusters/{cluster_id}/{path}"


class GatewayDispatch:
    """Hand ``/clusters/…`` to the gateway before the API's router sees it.

    A plain ASGI middleware (``app.add_middleware(GatewayDispatch, gateway=…)``):
    matching a request against every API and page route costs about as much as
    forwarding it does, and gateway requests never match any of them.
    """

    def __init__(self, app: Any, gateway: Gateway) -> None:
        self.app = app
        self.gateway = AsgiGateway(gateway)
        self.route = _Route()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and scope["path"].startswith("/clusters/"):
            scope["route"] = self.route
            await self.gateway(scope, receive, send)
        else:
            await self.app(scope, receive, send)


class GatewayFront:
    """What ``shoal server`` serves: ``/clusters/…`` straight to the gateway, everything else to the API app.

    :class:`GatewayDispatch` already keeps gateway requests away from the router, but
    FastAPI's own outer middlewares (telemetry checks that read the environment on
    every request, the body limit) still run before it; in front of the app they do
    not. Gateway requests keep the access log and metrics (``RequestMetricsMiddleware``).
    """

    def __init__(self, app: Any) -> None:
        from shoal.api.middleware import RequestMetricsMiddleware

        self.app = app
        self.direct = RequestMetricsMiddleware(GatewayDispatch(app, app.state.gateway))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and scope["path"].startswith("/clusters/"):
            await self.direct(scope, receive, send)
        else:
            await self.app(scope, receive, send)
