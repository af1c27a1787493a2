"""The gateway as a plain ASGI application, mounted at ``/clusters`` by ``api.app.create_app``.

Why plain ASGI and not FastAPI routes: a route would read bodies into memory and
wrap streams; here every byte is passed on as it arrives, both ways, and the
slowest side sets the pace (``send`` waits while the client's socket is full,
and the next chunk is read from the cluster only after that), so a slow client
applies backpressure instead of growing memory.

One request:

1. split ``/clusters/{id}/{kubernetes path}``;
2. authenticate the bearer token (API or gateway token) -> 401 ``Status``;
3. load the cluster -> 404; a token bound to another cluster -> 403;
4. authorise with ``iam.authz.require`` and the action of ``requestinfo`` -> 403;
5. forward through the cluster's pooled :class:`~shoal.kube.pool.Upstream` with
   the client's ``Authorization``, ``Cookie`` and ``Impersonate-*`` headers
   removed, the cluster's credential added, and (unless the cluster turns it
   off) ``Impersonate-User: shoal:<username>`` plus ``Impersonate-Group`` for
   the user's role;
6. stream the answer back; websocket upgrades (exec, attach, port-forward) are
   relayed frame by frame with the subprotocol the cluster chose;
7. audit the request (``gateway.audit``).

Impersonated groups: ``shoal:role:<viewer|developer|manager>`` and
``shoal:project:<code>`` for a member of the cluster's project, ``shoal:admins``
for platform admins. docs/gateway.md has the ClusterRoleBindings that give them
rights in a cluster.
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

from shoal.context import AppContext
from shoal.core.errors import (
    ClusterUnreachable,
    Invalid,
    PermissionDenied,
    ShoalError,
    Unauthenticated,
    Unavailable,
)
from shoal.core.i18n import negotiate, translate
from shoal.gateway.audit import GatewayAudit
from shoal.gateway.lookup import Caller, Callers, Clusters, ClusterTarget
from shoal.gateway.requestinfo import RequestInfo, parse_request
from shoal.gateway.status import status_body
from shoal.iam.authz import Principal, can
from shoal.kube.pool import Headers, Upstream, UpstreamPool, UpstreamRefused

__all__ = ["Gateway", "GatewayDispatch", "GatewayFront", "build_gateway", "impersonation_headers"]

log = logging.getLogger("shoal.gateway")

PREFIX = b"/clusters/"
#: Request headers never forwarded: credentials of the caller, hop-by-hop headers, and what the
#: upstream connection sets itself.
_DROP_REQUEST = frozenset({
    b"authorization", b"cookie", b"host", b"connection", b"keep-alive", b"proxy-authorization",
    b"proxy-connection", b"te", b"trailer", b"transfer-encoding", b"upgrade", b"content-length",
    b"x-forwarded-for", b"x-forwarded-host", b"x-forwarded-proto", b"x-remote-user", b"x-remote-group",
})
_DROP_WEBSOCKET = _DROP_REQUEST | {b"sec-websocket-key", b"sec-websocket-version", b"sec-websocket-extensions",
                                   b"sec-websocket-protocol", b"origin"}
_DROP_RESPONSE = frozenset({b"connection", b"keep-alive", b"transfer-encoding", b"te", b"trailer", b"upgrade",
                            b"proxy-authenticate", b"set-cookie"})
_JSON = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]


class _ClientGone(Exception):
    """The client disconnected while its request body was being forwarded."""


def impersonation_headers(principal: Principal, project_code: str) -> Headers:
    """``Impersonate-User``/``Impersonate-Group`` naming ``principal`` to a cluster of ``project_code``."""
    headers: Headers = [(b"impersonate-user", f"shoal:{principal.username}".encode())]
    role = principal.role_in(project_code)
    if role is not None:
        headers.append((b"impersonate-group", f"shoal:role:{role.value}".encode()))
        headers.append((b"impersonate-group", f"shoal:project:{project_code}".encode()))
    if principal.is_admin:
        headers.append((b"impersonate-group", b"shoal:admins"))
    return headers


def _bearer(headers: list[tuple[bytes, bytes]]) -> str:
    for key, value in headers:
        if key == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthenticated("error.gateway_bearer", hint="hint.gateway_token")
            return token.strip()
    raise Unauthenticated("error.gateway_no_token", hint="hint.gateway_token")


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
    rest = raw[start + len(PREFIX):]
    cluster_id, _, below = rest.partition(b"/")
    path: str = scope["path"]
    decoded = path[path.find("/clusters/") + len("/clusters/"):].partition("/")[2]
    target = b"/" + below
    query: bytes = scope.get("query_string") or b""
    if query:
        target += b"?" + query
    return cluster_id.decode("latin-1"), target, "/" + decoded


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


@dataclasses.dataclass
class _Seen:
    """What is known of a request so far, so a refusal's audit entry names whoever was recognised."""

    caller: Caller | None = None
    cluster: ClusterTarget | None = None
    info: RequestInfo | None = None


