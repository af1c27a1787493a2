"""A stand-in API server that behaves as Go's net/http does where kubesim is kinder, for the gateway's security tests.

What kubesim does not do and a real API server does:

* the identity belongs to the connection: TLS with a required client certificate, whose CN
  is the user of every request on that connection (as a client-certificate credential makes
  Shoal's own connections cluster-admin);
* a declined upgrade leaves the connection open: the answer (403 here) is sent, the
  connection stays kept alive, and whatever bytes followed the upgrade head are read as the
  next request — pipelined requests are served in order;
* ``accept_upgrades=True`` answers upgrades with 101 (after ``upgrade_delay`` seconds)
  and echoes what comes through the tunnel, upper-cased; ``switch_unasked=True`` answers
  every request so, upgrade or not (a hostile cluster, or a pod behind ``proxy``).

Every request is recorded with its connection's number and identity, so a test can say
which requests ran, as whom, on which connection, with which headers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from kubesim.certs import CertificateAuthority
from shoal.api.app import create_app
from shoal.clusters.models import Cluster, ClusterStatus
from shoal.context import AppContext
from shoal.kube import Credential
from tests.support.api import enabled_project
from tests.support.front import serving_front

__all__ = ["CLUSTER_ID", "SHOAL_IDENTITY", "Received", "StrictCluster", "raw_connection", "seed", "strict_gateway"]

CLUSTER_ID = "BCS-K8S-41300"
#: The CN of the client certificate Shoal's credential holds (the cluster's admin).
SHOAL_IDENTITY = "shoal-cluster-admin"


@dataclass
class Received:
    """One request as the cluster read it."""

    connection: int
    identity: str
    method: str
    target: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    early: bytes = b""  # bytes that came after an accepted upgrade's head but before the 101 went out
    tunnel: bytes = b""  # bytes received through the tunnel, for an accepted upgrade

    def values(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k == name]


class StrictCluster:
    """See the module's docstring; ``async with StrictCluster(tmp) as cluster`` serves on 127.0.0.1."""

    def __init__(self, tmp: Path, *, accept_upgrades: bool = False, upgrade_delay: float = 0.0,
                 switch_unasked: bool = False) -> None:
        self.accept_upgrades = accept_upgrades
        self.switch_unasked = switch_unasked
        self.upgrade_delay = upgrade_delay  # seconds between an upgrade's head and the 101 (accept_upgrades)
        self.requests: list[Received] = []
        self.connections = 0
        self.url = ""
        ca = CertificateAuthority("strict-cluster-ca")
        server = ca.issue_server(["127.0.0.1"])
        client = ca.issue_client(SHOAL_IDENTITY, ["system:masters"])
        (tmp / "server.crt").write_bytes(server.cert_pem)
        (tmp / "server.key").write_bytes(server.key_pem)
        self._ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._ssl.load_cert_chain(tmp / "server.crt", tmp / "server.key")
        self._ssl.load_verify_locations(cadata=ca.cert_pem.decode())
        self._ssl.verify_mode = ssl.CERT_REQUIRED
        self._ca_pem = ca.cert_pem.decode()
        self._client = client
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def credential(self) -> Credential:
        """What Shoal stores for this cluster: its CA and a client certificate (no token)."""
        return Credential(server=self.url, ca_pem=self._ca_pem, client_cert_pem=self._client.cert_pem.decode(),
                          client_key_pem=self._client.key_pem.decode())

    async def __aenter__(self) -> StrictCluster:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self._ssl)
        self.url = f"https://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def seen(self, method: str | None = None) -> list[Received]:
        return [r for r in self.requests if method is None or r.method == method]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        number = self.connections
        peer = writer.get_extra_info("peercert") or {}
        identity = next((v for rdn in peer.get("subject", ()) for k, v in rdn if k == "commonName"), "")
        try:
            await self._requests(number, identity, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            self._tasks.discard(task)

    async def _requests(self, number: int, identity: str, reader: asyncio.StreamReader,
                        writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                return
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            fields = (line.partition(":") for line in lines[1:] if line)
            headers = [(name.strip().lower(), value.strip()) for name, _, value in fields]
            received = Received(number, identity, method, target, headers)
            self.requests.append(received)
            length = int(dict(headers).get("content-length", "0"))
            if length:
                await reader.readexactly(length)
            connection = dict(headers).get("connection", "").lower()
            if self.switch_unasked:
                await self._tunnel(received, reader, writer)
                return
            if "upgrade" in connection and dict(headers).get("upgrade"):
                if self.accept_upgrades:
                    await self._tunnel(received, reader, writer)
                    return
                # declined, as an API server's handler does when authorisation or the subresource says no;
                # Go's server then keeps the connection and reads on
                body = json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 403,
                                   "reason": "Forbidden", "message": "upgrade declined"}).encode()
                writer.write(b"HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\n"
                             b"content-length: %d\r\n\r\n%s" % (len(body), body))
            else:
                body = json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Success", "code": 200,
                                   "message": f"{method} {target} as {identity}"}).encode()
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
                             % (len(body), body))
            await writer.drain()

    async def _tunnel(self, received: Received, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        early = b""
        if self.upgrade_delay:  # whatever arrives before the 101 is what a declining server would misread
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.upgrade_delay):
                    while data := await reader.read(65536):
                        early += data
        received.early = early
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: SPDY/3.1\r\n\r\n")
        await writer.drain()
        while data := await reader.read(65536):
            received.tunnel += data
            writer.write(data.upper())
            await writer.drain()


