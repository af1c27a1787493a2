"""The one client Shoal uses to call a managed cluster's API server (for its own calls).

Why aiohttp: Shoal makes a handful of calls (version, reviews, lists, patches,
evictions) and proxies the rest byte for byte in the gateway (``kube.pool``,
also on aiohttp), so generated models buy little, and under concurrency aiohttp
keeps up where httpx's pool does not (the health loop probes thousands of
clusters: measured against kubesim, 64 probes in flight, aiohttp about three
times httpx's rate on the same machine). Raw Kubernetes JSON is typed with
``TypedDict`` where Shoal reads fields.

Errors are translated here, in :func:`_translate` and :func:`_status_error`,
and nowhere else: callers see only ``shoal.core.errors`` classes
(``ClusterUnreachable`` for DNS/TCP/TLS/timeouts/401/403/5xx, ``NotFound``,
``Conflict``, ``Invalid``). Messages from the cluster are truncated so a
secret echoed back never reaches a log in full.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, NoReturn, TypedDict

import aiohttp
import yarl

from shoal.core.errors import ClusterUnreachable, Conflict, Invalid, NotFound, ShoalError
from shoal.kube.addresses import aiohttp_guard
from shoal.kube.credentials import Credential
from shoal.kube.transport import ssl_context

__all__ = ["JSON", "KubeClient", "VersionInfo", "connect"]

JSON = dict[str, Any]
_MAX_DETAIL = 300


class VersionInfo(TypedDict, total=False):
    major: str
    minor: str
    gitVersion: str
    platform: str


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_DETAIL else text[:_MAX_DETAIL] + "…"


def _root(exc: BaseException) -> BaseException:
    """The most telling exception in the chain (an SSL or DNS error beats the wrapper around it)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError | socket.gaierror | ConnectionRefusedError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return exc