class Gateway:
    """``/clusters/{clusterId}/…`` -> the managed cluster, with the caller's rights."""

    def __init__(self, callers: Callers, clusters: Clusters, pool: UpstreamPool, audit: GatewayAudit, *,
                 read_timeout: float) -> None:
        self.callers = callers
        self.clusters = clusters
        self.pool = pool
        self.audit = audit
        self.read_timeout = read_timeout

    async def aclose(self) -> None:
        """Flush the audit and close pooled connections (server shutdown)."""
        await self.audit.aclose()
        await self.pool.aclose()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)

    # --- shared steps -------------------------------------------------------------------------
    async def _admit(self, scope: Scope, method: str, seen: _Seen) -> tuple[Caller, ClusterTarget, RequestInfo, bytes]:
        """Authenticate, find the cluster, authorise; raise a ShoalError for any refusal."""
        cluster_id, target, path = _split(scope)
        caller = seen.caller = await self.callers.resolve(_bearer(scope["headers"]))
        cluster = seen.cluster = await self.clusters.get(cluster_id)
        info = seen.info = parse_request(method, path, scope.get("query_string") or b"")
        principal = caller.principal
        if caller.cluster_id is not None and caller.cluster_id != cluster.id:
            raise PermissionDenied("error.gateway_token_cluster", hint="hint.gateway_token",
                                   bound=caller.cluster_id, cluster=cluster.id)
        action = info.action()
        if not can(principal, action, cluster):
            role = principal.role_in(cluster.project_code)
            raise PermissionDenied(
                "error.gateway_forbidden" if role is not None else "error.gateway_not_member",
                hint="hint.gateway_forbidden", user=principal.username, verb=info.verb, kind=info.kind or info.path,
                # Kubernetes' own wording ('nodes "n1" is forbidden: …'), which kubectl and people recognise.
                what=f'{info.kind} "{info.name}"' if info.name else (info.kind or info.path),
                cluster=cluster.id, action=action.value, project=cluster.project_code,
                role=role.value if role is not None else "")
        if cluster.credential is None:
            raise Unavailable("error.gateway_no_credential", hint="hint.gateway_no_credential", cluster=cluster.id)
        return caller, cluster, info, target

    def _upstream_headers(self, scope: Scope, caller: Caller, cluster: ClusterTarget,
                          drop: frozenset[bytes]) -> Headers:
        headers: Headers = [(k, v) for k, v in scope["headers"] if k not in drop and not k.startswith(b"impersonate-")]
        client = scope.get("client")
        if client:
            headers.append((b"x-forwarded-for", str(client[0]).encode()))
        if cluster.impersonate:
            headers.extend(impersonation_headers(caller.principal, cluster.project_code))
        return headers

    def _record(self, scope: Scope, caller: Caller | None, cluster_id: str, cluster: ClusterTarget | None,
                info: RequestInfo | None, method: str, status: int, started: float, outcome: str,
                code: str = "") -> None:
        success = outcome == "success"
        read = info is not None and (info.is_read or not info.is_resource) and method in ("GET", "HEAD")
        if not self.audit.keep(read=read, success=success):
            return
        client = scope.get("client")
        verb = (info.subresource if info is not None and info.subresource in ("exec", "attach", "portforward",
                                                                               "proxy") else
                info.verb if info is not None else method.lower())
        detail: dict[str, Any] = {"method": method, "path": scope["path"][:512], "status": status,
                                  "duration_ms": round((time.perf_counter() - started) * 1000, 1)}
        if info is not None and info.is_resource:
            detail.update(resource=info.kind, namespace=info.namespace, name=info.name)
        if code:
            detail["code"] = code
        if caller is not None and caller.cluster_id is not None:
            detail["token"] = caller.token_id  # the row id, never the token
        self.audit.add(username=caller.principal.username if caller else "", source=str(client[0]) if client else "",
                       cluster_id=cluster_id, project_code=cluster.project_code if cluster else None, verb=verb,
                       outcome=outcome, detail=detail)

    @staticmethod
    def _refusal(scope: Scope, error: ShoalError) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        lang = negotiate((_header(scope["headers"], b"accept-language") or b"").decode("latin-1"), default="en")
        message = translate(error.message_key, lang, **error.params)
        if error.hint_key:
            message = f"{message} {translate(error.hint_key, lang, **error.params)}"
        status = error.status
        if isinstance(error, ClusterUnreachable) and error.message_key == "error.cluster_timeout":
            status = 504
        headers = list(_JSON)
        if status == 401:
            headers.append((b"www-authenticate", b'Bearer realm="shoal"'))
        return status, headers, status_body(status, message)

    # --- HTTP ----------------------------------------------------------------------------------
    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        method: str = scope["method"]
        outcome = _Outcome()
        seen = _Seen()
        try:
            caller, cluster, info, target = await self._admit(scope, method, seen)
            if _header(scope["headers"], b"upgrade") is not None:
                raise Invalid("error.gateway_spdy", hint="hint.gateway_spdy")
            upstream = self.pool.get(cluster.id, cluster.credential)  # type: ignore[arg-type]
        except ShoalError as error:
            status, headers, body = self._refusal(scope, error)
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            outcome.status, outcome.code = status, error.code
            self._record(scope, seen.caller, _split_id(scope), seen.cluster, seen.info, method, status, started,
                         "denied" if status in (401, 403) else "failure", error.code)
            return
        self.pool.acquire(upstream)
        try:
            await self._forward(scope, receive, send, caller, cluster, info, target, upstream, outcome)
        finally:
            await self.pool.release(upstream)
            status = outcome.status
            self._record(scope, caller, cluster.id, cluster, info, method, status, started,
                         "success" if 0 < status < 400 else "denied" if status in (401, 403) else "failure",
                         outcome.code)

    async def _forward(self, scope: Scope, receive: Receive, send: Send, caller: Caller, cluster: ClusterTarget,
                       info: RequestInfo, target: bytes, upstream: Upstream, outcome: _Outcome) -> None:
        headers = self._upstream_headers(scope, caller, cluster, _DROP_REQUEST)
        length = _header(scope["headers"], b"content-length")
        chunked = _header(scope["headers"], b"transfer-encoding") is not None
        body: AsyncIterator[bytes] | None = None
        if length not in (None, b"0") or chunked:
            headers.append((b"content-length", length) if length is not None else (b"transfer-encoding", b"chunked"))
            body = _request_body(receive)
        try:
            response = await upstream.send(scope["method"], target, headers, body,
                                           read_timeout=None if info.long_running else self.read_timeout)
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
            kept = [(k.lower(), v) for k, v in response.raw_headers if k.lower() not in _DROP_RESPONSE]
            await send({"type": "http.response.start", "status": response.status, "headers": kept})
            if info.long_running and body is None:
                await _first(_pump(response.chunks(), send), _disconnected(receive))
            else:
                await _pump_holding_last(response.chunks(), send)
        except Exception as e:  # the cluster or the client went away mid-stream: nothing more can be said
            log.info("stream to %s ended early: %s", cluster.id, type(e).__name__)
            outcome.code = "stream_interrupted"
        finally:
            await response.aclose()

    # --- websocket -----------------------------------------------------------------------------
    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        seen = _Seen()
        try:
            caller, cluster, info, target = await self._admit(scope, "GET", seen)
            upstream = self.pool.get(cluster.id, cluster.credential)  # type: ignore[arg-type]
        except ShoalError as error:
            status, headers, body = self._refusal(scope, error)
            await _deny(scope, send, status, headers, body)
            self._record(scope, seen.caller, _split_id(scope), seen.cluster, seen.info, "GET", status, started,
                         "denied" if status in (401, 403) else "failure", error.code)
            return
        headers = self._upstream_headers(scope, caller, cluster, _DROP_WEBSOCKET)
        status = 101
        code = ""
        self.pool.acquire(upstream)
        try:
            try:
                socket = await upstream.websocket(target, headers, list(scope.get("subprotocols") or []))
            except UpstreamRefused as refused:
                status = refused.status
                kept = [(k, v) for k, v in refused.headers if k in (b"content-type",)] or list(_JSON)
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
                log.info("websocket to %s ended: %s", cluster.id, type(e).__name__)
                code = "stream_interrupted"
            finally:
                await socket.close(1000)
        finally:
            await self.pool.release(upstream)
            self._record(scope, caller, cluster.id, cluster, info, "GET", status, started,
                         "success" if status == 101 else "failure", code)


def _split_id(scope: Scope) -> str:
    raw: bytes = scope.get("raw_path") or scope["path"].encode()
    start = raw.find(PREFIX)
    return raw[start + len(PREFIX):].partition(b"/")[0].decode("latin-1")[:128] if start >= 0 else ""


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


def build_gateway(ctx: AppContext) -> Gateway:
    """The gateway of a server process, configured by ``ctx.settings.gateway``."""
    settings = ctx.settings.gateway
    return Gateway(
        Callers(ctx.db, settings.auth_cache_seconds),
        Clusters(ctx.db, ctx.secrets, settings.cluster_cache_seconds, settings.impersonate_default),
        UpstreamPool(max_connections=settings.max_connections, connect_timeout=settings.connect_timeout),
        GatewayAudit(ctx.db, flush_seconds=settings.audit_flush_seconds, read_share=settings.audit_reads),
        read_timeout=settings.read_timeout)


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
        self.gateway = gateway
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
