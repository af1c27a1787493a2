"""Issue 13: request smuggling behind an Upgrade, against a cluster that behaves as Go's net/http does.

The hole: the gateway wrote what followed an upgrade request's head to the cluster connection
before the cluster had answered. A real API server that declines the upgrade (403, say) keeps the
connection and reads those bytes as its next request — authenticated by the connection's client
certificate, i.e. as Shoal's cluster-admin, with no impersonation — and the connection went back
to the pool. The stand-in cluster (``tests.support.strict_cluster``) declines upgrades, keeps the
connection alive, serves pipelined requests and binds the identity to the connection.

Both fronts: ``front`` (``gateway.front``, what ``shoal server`` runs) and ``asgi`` (uvicorn's own
protocol in front of the ASGI gateway), each over a real socket.
"""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import h11
import pytest

from shoal.context import AppContext
from tests.support.strict_cluster import CLUSTER_ID, SHOAL_IDENTITY, StrictCluster, raw_connection, strict_gateway

EXEC = f"/clusters/{CLUSTER_ID}/api/v1/namespaces/default/pods/web/exec?command=sh&stdin=true&stdout=true"
#: What an attacker pipelines behind the upgrade: deleting a namespace, which no project role may do.
SMUGGLED = b"DELETE /api/v1/namespaces/kube-system HTTP/1.1\r\nhost: cluster\r\ncontent-length: 0\r\n\r\n"
UPGRADES = {
    "spdy": "connection: Upgrade\r\nupgrade: SPDY/3.1\r\nx-stream-protocol-version: v4.channel.k8s.io\r\n",
    "websocket": ("connection: Upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\n"
                  f"sec-websocket-key: {base64.b64encode(b'0123456789abcdef').decode()}\r\n"
                  "sec-websocket-protocol: v5.channel.k8s.io\r\n"),
}


def _upgrade(target: str, auth: str, kind: str, method: str = "GET") -> bytes:
    return f"{method} {target} HTTP/1.1\r\nhost: shoal\r\nauthorization: {auth}\r\n{UPGRADES[kind]}\r\n".encode()


async def _answer(reader: asyncio.StreamReader, *, then_closed: bool = True) -> tuple[int, bytes]:
    """The gateway's whole answer (status, body) to an upgrade it did not turn into a tunnel; ``then_closed``:
    the connection must end right after it (the client expected a tunnel, so nothing else can follow)."""
    parser = h11.Connection(h11.CLIENT)
    parser.send(h11.Request(method="GET", target="/", headers=[("host", "shoal")]))
    parser.send(h11.EndOfMessage())
    events: list[Any] = []
    while not events or not isinstance(events[-1], h11.EndOfMessage):
        event = parser.next_event()
        if event is h11.NEED_DATA:
            parser.receive_data(await asyncio.wait_for(reader.read(65536), 10))
        else:
            events.append(event)
    if then_closed:
        assert await asyncio.wait_for(reader.read(), 2) == b""
    response, *data, _ = events
    assert isinstance(response, h11.Response), response
    return response.status_code, b"".join(bytes(d.data) for d in data)


def _assert_nothing_ran_as_shoal(cluster: StrictCluster) -> None:
    assert cluster.seen("DELETE") == [], [(r.method, r.target, r.identity) for r in cluster.requests]
    for received in cluster.requests:  # every request the cluster ran was impersonated
        assert received.identity == SHOAL_IDENTITY
        assert received.values("impersonate-user"), (received.method, received.target)


async def test_bytes_behind_a_declined_upgrade_never_reach_the_cluster(gw: dict[str, Any]) -> None:
    cluster: StrictCluster = gw["cluster"]
    for kind in UPGRADES:
        own_refusal = gw["front"] == "asgi" and kind == "spdy"  # the ASGI gateway refuses SPDY itself (400)
        async with raw_connection(gw["url"]) as (reader, writer):
            # dave may exec (developer): the upgrade goes to the cluster, which declines it and keeps reading
            writer.write(_upgrade(EXEC, gw["dave"], kind, "POST" if kind == "spdy" else "GET") + SMUGGLED)
            # uvicorn answers the SPDY upgrade it does not take with 400 and keeps the connection (for nothing)
            status, _ = await _answer(reader, then_closed=not own_refusal)
        assert status == (400 if own_refusal else 403), kind
    await asyncio.sleep(0.2)  # anything smuggled would have been served by now
    _assert_nothing_ran_as_shoal(cluster)
    exec_path = "/api/v1/namespaces/default/pods/web/exec"
    assert [r.target.split("?")[0] for r in cluster.requests] == [exec_path] * (1 if gw["front"] == "asgi" else 2)


