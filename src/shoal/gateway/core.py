"""What every gateway request goes through, whichever front received it: admission, headers, audit, refusals.

Two fronts share it: ``gateway.front`` (the connection-level relay ``shoal
server`` uses for ``/clusters/…``) and ``gateway.proxy`` (the ASGI application,
for connections that began with another request and for in-process use).

Admission, in order:

1. the bearer token (API or gateway token) -> 401;
2. the cluster -> 404; a token bound to another cluster -> 403;
3. ``iam.authz.can`` with the action ``requestinfo`` reads off the request -> 403;
4. a cluster whose credential cannot be decrypted -> 503.

A caller's admission to a cluster is kept for the shorter of the two cache
times (``lookup``): the next request with the same ``Authorization`` to the same
cluster costs a dict lookup, a request parse and a set lookup. Revoking a token
or forgetting a cluster (``Callers.forget_token``, ``Clusters.forget``) bumps a
generation that invalidates every kept admission at once.

Impersonated groups: ``shoal:role:<viewer|developer|manager>`` and
``shoal:project:<code>`` for a member of the cluster's project, ``shoal:admins``
for platform admins. ``shoal.kube.access`` has the ClusterRoles and ClusterRoleBindings
that give them rights in a cluster.
"""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Any
from urllib.parse import unquote

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
from shoal.gateway.requestinfo import STREAMING_SUBRESOURCES, RequestInfo, parse_request
from shoal.gateway.status import status_body
from shoal.iam.authz import Action, Principal, can
from shoal.kube import access
from shoal.kube.pool import Headers, Upstream, UpstreamPool
from shoal.store.types import utcnow

__all__ = ["DROP_PREFIXES", "DROP_REQUEST", "DROP_RESPONSE", "PREFIX", "SPLIT_TARGETS", "STATUS_HEADERS", "Admitted",
           "Gateway", "Seen", "bearer_token", "build_gateway", "check_path", "check_upgrade", "hop_by_hop",
           "impersonation_headers", "split_target"]

#: What every gateway path starts with (below any root path): ``/clusters/{clusterId}/{kubernetes path}``.
PREFIX = b"/clusters/"

#: The headers of a refusal (a Kubernetes ``Status`` in JSON).
STATUS_HEADERS = ((b"content-type", b"application/json"), (b"cache-control", b"no-store"))
#: Request headers never forwarded by either front: credentials of the caller, hop-by-hop headers,
#: framing the front sets itself, and ``Expect`` (the front answers ``100 Continue`` itself).
DROP_REQUEST = frozenset({
    b"authorization", b"cookie", b"host", b"connection", b"keep-alive", b"proxy-authorization",
    b"proxy-connection", b"te", b"trailer", b"transfer-encoding", b"upgrade", b"content-length", b"expect",
    b"x-forwarded-for", b"x-forwarded-host", b"x-forwarded-proto",
})
#: Prefixes of request header names never forwarded: identities a cluster might believe. ``Impersonate-*`` is
#: Shoal's to set; ``X-Remote-*`` are the front-proxy headers (user, groups, uid, extras) an API server takes
#: from an authenticating proxy it trusts — which may be the very connection Shoal's credential opened.
DROP_PREFIXES = (b"impersonate-", b"x-remote-")
#: Connection options that are not header names (``Connection: keep-alive, Upgrade``).
_CONNECTION_OPTIONS = frozenset({b"keep-alive", b"close", b"upgrade"})
#: An encoded '/' in a path (kept encoded by :func:`split_target`, refused by :func:`check_path`).
_ENCODED_SLASH = re.compile(r"%2[fF]")
#: Response headers never relayed: hop-by-hop headers and the cluster's cookies.
DROP_RESPONSE = frozenset({b"connection", b"keep-alive", b"transfer-encoding", b"te", b"trailer", b"upgrade",
                           b"proxy-authenticate", b"set-cookie"})
#: Kept admissions and parsed requests before the caches are emptied (a bound against floods of distinct keys).
_MAX_ENTRIES = 10_000
#: Request targets already split by :func:`split_target`, bounded like the caches above.
SPLIT_TARGETS: dict[bytes, tuple[str, bytes, str, bytes]] = {}


