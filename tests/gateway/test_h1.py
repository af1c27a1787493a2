"""The gateway's lean HTTP/1.1 upstream (``kube.h1`` through ``kube.pool.Upstream``) against a scripted server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from shoal.core.errors import ClusterUnreachable
from shoal.kube import Credential
from shoal.kube.pool import UpstreamPool

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], "asyncio.Future[None] | object"]


async def _read_head(reader: asyncio.StreamReader) -> bytes:
    return await reader.readuntil(b"\r\n\r\n")


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], asyncio.Future[str]]]:
    servers: list[asyncio.Server] = []

    async def start(handler: Handler) -> str:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)  # type: ignore[arg-type]
        servers.append(server)
        return f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"

    yield start  # type: ignore[misc]
    for server in servers:
        server.close()
        await server.wait_closed()


async def _body(response: object) -> bytes:
    return b"".join([chunk async for chunk in response.chunks()])  # type: ignore[attr-defined]


async def test_keep_alive_reuse_chunked_and_stale_retry(serve: Callable[[Handler], asyncio.Future[str]]) -> None:
    connections = 0
    heads: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        served = 0
        while True:
            try:
                heads.append(await _read_head(reader))
            except (asyncio.IncompleteReadError, ConnectionError):
                break
            served += 1
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-N: %d\r\n\r\n" % served
                         + b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
            await writer.drain()
            if served == 2:  # the second answer on a connection is its last: the next request meets a closed socket
                break
        writer.close()

    url = await serve(handler)
    pool = UpstreamPool(max_connections=4, connect_timeout=2)
    upstream = pool.get("c", Credential(server=url + "/base", token="secret"))
    for expected in (b"1", b"2", b"1"):
        response = await upstream.send("GET", b"/api/v1/nodes?limit=1", [(b"accept", b"application/json")], None,
                                       read_timeout=5)
        assert response.status == 200 and (b"x-n", expected) in response.raw_headers
        assert await _body(response) == b"abcde"
        await response.aclose()
        await asyncio.sleep(0.05)
    assert connections == 2  # reused once, then a fresh connection after the server closed the first
    assert heads[0].startswith(b"GET /base/api/v1/nodes?limit=1 HTTP/1.1\r\n")
    assert b"authorization: Bearer secret\r\n" in heads[0]
    await pool.aclose()


async def test_timeout_refused_and_early_close(serve: Callable[[Handler], asyncio.Future[str]]) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_head(reader)
        await asyncio.sleep(5)
        writer.close()

    async def truncating(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly a part")
        await writer.drain()
        writer.close()

    pool = UpstreamPool(connect_timeout=2)
    slow = pool.get("slow", Credential(server=await serve(silent)))
    with pytest.raises(ClusterUnreachable) as timed_out:
        await slow.send("GET", b"/x", [], None, read_timeout=0.2)
    assert timed_out.value.message_key == "error.cluster_timeout"
    cut = pool.get("cut", Credential(server=await serve(truncating)))
    response = await cut.send("GET", b"/x", [], None, read_timeout=2)
    with pytest.raises(ClusterUnreachable):
        await _body(response)
    await response.aclose()
    closed = pool.get("closed", Credential(server="http://127.0.0.1:9"))
    with pytest.raises(ClusterUnreachable) as refused:
        await closed.send("GET", b"/x", [], None, read_timeout=2)
    assert refused.value.message_key == "error.cluster_connect"
    await pool.aclose()