async def test_a_viewer_cannot_upgrade_a_read_to_smuggle_a_request(gw: dict[str, Any]) -> None:
    """A viewer may list pods; on old main an Upgrade on that list carried a DELETE past Shoal."""
    for kind in UPGRADES:
        own_refusal = gw["front"] == "asgi" and kind == "spdy"
        async with raw_connection(gw["url"]) as (reader, writer):
            writer.write(_upgrade(f"/clusters/{CLUSTER_ID}/api/v1/namespaces/default/pods", gw["vera"], kind)
                         + SMUGGLED)
            status, body = await _answer(reader, then_closed=not own_refusal)
        assert status == 400, body
        message = json.loads(body)["message"]
        if not own_refusal:  # that front refuses every SPDY upgrade, with its own words
            assert "only exec, attach, port-forward and proxy" in message, message
    await asyncio.sleep(0.2)
    assert gw["cluster"].requests == []


async def test_upgrades_are_refused_off_the_streaming_subresources_in_chinese_too(gw: dict[str, Any]) -> None:
    async with raw_connection(gw["url"]) as (reader, writer):
        writer.write(_upgrade(f"/clusters/{CLUSTER_ID}/api/v1/namespaces/default/secrets?watch=true", gw["mona"],
                              "websocket").replace(b"\r\n\r\n", b"\r\naccept-language: zh-CN\r\n\r\n"))
        status, body = await _answer(reader)
    refusal = json.loads(body)
    assert (status, refusal["kind"], refusal["reason"]) == (400, "Status", "BadRequest")
    assert "只有 exec、attach、port-forward 和 proxy" in refusal["message"], refusal["message"]
    assert gw["cluster"].requests == []


async def test_a_connection_that_carried_an_upgrade_is_never_pooled(ctx: AppContext, admin_headers: dict[str, str],
                                                                    tmp_path: Path) -> None:
    """The front only (the ASGI gateway opens websockets on their own connections, outside the pool)."""
    async with strict_gateway(ctx, admin_headers, tmp_path, "front") as gw:
        cluster: StrictCluster = gw["cluster"]
        async with raw_connection(gw["url"]) as (reader, writer):
            writer.write(_upgrade(EXEC, gw["dave"], "spdy", "POST"))
            status, _ = await _answer(reader)
        assert status == 403
        r = await gw["api"].get(f"/clusters/{CLUSTER_ID}/api/v1/namespaces/default/pods",
                                headers={"Authorization": gw["dave"]})
        assert r.status_code == 200, r.text
        upgrade, listing = cluster.requests
        assert upgrade.connection != listing.connection  # the declined upgrade's connection was not reused


async def test_bytes_sent_early_wait_for_the_101_then_go_through(ctx: AppContext, admin_headers: dict[str, str],
                                                                  tmp_path: Path) -> None:
    """The front only (the ASGI gateway relays websocket messages, not bytes): what the client sends before
    the cluster agrees is held, not lost, and reaches the cluster only once it has answered 101."""
    async with strict_gateway(ctx, admin_headers, tmp_path, "front", accept_upgrades=True, upgrade_delay=0.3) as gw:
        cluster: StrictCluster = gw["cluster"]
        async with raw_connection(gw["url"]) as (reader, writer):
            writer.write(_upgrade(EXEC, gw["dave"], "spdy", "POST") + b"early bytes")
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            assert head.startswith(b"HTTP/1.1 101 ")
            assert await asyncio.wait_for(reader.readexactly(11), 10) == b"EARLY BYTES"
            writer.write(b" and later")
            assert await asyncio.wait_for(reader.readexactly(10), 10) == b" AND LATER"
        (exec_request,) = cluster.requests
        assert exec_request.early == b"" and exec_request.tunnel.startswith(b"early bytes")
        assert exec_request.values("impersonate-user") == ["shoal:dave"]


@pytest.mark.parametrize("front", ["front", "asgi"])
async def test_a_switch_the_client_did_not_ask_for_is_no_tunnel(ctx: AppContext, admin_headers: dict[str, str],
                                                                 tmp_path: Path, front: str) -> None:
    """A cluster (or a pod behind ``proxy``) answering 101 to a plain read must not turn the client's
    connection into a raw pipe onto Shoal's cluster connection, where its next bytes would skip admission."""
    async with strict_gateway(ctx, admin_headers, tmp_path, front, switch_unasked=True) as world:
        async with raw_connection(world["url"]) as (reader, writer):
            writer.write(f"GET /clusters/{CLUSTER_ID}/api/v1/namespaces/default/pods HTTP/1.1\r\nhost: shoal\r\n"
                         f"authorization: {world['vera']}\r\n\r\n".encode())
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            assert not head.startswith(b"HTTP/1.1 101"), head
            writer.write(SMUGGLED)
            await asyncio.sleep(0.2)
        status = int(head.split(b" ", 2)[1])
        assert status >= 500 and b"application/json" in head.lower(), head
        (read,) = world["cluster"].requests
        assert read.tunnel == b"" and read.early == b""