def split_target(url: bytes) -> tuple[str, bytes, str, bytes]:
    """``/clusters/{id}/{path}?{query}`` -> (cluster id, target below the id, decoded path, query).

    Remembered in :data:`SPLIT_TARGETS`, since kubectl asks for the same few paths again and
    again (the front looks there itself before calling, one call less per request)."""
    split = SPLIT_TARGETS.get(url)
    if split is not None:
        return split
    cluster_id, _, below = url[len(PREFIX):].partition(b"/")
    target = b"/" + below
    raw_path, _, query = target.partition(b"?")
    path = raw_path.decode("latin-1")
    if "%" in path:  # an encoded '/' stays visible as '%2F', so that check_path can refuse it
        path = unquote(_ENCODED_SLASH.sub("%252F", path))
    split = (cluster_id.decode("latin-1"), target, path, query)
    if len(SPLIT_TARGETS) >= _MAX_ENTRIES:
        SPLIT_TARGETS.clear()
    SPLIT_TARGETS[url] = split
    return split


def check_path(path: str) -> None:
    """Refuse a decoded gateway path whose segments the API server might read otherwise than Shoal does.

    Shoal authorises what ``requestinfo`` reads off the path; the API server splits the same path
    on '/' keeping empty segments (``/namespaces//secrets`` is a cluster-wide list of secrets to
    it), and a proxy or a server on the way may resolve ``.``/``..``. An encoded '/' (``%2F``) is
    a '/' to the API server but one segment to anything that routes on the raw path. None of these
    appear in what kubectl sends, so they are refused rather than normalised (a 400 ``Status``)."""
    if "//" in path:
        raise Invalid("error.gateway_empty_segment", hint="hint.gateway_path", path=path[:200])
    if "%2F" in path:
        raise Invalid("error.gateway_encoded_slash", hint="hint.gateway_path", path=path[:200])
    if "/." in path and any(part in (".", "..") for part in path.split("/")):
        raise Invalid("error.gateway_dot_path", hint="hint.gateway_dot_path", path=path[:200])


def check_upgrade(info: RequestInfo, has_body: bool) -> None:
    """Refuse an upgrade (websocket, SPDY) anywhere but exec, attach, port-forward and proxy, or with a body.

    Every other request is answered and done; an upgrade elsewhere only keeps a cluster connection
    in an unknown state. A body before the switch would leave what follows it ambiguous."""
    if not info.is_resource or info.subresource not in STREAMING_SUBRESOURCES:
        raise Invalid("error.gateway_upgrade_target", hint="hint.gateway_upgrade_target", path=info.path[:200])
    if has_body:
        raise Invalid("error.gateway_upgrade_body", hint="hint.gateway_upgrade_target", path=info.path[:200])


def hop_by_hop(connection: bytes) -> frozenset[bytes]:
    """Header names listed in a ``Connection`` value (hop-by-hop, RFC 9110 7.6.1: never forwarded)."""
    names = {name.strip().lower() for name in connection.split(b",")}
    return frozenset(names - _CONNECTION_OPTIONS - {b""})


def impersonation_headers(principal: Principal, project_code: str) -> Headers:
    """``Impersonate-User``/``Impersonate-Group`` naming ``principal`` to a cluster of ``project_code``."""
    headers: Headers = [(b"impersonate-user", f"shoal:{principal.username}".encode())]
    role = principal.role_in(project_code)
    if role is not None:
        headers.append((b"impersonate-group", access.role_group(role.value).encode()))
        headers.append((b"impersonate-group", f"shoal:project:{project_code}".encode()))
    if principal.is_admin:
        headers.append((b"impersonate-group", access.ADMINS_GROUP.encode()))
    return headers


def bearer_token(authorization: bytes | None) -> str:
    """The token of an ``Authorization: Bearer …`` header value; 401 for anything else."""
    if authorization is None:
        raise Unauthenticated("error.gateway_no_token", hint="hint.gateway_token")
    scheme, _, token = authorization.decode("latin-1").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("error.gateway_bearer", hint="hint.gateway_token")
    return token.strip()


class Seen:
    """What is known of a request so far, so a refusal's audit entry names whoever was recognised."""

    __slots__ = ("caller", "cluster", "info")

    def __init__(self) -> None:
        self.caller: Caller | None = None
        self.cluster: ClusterTarget | None = None
        self.info: RequestInfo | None = None


