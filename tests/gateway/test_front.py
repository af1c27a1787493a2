"""The connection-level front (``gateway.front``) against scripted clusters, over real sockets.

What only a connection shows: keep-alive hand-over to the app, pipelining,
streaming without buffering, upgrades turned into tunnels, a client that leaves
mid-stream, a slow client slowing the cluster, stale keep-alive retries and
read timeouts. Header and permission rules are in ``test_proxy`` (run on both fronts).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import h11
import httpx
import pytest
from sqlalchemy import select
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import ServerConnection
from websockets.asyncio.server import serve as serve_ws
from websockets.exceptions import InvalidStatus
from websockets.typing import Subprotocol

from shoal.api.app import create_app
from shoal.context import AppContext
from shoal.core.errors import Unauthenticated
from shoal.gateway.front import TrustedProxies
from shoal.store.models import AuditEntry
from tests.gateway.test_proxy import CLUSTER, UPSTREAM_TOKEN, populate
from tests.support.front import serving_front

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Cluster:
    """A scripted API server: each test sets ``handler``; ``connections`` counts what the gateway opened."""

    def __init__(self) -> None:
        self.handler: Handler | None = None
        self.connections = 0
        self.url = ""

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        assert self.handler is not None
        try:
            await self.handler(reader, writer)
        finally:
            writer.close()


@pytest.fixture
async def front(ctx: AppContext, admin_headers: dict[str, str]) -> AsyncIterator[dict[str, Any]]:
    cluster = Cluster()
    server = await asyncio.start_server(cluster._serve, "127.0.0.1", 0)
    cluster.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    app = create_app(ctx, with_web=False)
    async with serving_front(app) as url, httpx.AsyncClient(base_url=url) as api:
        people = await populate(api, ctx, admin_headers, cluster.url)
        port = int(url.rsplit(":", 1)[1])
        try:
            yield {"cluster": cluster, "port": port, "app": app, "dave": people["dave"]["Authorization"]}
        finally:
            await app.state.gateway.aclose()
    server.close()
    await server.wait_closed()


async def _head(reader: asyncio.StreamReader) -> bytes:
    return await reader.readuntil(b"\r\n\r\n")


def _answer(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: %d\r\n%s\r\n%s" % (len(body), extra, body)


def _request(path: str, auth: str, extra: str = "") -> bytes:
    return (f"GET {path} HTTP/1.1\r\nhost: shoal\r\nauthorization: {auth}\r\n{extra}\r\n").encode()


class Client:
    """A raw client connection that reads answers with h11."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.conn = h11.Connection(h11.CLIENT)

    @classmethod
    async def open(cls, port: int) -> Client:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def event(self) -> Any:
        while True:
            event = self.conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            self.conn.receive_data(await asyncio.wait_for(self.reader.read(65536), 10))

    async def answer(self) -> tuple[int, dict[bytes, bytes], bytes]:
        """The next complete answer; ready for the following one on the same connection."""
        if self.conn.our_state is h11.IDLE:  # h11 tracks requests: tell it one was sent
            self.conn.send(h11.Request(method="GET", target="/", headers=[("host", "shoal")]))
            self.conn.send(h11.EndOfMessage())
        response = await self.event()
        body = b""
        while not isinstance(event := await self.event(), h11.EndOfMessage):
            body += bytes(event.data)
        if self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE:
            self.conn.start_next_cycle()
        return response.status_code, dict(response.headers), body

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