def _translate(exc: BaseException, server: str, timeout: float) -> NoReturn:
    """Map a transport failure to ``ClusterUnreachable`` with the most specific message."""
    if isinstance(exc, TimeoutError | asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        raise ClusterUnreachable("error.cluster_timeout", hint="hint.cluster_network", server=server,
                                 seconds=f"{timeout:g}") from exc
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        cert_error = exc.certificate_error
        detail = getattr(cert_error, "verify_message", "") or str(cert_error)
        raise ClusterUnreachable("error.cluster_tls", hint="hint.cluster_tls", server=server,
                                 detail=_short(str(detail))) from exc
    root = _root(exc)
    if isinstance(exc, aiohttp.ClientConnectorDNSError) or isinstance(root, socket.gaierror):
        raise ClusterUnreachable("error.cluster_dns", hint="hint.cluster_network", server=server,
                                 detail=_short(str(root))) from exc
    if isinstance(root, ssl.SSLCertVerificationError):
        raise ClusterUnreachable("error.cluster_tls", hint="hint.cluster_tls", server=server,
                                 detail=_short(str(root.verify_message or root))) from exc
    if isinstance(root, ssl.SSLError) or isinstance(exc, aiohttp.ClientSSLError):
        reason = getattr(root, "reason", "") or str(root)
        raise ClusterUnreachable("error.cluster_tls", hint="hint.cluster_tls", server=server,
                                 detail=_short(str(reason))) from exc
    if isinstance(exc, aiohttp.ClientConnectorError):
        raise ClusterUnreachable("error.cluster_connect", hint="hint.cluster_network", server=server,
                                 detail=_short(str(exc.os_error) or type(exc).__name__)) from exc
    raise ClusterUnreachable("error.cluster_connect", hint="hint.cluster_network", server=server,
                             detail=_short(str(exc) or type(exc).__name__)) from exc


def _status_error(status: int, reason_phrase: str, body: bytes, server: str) -> ShoalError:
    """The Shoal error for a non-2xx answer (a Kubernetes ``Status`` body when there is one)."""
    # Only a Kubernetes Status object's reason and message are shown: any other body (an HTML page of
    # whatever answered at that address) is never echoed, so a cluster address cannot be used to read
    # another service's pages through Shoal's messages.
    reason, message = "", ""
    try:
        data = jsonlib.loads(body)
        if isinstance(data, dict) and data.get("kind") == "Status":
            reason, message = str(data.get("reason", "")), str(data.get("message", ""))
    except ValueError:
        pass
    detail = _short(message or reason or f"{reason_phrase[:40]} (not a Kubernetes Status)".lstrip())
    params: dict[str, Any] = {"server": server, "status": status, "detail": detail}
    if status == 401:
        return ClusterUnreachable("error.cluster_unauthorized", hint="hint.cluster_credential", **params)
    if status == 403:
        return ClusterUnreachable("error.cluster_forbidden", hint="hint.cluster_credential", **params)
    if status == 404:
        return NotFound("error.kube_not_found", **params)
    if status == 409:
        return Conflict("error.kube_conflict", **params)
    if status in (400, 422):
        return Invalid("error.kube_invalid", **params)
    return ClusterUnreachable("error.cluster_server_error", hint="hint.cluster_network", **params)


class KubeClient:
    """Calls to one cluster over one keep-alive connection pool; use :func:`connect` for one-off use.

    The session is created on first use (inside the event loop) and lives until :meth:`close`.
    """

    def __init__(self, credential: Credential, *, timeout: float = 10.0, max_connections: int = 4) -> None:
        self.credential = credential
        self.timeout = timeout
        self._max_connections = max_connections
        self._headers = {"Accept": "application/json", "User-Agent": "shoal/0.1"}
        if credential.token:
            self._headers["Authorization"] = f"Bearer {credential.token}"
        self._https = credential.server.startswith("https")
        try:
            self._ssl: ssl.SSLContext | bool = ssl_context(credential) if self._https else False
        except ssl.SSLError as e:
            raise Invalid("error.cluster_bad_pem", hint="hint.cluster_credential",
                          detail=_short(e.reason or str(e))) from e
        self._base = credential.server.rstrip("/")
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"KubeClient(server={self.credential.server!r})"

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # every new connection's address is checked against the cluster address policy (kube.addresses)
            host = yarl.URL(self._base).host or ""
            connector = aiohttp.TCPConnector(ssl=self._ssl, limit=self._max_connections, ttl_dns_cache=300,
                                             enable_cleanup_closed=False,
                                             socket_factory=aiohttp_guard(host, self.credential.server))
            self._session = aiohttp.ClientSession(
                connector=connector, headers=self._headers, trust_env=False,
                timeout=aiohttp.ClientTimeout(total=self.timeout), auto_decompress=True)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None,
                      content_type: str | None = None) -> Any:
        """Send one request; return the decoded JSON body (None for an empty one)."""
        url = yarl.URL(self._base + path, encoded=True)  # callers quote path segments (names) themselves
        headers = {"Content-Type": content_type} if content_type else None
        data = jsonlib.dumps(json).encode() if json is not None else None
        if data is not None and headers is None:
            headers = {"Content-Type": "application/json"}
        query = {k: str(v) for k, v in (params or {}).items() if v is not None} or None
        try:
            # no redirects: an API server does not send them, and following one would dial an address
            # the cluster chose (each new connection is still checked by the address policy)
            async with self._client().request(
                    method, url, data=data, params=query, headers=headers, allow_redirects=False,
                    server_hostname=self.credential.tls_server_name if self._https else None) as response:
                body = await response.read()
                status, phrase = response.status, response.reason or ""
        except (aiohttp.ClientError, TimeoutError, OSError) as e:
            _translate(e, self.credential.server, self.timeout)
        if status >= 300:  # a redirect included: not followed (see above)
            raise _status_error(status, phrase, body, self.credential.server)
        if not body:
            return None
        try:
            return jsonlib.loads(body)
        except ValueError as e:
            raise ClusterUnreachable("error.cluster_server_error", hint="hint.cluster_network",
                                     server=self.credential.server, status=status,
                                     detail="the answer is not JSON") from e

    async def get(self, path: str, **params: Any) -> Any:
        return await self.request("GET", path, params={k: v for k, v in params.items() if v is not None} or None)

    async def post(self, path: str, body: JSON) -> Any:
        return await self.request("POST", path, json=body)

    async def version(self) -> VersionInfo:
        info: VersionInfo = await self.get("/version")
        return info

    async def list_all(self, path: str, *, page_size: int = 500, **params: Any) -> list[JSON]:
        """Every item of a list, following ``continue`` tokens page by page."""
        items: list[JSON] = []
        token: str | None = None
        while True:
            body = await self.get(path, limit=page_size, **{"continue": token}, **params)
            items.extend(body.get("items") or [])
            token = (body.get("metadata") or {}).get("continue") or None
            if not token:
                return items


@asynccontextmanager
async def connect(credential: Credential, *, call_timeout: float = 10.0) -> AsyncIterator[KubeClient]:
    """``async with connect(cred) as kube: await kube.version()`` — how Shoal opens a cluster for a few calls."""
    client = KubeClient(credential, timeout=call_timeout)
    try:
        yield client
    finally:
        await client.close()