class Admitted:
    """A caller admitted to a cluster: what forwarding needs, kept while both lookups are fresh."""

    __slots__ = ("allowed", "caller", "cluster", "deadline", "extra", "generation", "upstream")
    upstream: Upstream  # set once authorised and the credential is known to be usable

    def __init__(self, caller: Caller, cluster: ClusterTarget, deadline: float, generation: int) -> None:
        self.caller = caller
        self.cluster = cluster
        self.deadline = deadline
        self.generation = generation
        self.allowed: set[Action] = set()
        #: impersonation header lines, rendered once
        self.extra = b"".join(k + b": " + v + b"\r\n" for k, v in impersonation_headers(
            caller.principal, cluster.project_code)) if cluster.impersonate else b""


class Gateway:
    """``/clusters/{clusterId}/…`` -> the managed cluster, with the caller's rights."""

    def __init__(self, callers: Callers, clusters: Clusters, pool: UpstreamPool, audit: GatewayAudit, *,
                 read_timeout: float) -> None:
        self.callers = callers
        self.clusters = clusters
        self.pool = pool
        self.audit = audit
        self.read_timeout = read_timeout
        self._admitted: dict[tuple[bytes, str], Admitted] = {}
        self._parsed: dict[tuple[str, str, bytes], RequestInfo] = {}

    async def aclose(self) -> None:
        """Flush the audit and close pooled connections (server shutdown)."""
        await self.audit.aclose()
        await self.pool.aclose()

    # --- admission -----------------------------------------------------------------------------
    def parse(self, method: str, path: str, query: bytes) -> RequestInfo:
        """``parse_request``, remembered: kubectl repeats the same few paths."""
        flags = b"w" if b"watch" in query else b""
        if b"follow" in query:
            flags += b"f"
        key = (method, path, flags)
        info = self._parsed.get(key)
        if info is None:
            check_path(path)  # what Shoal authorises must be what the cluster serves
            info = parse_request(method, path, query if flags else b"")
            if len(self._parsed) >= _MAX_ENTRIES:
                self._parsed.clear()
            self._parsed[key] = info
        return info

    def admit_cached(self, seen: Seen, authorization: bytes | None, cluster_id: str, method: str, path: str,
                     query: bytes) -> Admitted | None:
        """Admit from a kept admission without waiting; None when there is none (then :meth:`admit`)."""
        if authorization is None:
            return None
        admitted = self._admitted.get((authorization, cluster_id))
        if (admitted is None or admitted.generation != self.callers.generation + self.clusters.generation
                or admitted.deadline < time.monotonic()):
            return None
        seen.caller, seen.cluster = admitted.caller, admitted.cluster
        info = seen.info = self.parse(method, path, query)
        if info.action not in admitted.allowed:
            self._authorise(admitted, info)
        return admitted

    async def admit(self, seen: Seen, authorization: bytes | None, cluster_id: str, method: str, path: str,
                    query: bytes) -> Admitted:
        """Authenticate, find the cluster, authorise; raise a ShoalError for any refusal."""
        generation = self.callers.generation + self.clusters.generation
        caller = seen.caller = await self.callers.resolve(bearer_token(authorization))
        cluster = seen.cluster = await self.clusters.get(cluster_id)
        info = seen.info = self.parse(method, path, query)
        admitted = Admitted(caller, cluster,
                            time.monotonic() + min(self.callers.ttl, self.clusters.ttl, _left(caller.expires_at)),
                            generation)
        self._authorise(admitted, info)
        if cluster.credential is None:
            raise Unavailable("error.gateway_no_credential", hint="hint.gateway_no_credential", cluster=cluster.id)
        admitted.upstream = self.pool.get(cluster.id, cluster.credential)
        if admitted.deadline > time.monotonic() and authorization is not None:
            if len(self._admitted) >= _MAX_ENTRIES:
                self._admitted.clear()
            self._admitted[(authorization, cluster_id)] = admitted
        return admitted

    @staticmethod
    def _authorise(admitted: Admitted, info: RequestInfo) -> None:
        caller, cluster = admitted.caller, admitted.cluster
        principal = caller.principal
        if caller.cluster_id is not None and caller.cluster_id != cluster.id:
            raise PermissionDenied("error.gateway_token_cluster", hint="hint.gateway_token",
                                   bound=caller.cluster_id, cluster=cluster.id)
        action = info.action
        if not can(principal, action, cluster):
            role = principal.role_in(cluster.project_code)
            raise PermissionDenied(
                "error.gateway_forbidden" if role is not None else "error.gateway_not_member",
                hint="hint.gateway_forbidden", user=principal.username, verb=info.verb, kind=info.kind or info.path,
                # Kubernetes' own wording ('nodes "n1" is forbidden: …'), which kubectl and people recognise.
                what=f'{info.kind} "{info.name}"' if info.name else (info.kind or info.path),
                cluster=cluster.id, action=action.value, project=cluster.project_code,
                role=role.value if role is not None else "")
        admitted.allowed.add(action)

    # --- answers -------------------------------------------------------------------------------
    @staticmethod
    def refusal(accept_language: bytes | None, error: ShoalError) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """A refusal as a Kubernetes ``Status`` in the caller's language: (status, headers, body)."""
        lang = negotiate((accept_language or b"").decode("latin-1"), default="en")
        message = translate(error.message_key, lang, **error.params)
        if error.hint_key:
            message = f"{message} {translate(error.hint_key, lang, **error.params)}"
        status = error.status
        if isinstance(error, ClusterUnreachable) and error.message_key == "error.cluster_timeout":
            status = 504
        headers = list(STATUS_HEADERS)
        if status == 401:
            headers.append((b"www-authenticate", b'Bearer realm="shoal"'))
        return status, headers, status_body(status, message)

    def record(self, seen: Seen, cluster_id: str, method: str, path: str, client: str, status: int,
               seconds: float, code: str = "") -> None:
        """Audit one request (reads that succeeded are sampled).

        ``path`` is the Kubernetes path below ``/clusters/{cluster_id}``, without the query
        string; the entry names the whole gateway path."""
        outcome = "success" if 0 < status < 400 else "denied" if status in (401, 403) else "failure"
        info = seen.info
        read = info is not None and (info.is_read or not info.is_resource) and method in ("GET", "HEAD")
        if not self.audit.keep(read=read, success=outcome == "success"):
            return
        caller, cluster = seen.caller, seen.cluster
        verb = info.audit_verb if info is not None else method.lower()
        duration_ms = round(seconds * 1000, 1)
        username = caller.principal.username if caller else ""
        alike = None
        if self.audit.aggregate_reads and read and outcome == "success":
            alike = (username, cluster_id, verb, path, status, client)
            if self.audit.count_read(alike, duration_ms):
                return
        detail: dict[str, Any] = {"method": method, "path": f"/clusters/{cluster_id}{path}"[:512], "status": status,
                                  "duration_ms": duration_ms}
        if info is not None and info.is_resource:
            detail.update(resource=info.kind, namespace=info.namespace, name=info.name)
        if code:
            detail["code"] = code
        if caller is not None and caller.cluster_id is not None:
            detail["token"] = caller.token_id  # the row id, never the token
        entry = self.audit.add(username=username, source=client, cluster_id=cluster_id[:128],
                               project_code=cluster.project_code if cluster else None, verb=verb, outcome=outcome,
                               detail=detail)
        if alike is not None:
            self.audit.remember_read(alike, entry)


def _left(expires_at: datetime | None) -> float:
    """Seconds until a token expires (inf for none), so a kept admission never outlives its token."""
    return float("inf") if expires_at is None else (expires_at - utcnow()).total_seconds()


def build_gateway(ctx: AppContext) -> Gateway:
    """The gateway of a server process, configured by ``ctx.settings.gateway``."""
    settings = ctx.settings.gateway
    return Gateway(
        Callers(ctx.db, settings.auth_cache_seconds),
        Clusters(ctx.db, ctx.secrets, settings.cluster_cache_seconds, settings.impersonate_default),
        UpstreamPool(max_connections=settings.max_connections, connect_timeout=settings.connect_timeout),
        GatewayAudit(ctx.db, flush_seconds=settings.audit_flush_seconds, read_share=settings.audit_reads,
                     aggregate_reads=settings.audit_aggregate_reads),
        read_timeout=settings.read_timeout)
