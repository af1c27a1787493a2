"""The one client Shoal uses to call a managed cluster's API server.

Why httpx and not a Kubernetes client library: Shoal makes a handful of calls
(version, reviews, lists, patches, evictions) and proxies the rest byte for byte
in the gateway, so generated models buy little; httpx is already a dependency,
is async, and has a transport seam (``httpx.AsyncBaseTransport``) through which
a later agent tunnel — and tests — plug in without touching callers. Raw
Kubernetes JSON is typed with ``TypedDict`` where Shoal reads fields.

Errors are translated here, in :func:`_translate` and :func:`_status_error`,
and nowhere else: callers see only ``shoal.core.errors`` classes
(``ClusterUnreachable`` for DNS/TCP/TLS/timeouts/401/403/5xx, ``NotFound``,
``Conflict``, ``Invalid``). Messages from the cluster are truncated so a
secret echoed back never reaches a log in full.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, NoReturn, TypedDict

import httpx

from shoal.core.errors import ClusterUnreachable, Conflict, Invalid, NotFound, ShoalError
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
    seen = exc
    while seen.__cause__ is not None or seen.__context__ is not None:
        nxt = seen.__cause__ or seen.__context__
        assert nxt is not None
        if isinstance(seen, ssl.SSLError | socket.gaierror | ConnectionRefusedError):
            return seen
        seen = nxt
    return seen


def _translate(exc: httpx.HTTPError, server: str, timeout: float) -> NoReturn:
    """Map a transport failure to ``ClusterUnreachable`` with the most specific message."""
    if isinstance(exc, httpx.TimeoutException):
        raise ClusterUnreachable("error.cluster_timeout", hint="hint.cluster_network", server=server,
                                 seconds=f"{timeout:g}") from exc
    root = _root(exc)
    if isinstance(root, ssl.SSLCertVerificationError):
        raise ClusterUnreachable("error.cluster_tls", hint="hint.cluster_tls", server=server,
                                 detail=_short(str(root.verify_message or root))) from exc
    if isinstance(root, ssl.SSLError):
        raise ClusterUnreachable("error.cluster_tls", hint="hint.cluster_tls", server=server,
                                 detail=_short(root.reason or str(root))) from exc
    if isinstance(root, socket.gaierror):
        raise ClusterUnreachable("error.cluster_dns", hint="hint.cluster_network", server=server,
                                 detail=_short(str(root))) from exc
    raise ClusterUnreachable("error.cluster_connect", hint="hint.cluster_network", server=server,
                             detail=_short(str(root) or type(root).__name__)) from exc


def _status_error(response: httpx.Response, server: str) -> ShoalError:
    """The Shoal error for a non-2xx answer (a Kubernetes ``Status`` body when there is one)."""
    code = response.status_code
    reason, message = "", ""
    try:
        body = response.json()
        if isinstance(body, dict):
            reason, message = str(body.get("reason", "")), str(body.get("message", ""))
    except ValueError:
        message = response.text
    detail = _short(message or reason or response.reason_phrase)
    params: dict[str, Any] = {"server": server, "status": code, "detail": detail}
    if code == 401:
        return ClusterUnreachable("error.cluster_unauthorized", hint="hint.cluster_credential", **params)
    if code == 403:
        return ClusterUnreachable("error.cluster_forbidden", hint="hint.cluster_credential", **params)
    if code == 404:
        return NotFound("error.kube_not_found", **params)
    if code == 409:
        return Conflict("error.kube_conflict", **params)
    if code in (400, 422):
        return Invalid("error.kube_invalid", **params)
    return ClusterUnreachable("error.cluster_server_error", hint="hint.cluster_network", **params)


class KubeClient:
    """Calls to one cluster; use :func:`connect` to open and close it."""

    def __init__(self, credential: Credential, *, timeout: float = 10.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.credential = credential
        self.timeout = timeout
        headers = {"Accept": "application/json", "User-Agent": "shoal/0.1"}
        if credential.token:
            headers["Authorization"] = f"Bearer {credential.token}"
        try:
            verify: ssl.SSLContext | bool = ssl_context(credential) if credential.server.startswith("https") \
                else False
        except ssl.SSLError as e:
            raise Invalid("error.cluster_bad_pem", hint="hint.cluster_credential",
                          detail=_short(e.reason or str(e))) from e
        self._extensions: dict[str, Any] = (
            {"sni_hostname": credential.tls_server_name} if credential.tls_server_name else {})
        self._http = httpx.AsyncClient(base_url=credential.server, headers=headers, verify=verify,
                                       timeout=httpx.Timeout(timeout), transport=transport, trust_env=False)

    def __repr__(self) -> str:
        return f"KubeClient(server={self.credential.server!r})"

    async def close(self) -> None:
        await self._http.aclose()

    async def request(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None,
                      content_type: str | None = None) -> Any:
        """Send one request; return the decoded JSON body (None for an empty one)."""
        headers = {"Content-Type": content_type} if content_type else None
        try:
            response = await self._http.request(method, path, json=json, params=params, headers=headers,
                                                extensions=self._extensions or None)
        except httpx.HTTPError as e:
            _translate(e, self.credential.server, self.timeout)
        if response.status_code >= 400:
            raise _status_error(response, self.credential.server)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as e:
            raise ClusterUnreachable("error.cluster_server_error", hint="hint.cluster_network",
                                     server=self.credential.server, status=response.status_code,
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
async def connect(credential: Credential, *, call_timeout: float = 10.0,
                  transport: httpx.AsyncBaseTransport | None = None) -> AsyncIterator[KubeClient]:
    """``async with connect(cred) as kube: await kube.version()`` — the only way Shoal opens a cluster."""
    client = KubeClient(credential, timeout=call_timeout, transport=transport)
    try:
        yield client
    finally:
        await client.close()