async def test_keep_alive_hands_other_requests_to_the_app(front: dict[str, Any]) -> None:
    async def paths(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while head := await _head(reader):
            writer.write(_answer(head.split(b" ")[1]))

    front["cluster"].handler = paths
    client = await Client.open(front["port"])
    client.send(_request(f"/clusters/{CLUSTER}/api/v1/nodes", front["dave"]))
    assert (await client.answer())[::2] == (200, b"/api/v1/nodes")
    client.send(_request("/healthz", front["dave"]))  # the same connection goes on with the app
    status, _, body = await client.answer()
    assert status == 200 and b"ok" in body
    client.send(_request(f"/clusters/{CLUSTER}/api/v1/pods", front["dave"]))  # now through the app's gateway
    assert (await client.answer())[::2] == (200, b"/api/v1/pods")
    await client.close()


async def test_pipelined_requests_are_answered_in_order(front: dict[str, Any]) -> None:
    async def slow_first(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while head := await _head(reader):
            path = head.split(b" ")[1]
            if path.endswith(b"/first"):
                await asyncio.sleep(0.2)
            writer.write(_answer(path))

    front["cluster"].handler = slow_first
    client = await Client.open(front["port"])
    client.send(_request(f"/clusters/{CLUSTER}/api/v1/first", front["dave"])
                + _request(f"/clusters/{CLUSTER}/api/v1/second", front["dave"]))
    assert (await client.answer())[2] == b"/api/v1/first"
    assert (await client.answer())[2] == b"/api/v1/second"
    await client.close()


async def test_watch_events_arrive_one_by_one(front: dict[str, Any]) -> None:
    first_seen = asyncio.Event()

    async def watch(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n")
        writer.write(b"9\r\n{\"n\": 1}\n\r\n")
        await writer.drain()
        await asyncio.wait_for(first_seen.wait(), 5)  # a buffering proxy would never deliver the first event
        writer.write(b"9\r\n{\"n\": 2}\n\r\n0\r\n\r\n")
        await writer.drain()

    front["cluster"].handler = watch
    client = await Client.open(front["port"])
    client.send(_request(f"/clusters/{CLUSTER}/api/v1/pods?watch=true", front["dave"]))
    client.conn.send(h11.Request(method="GET", target="/", headers=[("host", "shoal")]))
    client.conn.send(h11.EndOfMessage())
    response = await client.event()
    assert response.status_code == 200 and dict(response.headers)[b"transfer-encoding"] == b"chunked"
    assert bytes((await client.event()).data) == b'{"n": 1}\n'
    first_seen.set()
    assert bytes((await client.event()).data) == b'{"n": 2}\n'
    assert isinstance(await client.event(), h11.EndOfMessage)
    await client.close()


async def test_an_answer_that_ends_with_the_connection_is_relayed_whole(front: dict[str, Any]) -> None:
    async def until_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\nno length, ")
        await writer.drain()
        writer.write(b"no chunks")

    front["cluster"].handler = until_close
    client = await Client.open(front["port"])
    for _ in range(2):  # and the client's connection stays usable
        client.send(_request(f"/clusters/{CLUSTER}/version", front["dave"]))
        status, headers, body = await client.answer()
        assert (status, body) == (200, b"no length, no chunks") and headers[b"transfer-encoding"] == b"chunked"
    await client.close()


async def test_upgrade_becomes_a_tunnel_and_is_audited(front: dict[str, Any], ctx: AppContext) -> None:
    seen: list[bytes] = []

    async def spdy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await _head(reader))
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: SPDY/3.1\r\n"
                     b"x-stream-protocol-version: v4.channel.k8s.io\r\n\r\n")
        while data := await reader.read(1024):
            writer.write(data.upper())
            await writer.drain()

    front["cluster"].handler = spdy
    reader, writer = await asyncio.open_connection("127.0.0.1", front["port"])
    writer.write(_request(f"/clusters/{CLUSTER}/api/v1/namespaces/default/pods/p/exec?command=sh", front["dave"],
                          "connection: Upgrade\r\nupgrade: SPDY/3.1\r\n"
                          "x-stream-protocol-version: v4.channel.k8s.io\r\n"))
    head = await _head(reader)
    assert head.startswith(b"HTTP/1.1 101 ") and b"x-stream-protocol-version: v4.channel.k8s.io" in head
    writer.write(b"hello through the tunnel")
    assert await asyncio.wait_for(reader.readexactly(24), 5) == b"HELLO THROUGH THE TUNNEL"
    writer.close()
    upstream_head = seen[0].lower()
    assert b"upgrade: spdy/3.1" in upstream_head and b"impersonate-user: shoal:dave" in upstream_head
    assert f"authorization: bearer {UPSTREAM_TOKEN}".encode() in upstream_head
    assert front["dave"].lower().encode() not in upstream_head
    gateway = front["app"].state.gateway
    for _ in range(50):  # the entry is written when the tunnel closes
        await asyncio.sleep(0.05)
        await gateway.audit.flush()
        async with ctx.db.session() as session:
            rows = (await session.scalars(select(AuditEntry).where(AuditEntry.action == "gateway.exec"))).all()
        if rows:
            break
    assert [(r.username, r.outcome, r.detail["status"]) for r in rows] == [("dave", "success", 101)]


async def test_a_client_leaving_mid_stream_closes_the_cluster_connection(front: dict[str, Any]) -> None:
    ended = asyncio.Event()

    async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nfirst\r\n")
        await writer.drain()
        await reader.read()  # returns once the gateway closes its side
        ended.set()

    front["cluster"].handler = endless
    reader, writer = await asyncio.open_connection("127.0.0.1", front["port"])
    writer.write(_request(f"/clusters/{CLUSTER}/api/v1/pods?watch=1", front["dave"]))
    assert b"first" in await asyncio.wait_for(reader.readuntil(b"first"), 5)
    writer.close()
    await asyncio.wait_for(ended.wait(), 5)


async def test_a_slow_client_slows_the_cluster_down(front: dict[str, Any]) -> None:
    total = 64 << 20
    written = 0

    async def big(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal written
        await _head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % total)
        block = b"x" * (64 << 10)
        while written < total:
            writer.write(block)
            await writer.drain()
            written += len(block)

    front["cluster"].handler = big
    reader, writer = await asyncio.open_connection("127.0.0.1", front["port"], limit=1 << 16)
    writer.write(_request(f"/clusters/{CLUSTER}/api/v1/pods", front["dave"]))
    await _head(reader)
    await asyncio.sleep(1.0)  # not reading: the cluster must be held back, not the gateway's memory filled
    held_back = written
    assert held_back < total // 4, f"the cluster wrote {held_back} bytes to a client that read none"
    received = 0
    while received < total:
        received += len(await asyncio.wait_for(reader.read(1 << 20), 10))
    assert received == total and written == total
    writer.close()


async def test_stale_keep_alive_is_retried_and_timeouts_are_504(front: dict[str, Any]) -> None:
    async def once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await _head(reader)
        writer.write(_answer(head.split(b" ")[1]))  # keep-alive promised, then closed: the next request meets EOF
        await writer.drain()

    cluster = front["cluster"]
    cluster.handler = once
    client = await Client.open(front["port"])
    for path in (b"/api/v1/a", b"/api/v1/b"):
        client.send(_request(f"/clusters/{CLUSTER}{path.decode()}", front["dave"]))
        assert (await client.answer())[::2] == (200, path)
        await asyncio.sleep(0.1)
    assert cluster.connections == 2

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _head(reader)
        await reader.read()  # never answers; returns when the gateway gives up and closes

    cluster.handler = silent
    front["app"].state.gateway.read_timeout = 0.3
    client.send(_request(f"/clusters/{CLUSTER}/api/v1/nodes", front["dave"], "accept-language: zh-CN\r\n"))
    status, headers, body = await client.answer()
    assert status == 504 and headers[b"content-type"] == b"application/json"
    assert b'"reason":"Timeout"' in body and b" 0.3 " in body and "秒".encode() in body
    await client.close()


async def test_a_failing_database_is_a_503_status_not_a_hang(front: dict[str, Any],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(token: str) -> None:
        raise ConnectionRefusedError("database is down")

    monkeypatch.setattr(front["app"].state.gateway.callers, "resolve", broken)
    client = await Client.open(front["port"])
    client.send(_request(f"/clusters/{CLUSTER}/api/v1/nodes", "Bearer shoal_not-cached-anywhere"))
    status, _, body = await client.answer()
    assert status == 503 and b"ConnectionRefusedError" in body and b'"reason":"ServiceUnavailable"' in body
    await client.close()


@pytest.mark.parametrize("front_kind", ["front", "asgi"])
async def test_exec_websocket_is_relayed_by_either_front(ctx: AppContext, admin_headers: dict[str, str],
                                                         front_kind: str) -> None:
    seen: list[Any] = []

    async def echo(socket: ServerConnection) -> None:
        seen.append(socket.request.headers if socket.request is not None else None)
        async for message in socket:
            await socket.send(message[::-1])

    async with serve_ws(echo, "127.0.0.1", 0, subprotocols=[Subprotocol("v5.channel.k8s.io")]) as upstream:
        port = next(iter(upstream.sockets)).getsockname()[1]
        app = create_app(ctx, with_web=False)
        async with serving_front(app, front=front_kind == "front") as url, httpx.AsyncClient(base_url=url) as api:
            people = await populate(api, ctx, admin_headers, f"http://127.0.0.1:{port}")
            target = url.replace("http", "ws") + f"/clusters/{CLUSTER}/api/v1/namespaces/default/pods/p/exec?command=sh"
            async with ws_connect(target, additional_headers=people["dave"],
                                  subprotocols=[Subprotocol("v5.channel.k8s.io")]) as client:
                assert client.subprotocol == "v5.channel.k8s.io"
                await client.send(b"\x00hello")
                assert await asyncio.wait_for(client.recv(), 5) == b"olleh\x00"
            refused = None
            try:
                async with ws_connect(target, additional_headers=people["vera"]):
                    pass
            except InvalidStatus as e:
                refused = e.response.status_code
            assert refused == 403  # a viewer may not exec
            await app.state.gateway.aclose()
    headers = seen[0]
    assert headers["Impersonate-User"] == "shoal:dave" and headers["Authorization"] == f"Bearer {UPSTREAM_TOKEN}"


async def test_a_trusted_proxy_names_the_client_in_audit_and_upstream(front: dict[str, Any],
                                                                      ctx: AppContext) -> None:
    heads: list[bytes] = []

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        heads.append(await _head(reader))
        writer.write(b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\n{}")

    front["cluster"].handler = record
    client = await Client.open(front["port"])  # from 127.0.0.1, which uvicorn trusts by default
    client.send(f"POST /clusters/{CLUSTER}/api/v1/namespaces/default/configmaps HTTP/1.1\r\nhost: shoal\r\n"
                f"authorization: {front['dave']}\r\nx-forwarded-for: 198.51.100.9, 203.0.113.7\r\n"
                "content-length: 2\r\n\r\n{}".encode())
    assert (await client.answer())[0] == 201
    await client.close()
    assert b"x-forwarded-for: 203.0.113.7\r\n" in heads[0] and b"198.51.100.9" not in heads[0]
    await front["app"].state.gateway.audit.flush()
    async with ctx.db.session() as session:
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "gateway.create"))
    assert entry is not None and entry.source == "203.0.113.7"


def test_trusted_proxies_take_hosts_networks_and_everyone() -> None:
    trusted = TrustedProxies("127.0.0.1, 10.0.0.0/8,::1, lb.internal")
    assert "10.1.2.3" in trusted and "127.0.0.1" in trusted and "::1" in trusted and "lb.internal" in trusted
    assert "192.0.2.1" not in trusted and "not an address" not in trusted
    assert trusted.client("192.0.2.1, 10.0.0.5") == "192.0.2.1"  # the nearest hop that is not ours
    assert trusted.client("10.0.0.7, 10.0.0.5") == "10.0.0.7"  # all ours: the first
    assert trusted.client(" , ") is None
    assert "192.0.2.1" in TrustedProxies("*") and "192.0.2.1" not in TrustedProxies(["10.0.0.0/8"])


async def test_a_burst_after_the_caches_expire_costs_one_lookup(front: dict[str, Any],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    gateway = front["app"].state.gateway
    loads = decrypts = 0
    load, decrypt = gateway.callers._load, gateway.clusters._decrypt

    async def counted_load(session: Any, token: str) -> Any:
        nonlocal loads
        loads += 1
        await asyncio.sleep(0.05)  # the query is still running when the others arrive
        return await load(session, token)

    def counted_decrypt(ciphertext: str) -> Any:
        nonlocal decrypts
        decrypts += 1
        return decrypt(ciphertext)

    monkeypatch.setattr(gateway.callers, "_load", counted_load)
    monkeypatch.setattr(gateway.clusters, "_decrypt", counted_decrypt)
    gateway.callers.clear()
    gateway.clusters.forget(CLUSTER)
    token = front["dave"].split(" ", 1)[1]
    callers = await asyncio.gather(*(gateway.callers.resolve(token) for _ in range(20)))
    clusters = await asyncio.gather(*(gateway.clusters.get(CLUSTER) for _ in range(20)))
    assert (loads, decrypts) == (1, 1)
    assert len({id(c) for c in callers}) == 1 and len({id(c) for c in clusters}) == 1
    with pytest.raises(Unauthenticated):  # a refusal reaches every waiter
        await asyncio.gather(*(gateway.callers.resolve("shoal_no-such-token") for _ in range(3)))