async def seed(api: httpx.AsyncClient, ctx: AppContext, admin_headers: dict[str, str], credential: Credential
               ) -> dict[str, dict[str, str]]:
    """Project alpha with vera (viewer), dave (developer), mona (manager) and a cluster with ``credential``;
    Authorization headers per user (and ``admin``)."""
    people = await enabled_project(api, admin_headers, {"vera": "viewer", "dave": "developer", "mona": "manager"})
    async with ctx.db.session() as session:
        session.add(Cluster(id=CLUSTER_ID, project_code="alpha", name="strict", environment="prod",
                            status=ClusterStatus.RUNNING.value, kube_system_uid=CLUSTER_ID,
                            server_url=credential.server, credential=ctx.secrets.encrypt(credential.to_json())))
    return people


@contextlib.asynccontextmanager
async def strict_gateway(ctx: AppContext, admin_headers: dict[str, str], tmp: Path, front: str,
                         **cluster: Any) -> AsyncIterator[dict[str, Any]]:
    """A :class:`StrictCluster` (``cluster`` options) imported into project alpha, behind a served app.

    ``front="front"``: ``gateway.front`` as ``shoal server`` runs it; ``"asgi"``: uvicorn's own protocol, so
    gateway requests take the ASGI gateway. Yields the cluster, the server's ``url``, an ``api`` client, a
    ``client`` that opens a connection per request (so each takes the front under test: a kept connection
    that began with an API call stays with the app), the ``app`` and each user's Authorization value
    (``vera``, ``dave``, ``mona``, ``admin``)."""
    async with contextlib.AsyncExitStack() as stack:
        strict = await stack.enter_async_context(StrictCluster(tmp, **cluster))
        app = create_app(ctx, with_web=False)
        url = await stack.enter_async_context(serving_front(app, front=front == "front"))
        api = await stack.enter_async_context(httpx.AsyncClient(base_url=url, timeout=10))
        client = await stack.enter_async_context(httpx.AsyncClient(
            base_url=url, limits=httpx.Limits(max_keepalive_connections=0), timeout=10))
        people = await seed(api, ctx, admin_headers, strict.credential)
        try:
            yield {"cluster": strict, "url": url, "api": api, "client": client, "app": app, "front": front,
                   **{name: h["Authorization"] for name, h in people.items()}}
        finally:
            await app.state.gateway.aclose()


@contextlib.asynccontextmanager
async def raw_connection(url: str) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """A plain TCP connection to ``http://host:port`` for hand-written (pipelined, upgrading) requests."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
