"""The ASGI application: routing, authentication, authorisation, faults, encoding.

Virtual clusters share one listener and are told apart by a path prefix:
``https://127.0.0.1:PORT/clusters/<name>/api/v1/…``; kubectl and the client
libraries accept a server URL with a path. Requests without the prefix go to the
first (default) cluster, so a one-cluster simulator has the plain URL layout.

Per request: pick the cluster → apply its faults → authenticate (bearer token,
else the TLS client certificate) → apply ``Impersonate-*`` headers if the caller
may impersonate → note it in the cluster's request log (``VirtualCluster.requests``, what an
audit log would say: who authenticated, whom they impersonated) → authorise the verb → serve.
Every error leaves as a ``Status``. Connections are kept like Go's net/http does
(``kubesim.connections``).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs, unquote

from kubesim import discovery, resources
from kubesim.api import Call, handle
from kubesim.authz import ANONYMOUS, Attributes, Identity
from kubesim.cluster import RequestRecord, VirtualCluster
from kubesim.errors import ApiError, bad_request, forbidden, not_found, unauthorized
from kubesim.exec import choose_subprotocol, serve_exec
from kubesim.hijack import EXTENSION as HIJACK
from kubesim.hijack import RawUpgrade
from kubesim.portforward import (
    PORTFORWARD_PROTOCOL,
    TUNNEL_SUBPROTOCOL,
    serve_portforward,
    serve_spdy_portforward,
    websocket_pipe,
)
from kubesim.remotecommand import SPDY_PROTOCOLS, negotiate, serve_spdy_remotecommand
from kubesim.shell import ExecIO, run_argv
from kubesim.streams import stream_logs, stream_watch
from kubesim.tls import PEERS, reset_connection

JSON = dict[str, Any]
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

__all__ = ["ApiServer"]

log = logging.getLogger("kubesim")

_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch"}
_STREAM_SUBRESOURCES = {"exec", "attach", "portforward"}


def _headers(scope: Scope) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in scope.get("headers", []):
        key = k.decode("latin-1").lower()
        val = v.decode("latin-1")
        out[key] = f"{out[key]},{val}" if key in out else val
    return out


def _multi_header(scope: Scope, name: str) -> list[str]:
    target = name.lower().encode()
    return [v.decode("latin-1") for k, v in scope.get("headers", []) if k.lower() == target]


# --- response encoding (gzip) ------------------------------------------------------------
# As the real API server (staging/src/k8s.io/apiserver/pkg/endpoints/handlers/responsewriters/
# writers.go): a serialized response is gzipped, at level 1, only when the client accepts gzip
# and the body is larger than defaultGzipThresholdBytes (128 KiB). Watches, logs and
# exec/port-forward streams are not (handlers/watch.go writes a watch uncompressed; upstream
# gzips only watch-list streams, behind the WatchListCompression feature gate, which kubesim lacks).
GZIP_THRESHOLD_BYTES = 128 * 1024
_GZIP_LEVEL = 1


def _accepts_gzip(headers: dict[str, str] | None) -> bool:
    """negotiateContentEncoding in writers.go: a comma-separated token that is exactly ``gzip``
    (upstream compares the trimmed token as is, so ``gzip;q=1`` or ``GZIP`` do not count)."""
    return any(token.strip() == "gzip" for token in (headers or {}).get("accept-encoding", "").split(","))


async def _send_json(send: Send, code: int, body: JSON, content_type: str = "application/json",
                     request_headers: dict[str, str] | None = None) -> None:
    data = json.dumps(body, separators=(",", ":")).encode()
    extra: list[tuple[bytes, bytes]] = []
    if len(data) > GZIP_THRESHOLD_BYTES and _accepts_gzip(request_headers):
        data = gzip.compress(data, compresslevel=_GZIP_LEVEL)
        extra = [(b"content-encoding", b"gzip"), (b"vary", b"Accept-Encoding")]
    await send({"type": "http.response.start", "status": code,
                "headers": [(b"content-type", content_type.encode()), (b"content-length", str(len(data)).encode()),
                            (b"cache-control", b"no-cache, private"), *extra]})
    await send({"type": "http.response.body", "body": data})


class ApiServer:
    """ASGI app serving one or more virtual clusters."""

    def __init__(self, clusters: list[VirtualCluster]) -> None:
        if not clusters:
            raise ValueError("at least one cluster")
        self.clusters = {c.name: c for c in clusters}
        self.default = clusters[0]

    def add_cluster(self, cluster: VirtualCluster) -> None:
        self.clusters[cluster.name] = cluster

    # --- ASGI entry ----------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        websocket = scope["type"] == "websocket"
        started = False

        async def tracking_send(msg: Message) -> None:
            nonlocal started
            if msg["type"] in ("http.response.start", "websocket.accept", "websocket.http.response.start"):
                started = True
            await send(msg)

        try:
            await self._serve(scope, receive, tracking_send, websocket)
        except ApiError as e:
            if started:
                raise
            await self._error(send, e, websocket)
        except Exception as e:
            # a kubesim bug: answer like the API server's InternalError and keep the traceback
            log.exception("kubesim: unexpected error serving %s %s", scope.get("method", "WS"), scope.get("path"))
            if started:
                raise
            await self._error(send, ApiError(500, "InternalError", f"Internal error occurred: {e}"), websocket)

    async def _error(self, send: Send, e: ApiError, websocket: bool) -> None:
        if websocket:
            await send({"type": "websocket.http.response.start", "status": e.code,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "websocket.http.response.body", "body": json.dumps(e.status()).encode()})
        else:
            await _send_json(send, e.code, e.status())

    def _cluster_for(self, path: str) -> tuple[VirtualCluster, str]:
        if path.startswith("/clusters/"):
            rest = path[len("/clusters/"):]
            name, _, tail = rest.partition("/")
            cluster = self.clusters.get(name)
            if cluster is None:
                raise ApiError(404, "NotFound", f'cluster "{name}" not found')
            return cluster, "/" + tail
        return self.default, path

    async def _serve(self, scope: Scope, receive: Receive, send: Send, websocket: bool) -> None:
        cluster, path = self._cluster_for(unquote(scope["path"]))
        if cluster.faults.unreachable() and cluster.faults.unreachable_mode == "reset" and \
                reset_connection(scope.get("client")):
            return
        await self._faults(cluster, receive, websocket)
        headers = _headers(scope)
        authenticated = self._authenticate(cluster, scope, headers)
        who = self._impersonate(cluster, scope, authenticated)
        query_string = scope.get("query_string", b"").decode("latin-1")
        cluster.requests.append(RequestRecord(
            scope.get("method", "GET"), scope["path"] + (f"?{query_string}" if query_string else ""),
            authenticated.user, "" if who is authenticated else who.user,
            ":".join(str(part) for part in scope.get("client") or ())))
        query = parse_qs(scope.get("query_string", b"").decode(), keep_blank_values=True)
        method = "GET" if websocket else scope["method"]
        parts = [p for p in path.split("/") if p]
        if parts[:2] == ["api", "v1"] and len(parts) > 2:
            await self._resource(cluster, who, method, "", "v1", parts[2:], query, headers, scope, receive,
                                 send, websocket)
        elif parts[:1] == ["apis"] and len(parts) > 3:
            await self._resource(cluster, who, method, parts[1], parts[2], parts[3:], query, headers, scope,
                                 receive, send, websocket)
        else:
            if not cluster.policy.allows(who, Attributes("get", path=path)):
                raise ApiError(403, "Forbidden", f'forbidden: User "{who.user}" cannot get path "{path}"')
            if parts in (["healthz"], ["livez"], ["readyz"]):
                await send({"type": "http.response.start", "status": 200,
                            "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"2")]})
                await send({"type": "http.response.body", "body": b"ok"})
                return
            code, body, ctype = self._non_resource(cluster.registry, parts, headers, scope)
            await _send_json(send, code, body, ctype, headers)

    async def _faults(self, cluster: VirtualCluster, receive: Receive, websocket: bool) -> None:
        faults = cluster.faults
        while faults.unreachable():
            await asyncio.sleep(0.05)
            faults = cluster.faults
        if faults.latency > 0:
            await asyncio.sleep(faults.latency)
        if faults.error_active():
            reasons = {429: "TooManyRequests", 503: "ServiceUnavailable", 504: "Timeout"}
            raise ApiError(faults.error_code, reasons.get(faults.error_code, "InternalError"),
                           "kubesim: injected fault")

    # --- authentication ----------------------------------------------------------------
    def _authenticate(self, cluster: VirtualCluster, scope: Scope, headers: dict[str, str]) -> Identity:
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            who = cluster.authenticate_token(auth[7:].strip())
            if who is None:
                raise unauthorized()
            return who.with_authenticated()
        peer = PEERS.lookup(scope.get("client"))
        if peer is not None:
            return peer.with_authenticated()
        return ANONYMOUS

    def _impersonate(self, cluster: VirtualCluster, scope: Scope, who: Identity) -> Identity:
        users = _multi_header(scope, "impersonate-user")
        groups = [g for h in _multi_header(scope, "impersonate-group") for g in h.split(",") if g]
        if not users and not groups:
            return who
        if not users:
            raise bad_request("requested impersonation of groups without a user")
        user = users[0]
        if not cluster.policy.allows(who, Attributes("impersonate", "", "users", name=user)):
            raise forbidden(who.user, "impersonate", "", "users", "", user)
        for g in groups:
            if not cluster.policy.allows(who, Attributes("impersonate", "", "groups", name=g)):
                raise forbidden(who.user, "impersonate", "", "groups", "", g)
        impersonated = Identity(user, tuple(groups))
        # upstream adds system:authenticated to every impersonated user but system:anonymous
        # (apiserver/pkg/endpoints/filters/impersonation.go)
        return impersonated if user == ANONYMOUS.user else impersonated.with_authenticated()

    # --- non-resource ------------------------------------------------------------------------
    def _non_resource(self, reg: resources.Registry, parts: list[str], headers: dict[str, str],
                      scope: Scope) -> tuple[int, JSON, str]:
        accept = headers.get("accept", "")
        aggregated = "as=APIGroupDiscoveryList" in accept
        server = scope.get("server") or ("127.0.0.1", 443)
        if parts == ["version"]:
            return 200, discovery.VERSION_INFO, "application/json"
        if parts == ["api"]:
            if aggregated:
                return 200, discovery.aggregated(reg, core=True), discovery.AGGREGATED_CONTENT_TYPE
            return 200, discovery.api_versions(f"{server[0]}:{server[1]}"), "application/json"
        if parts == ["apis"]:
            if aggregated:
                return 200, discovery.aggregated(reg, core=False), discovery.AGGREGATED_CONTENT_TYPE
            return 200, discovery.api_group_list(reg), "application/json"
        if parts == ["api", "v1"]:
            return 200, discovery.api_resource_list(reg, "", "v1"), "application/json"
        groups = reg.groups()
        if len(parts) == 2 and parts[0] == "apis" and parts[1] in groups:
            return 200, discovery.api_group(reg, parts[1]), "application/json"
        if len(parts) == 3 and parts[0] == "apis" and parts[2] in groups.get(parts[1], []):
            return 200, discovery.api_resource_list(reg, parts[1], parts[2]), "application/json"
        if parts == ["openapi", "v3"]:
            return 200, discovery.openapi_index(reg), "application/json"
        if parts[:2] == ["openapi", "v3"] and len(parts) >= 4:
            if parts[2] == "api" and parts[3] == "v1":
                return 200, discovery.openapi_gv(reg, "", "v1"), "application/json"
            if parts[2] == "apis" and len(parts) == 5 and parts[4] in groups.get(parts[3], []):
                return 200, discovery.openapi_gv(reg, parts[3], parts[4]), "application/json"
        raise ApiError(404, "NotFound", "the server could not find the requested resource")

    # --- resources ---------------------------------------------------------------------------
    def _parse(self, reg: resources.Registry, group: str, version: str,
               parts: list[str]) -> tuple[resources.ResourceType, str, str, str]:
        namespace = ""
        if parts[0] == "namespaces" and len(parts) >= 3:
            candidate = reg.find(group, version, parts[2])
            if candidate is not None and candidate.namespaced:
                namespace, parts = parts[1], parts[2:]
        rt = reg.find(group, version, parts[0])
        if rt is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        name = parts[1] if len(parts) > 1 else ""
        sub = parts[2] if len(parts) > 2 else ""
        if sub and rt.subresource(sub) is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return rt, namespace, name, sub

    def _verb(self, method: str, name: str, sub: str, query: dict[str, list[str]]) -> str:
        if sub in _STREAM_SUBRESOURCES:
            return "create"
        if method == "GET":
            if name:
                return "get"
            return "watch" if query.get("watch", [""])[0].lower() in ("true", "1") else "list"
        if method == "DELETE":
            return "delete" if name else "deletecollection"
        return _VERBS.get(method, method.lower())

    async def _resource(self, cluster: VirtualCluster, who: Identity, method: str, group: str, version: str,
                        parts: list[str], query: dict[str, list[str]], headers: dict[str, str], scope: Scope,
                        receive: Receive, send: Send, websocket: bool) -> None:
        rt, namespace, name, sub = self._parse(cluster.registry, group, version, parts)
        verb = self._verb(method, name, sub, query)
        resource = f"{rt.plural}/{sub}" if sub else rt.plural
        if not cluster.policy.allows(who, Attributes(verb, group, resource, namespace, name)):
            raise forbidden(who.user, verb, group, resource, namespace, name)
        body = b""
        if not websocket:
            more = True
            while more:
                msg = await receive()
                if msg["type"] == "http.disconnect":
                    return
                body += msg.get("body", b"")
                more = msg.get("more_body", False)
        call = Call(cluster, who, method, rt, namespace, name, sub, query, headers, body)
        if sub in _STREAM_SUBRESOURCES:
            await self._exec(call, scope, receive, send, websocket)
        elif sub == "log":
            container = self._container(call)
            await stream_logs(call, receive, send, container)
        elif verb == "watch":
            await stream_watch(call, receive, send)
        else:
            if rt.namespaced and not namespace and name:
                raise not_found(rt, name)
            code, out = handle(call)
            await _send_json(send, code, out, request_headers=headers)

    def _container(self, call: Call) -> str:
        pod = call.cluster.store.get(call.rt, call.namespace, call.name)
        containers = [c.get("name", "") for c in pod.get("spec", {}).get("containers") or []]
        chosen = call.q("container")
        if not chosen:
            if len(containers) != 1:
                raise bad_request(f"a container name must be specified for pod {call.name}, choose one of: "
                                  f"[{' '.join(containers)}]")
            chosen = containers[0]
        elif chosen not in containers:
            raise bad_request(f"container {chosen} is not valid for pod {call.name}")
        state = next((cs.get("state") or {} for cs in pod.get("status", {}).get("containerStatuses") or []
                      if cs.get("name") == chosen), None)
        if state is None or "waiting" in state:
            reason = (state or {}).get("waiting", {}).get("reason", "ContainerCreating")
            raise bad_request(f'container "{chosen}" in pod "{call.name}" is waiting to start: {reason}')
        if call.subresource == "exec" and "terminated" in state:
            raise bad_request("cannot exec into a container in a completed pod; current phase is "
                              f"{pod.get('status', {}).get('phase', 'Succeeded')}")
        return chosen

    async def _exec(self, call: Call, scope: Scope, receive: Receive, send: Send, websocket: bool) -> None:
        """exec, attach and portforward: websocket channels, SPDY/3.1, or SPDY tunnelled in a websocket."""
        raw: RawUpgrade | None = (scope.get("extensions") or {}).get(HIJACK)
        spdy = not websocket and raw is not None and \
            call.headers.get("upgrade", "").lower() == "spdy/3.1" and "upgrade" in call.headers.get(
                "connection", "").lower()
        if not websocket and not spdy:
            raise ApiError(400, "BadRequest", "Upgrade request required")
        pod = call.cluster.store.get(call.rt, call.namespace, call.name)
        offered = [p.strip() for p in ",".join(scope.get("subprotocols", [])).split(",") if p.strip()]
        versions = _multi_header(scope, "x-stream-protocol-version")
        try:
            if call.subresource == "portforward":
                await self._portforward(call, pod, raw, versions, offered, receive, send, spdy)
            else:
                await self._remotecommand(call, pod, raw, versions, offered, receive, send, spdy)
        finally:
            client = scope.get("client")
            if client:
                PEERS.forget((client[0], client[1]))

    async def _portforward(self, call: Call, pod: JSON, raw: RawUpgrade | None, versions: list[str],
                           offered: list[str], receive: Receive, send: Send, spdy: bool) -> None:
        if spdy:
            assert raw is not None
            if negotiate(versions, (PORTFORWARD_PROTOCOL,)) is None:
                raise _unnegotiable(versions, [PORTFORWARD_PROTOCOL])
            pipe = raw.accept(_spdy_headers(PORTFORWARD_PROTOCOL))
            await serve_spdy_portforward(pipe.read, pipe.write, pipe.close, pod)
            return
        if TUNNEL_SUBPROTOCOL in offered:
            await send({"type": "websocket.accept", "subprotocol": TUNNEL_SUBPROTOCOL})
            read, write = websocket_pipe(receive, send)
            await serve_spdy_portforward(read, write, lambda: None, pod)
            return
        proto = choose_subprotocol(offered)
        if proto is None:
            raise bad_request("unsupported streaming protocol; kubesim speaks v5/v4.channel.k8s.io and "
                              f"{TUNNEL_SUBPROTOCOL}")
        try:
            ports = [int(p) for v in call.query.get("ports", []) for p in v.split(",") if p]
        except ValueError as e:
            raise bad_request("invalid port in ports") from e
        await serve_portforward(receive, send, proto, pod, ports)

    async def _remotecommand(self, call: Call, pod: JSON, raw: RawUpgrade | None, versions: list[str],
                             offered: list[str], receive: Receive, send: Send, spdy: bool) -> None:
        container = self._container(call)
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOSTNAME": call.name,
               "HOME": "/root", "KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
        spec: JSON = next((c for c in pod["spec"].get("containers") or [] if c.get("name") == container), {})
        env.update({e["name"]: str(e.get("value", "")) for e in spec.get("env") or [] if "name" in e})
        argv = call.query.get("command", [])
        run: Callable[[ExecIO], Awaitable[int]] | None
        tty = call.flag("tty")
        if call.subresource == "attach":
            # attach joins the container's main process: with stdin it is that command reading the
            # client's input; without, a process whose output has all gone to the log already
            argv = [*(spec.get("command") or []), *(spec.get("args") or [])] or ["sh"]
            wants_stdin = bool(spec.get("stdin")) and call.flag("stdin")
            run = (lambda io: run_argv(argv, io, env, interactive=tty)) if wants_stdin else None
        else:
            run = lambda io: run_argv(argv, io, env, interactive=tty)  # noqa: E731
        flags = {"stdin": call.flag("stdin"), "tty": tty}
        if spdy:
            assert raw is not None
            proto = negotiate(versions, SPDY_PROTOCOLS)
            if proto is None:
                raise _unnegotiable(versions, list(SPDY_PROTOCOLS))
            pipe = raw.accept(_spdy_headers(proto))
            await serve_spdy_remotecommand(pipe.read, pipe.write, pipe.close, run, argv,
                                           stdout=call.flag("stdout"), stderr=call.flag("stderr"), **flags)
            return
        proto = choose_subprotocol(offered)
        if proto is None:
            raise bad_request("unsupported streaming protocol; kubesim speaks v5/v4.channel.k8s.io")
        await serve_exec(receive, send, proto, argv, run, **flags)


def _spdy_headers(protocol: str) -> list[tuple[str, str]]:
    """The 101 answer of ``httpstream/spdy/upgrade.go`` with the negotiated stream protocol."""
    return [("Connection", "Upgrade"), ("Upgrade", "SPDY/3.1"), ("X-Stream-Protocol-Version", protocol)]


def _unnegotiable(offered: list[str], supported: list[str]) -> ApiError:
    """``httpstream.Handshake``'s refusal when no stream protocol is shared (403)."""
    return ApiError(403, "Forbidden", f"unable to upgrade: unable to negotiate protocol: client supports "
                                      f"{offered}, server accepts {supported}")
