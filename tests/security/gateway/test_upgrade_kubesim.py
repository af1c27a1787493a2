"""Issue 13's request-smuggling checks again, with kubesim itself as the cluster (issue 14).

``test_upgrade.py`` runs them against a purpose-built stand-in; kubesim now keeps connections as
Go's net/http does (``kubesim.connections``: a declined Upgrade is answered and the next request is
read from the same connection; pipelined requests are served in order), so the same attack works
against it as against a real API server — if the gateway let it. Shoal reaches kubesim with a
client-certificate credential (``kubesim-admin``, group ``system:masters``): anything smuggled onto
Shoal's connection would run as cluster-admin, un-impersonated. kubesim's request log
(``VirtualCluster.requests``, what an audit log records: who authenticated, whom they impersonated,
on which connection) is the witness.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import h11
import httpx
import pytest

from kubesim.cluster import VirtualCluster
from kubesim.runner import Simulator
from shoal.api.app import create_app
from shoal.context import AppContext
from shoal.demo import grant_shoal_groups
from shoal.kube import Credential
from tests.security.gateway.test_upgrade import SMUGGLED, _answer, _upgrade
from tests.support.front import serving_front
from tests.support.strict_cluster import CLUSTER_ID, raw_connection, seed

EXEC = f"/clusters/{CLUSTER_ID}/api/v1/namespaces/default/pods/web/exec?command=sh&stdin=true&stdout=true"
#: a subresource the gateway lets upgrade but kubesim does not: kubesim declines and reads on
PROXY = f"/clusters/{CLUSTER_ID}/api/v1/namespaces/default/pods/web/proxy"


@contextlib.asynccontextmanager
async def kubesim_gateway(ctx: AppContext, admin_headers: dict[str, str], front: str
                          ) -> AsyncIterator[dict[str, Any]]:
    """kubesim with Shoal's access objects, imported with its admin client certificate, behind a served app."""
    sim = Simulator(nodes=1).start()
    try:
        grant_shoal_groups(sim)
        credential = Credential(server=sim.url, ca_pem=sim.ca.cert_pem.decode(),
                                client_cert_pem=sim.admin_cert.cert_pem.decode(),
                                client_key_pem=sim.admin_cert.key_pem.decode())
        async with contextlib.AsyncExitStack() as stack:
            app = create_app(ctx, with_web=False)
            url = await stack.enter_async_context(serving_front(app, front=front == "front"))
            api = await stack.enter_async_context(httpx.AsyncClient(base_url=url, timeout=10))
            people = await seed(api, ctx, admin_headers, credential)
            try:
                yield {"cluster": sim.cluster(), "url": url, "api": api, "front": front,
                       **{name: h["Authorization"] for name, h in people.items()}}
            finally:
                await app.state.gateway.aclose()
    finally:
        sim.stop()


@pytest.fixture(params=["front", "asgi"])
async def kgw(request: pytest.FixtureRequest, ctx: AppContext, admin_headers: dict[str, str]
              ) -> AsyncIterator[dict[str, Any]]:
    async with kubesim_gateway(ctx, admin_headers, request.param) as world:
        yield world


def _assert_nothing_ran_unimpersonated(cluster: VirtualCluster) -> None:
    assert cluster.store.try_get(cluster.rt("namespaces"), "", "kube-system") is not None
    assert [r for r in cluster.requests if r.method == "DELETE"] == []
    for record in cluster.requests:  # Shoal's certificate identity only ever acts impersonated
        assert record.user == "kubesim-admin" and record.impersonated_user.startswith("shoal:"), record


async def test_bytes_behind_a_declined_upgrade_never_reach_kubesim(kgw: dict[str, Any]) -> None:
    cluster: VirtualCluster = kgw["cluster"]
    for kind, target, method in (("spdy", EXEC, "POST"), ("websocket", PROXY, "GET")):
        own_refusal = kgw["front"] == "asgi" and kind == "spdy"  # the ASGI gateway refuses SPDY itself
        async with raw_connection(kgw["url"]) as (reader, writer):
            # dave (developer) may exec; kubesim answers the upgrade without switching, then would read on
            writer.write(_upgrade(target, kgw["dave"], kind, method) + SMUGGLED)
            status, body = await _answer(reader, then_closed=not own_refusal)
        assert status != 101 and 400 <= status < 500, (kind, status, body)
    await asyncio.sleep(0.3)  # anything smuggled would have been served by now
    _assert_nothing_ran_unimpersonated(cluster)
    if kgw["front"] == "front":  # both upgrades reached kubesim (and were declined there)
        assert {r.uri.split("?")[0].rsplit("/", 1)[-1] for r in cluster.requests} == {"exec", "proxy"}


async def test_a_declined_upgrade_connection_is_not_reused_with_kubesim(ctx: AppContext,
                                                                          admin_headers: dict[str, str]) -> None:
    """The front only: after kubesim declined an upgrade (and kept its connection open, as Go does), the
    next read goes to kubesim on another connection, so nothing can ride on the declined one."""
    async with kubesim_gateway(ctx, admin_headers, "front") as world:
        cluster: VirtualCluster = world["cluster"]
        async with raw_connection(world["url"]) as (reader, writer):
            writer.write(_upgrade(EXEC, world["dave"], "spdy", "POST"))
            status, _ = await _answer(reader)
        assert status == 404  # kubesim serves SPDY exec, but there is no pod "web": declined before any 101
        r = await world["api"].get(f"/clusters/{CLUSTER_ID}/api/v1/namespaces/default/pods",
                                   headers={"Authorization": world["dave"]})
        assert r.status_code == 200, r.text
        upgrade, listing = cluster.requests
        assert upgrade.uri.split("?")[0].endswith("/exec") and listing.uri.endswith("/pods")
        assert upgrade.peer != listing.peer  # kubesim saw them on two connections
        assert listing.impersonated_user == "shoal:dave"
    _assert_nothing_ran_unimpersonated(cluster)


async def _responses(reader: asyncio.StreamReader, count: int) -> list[tuple[int, bytes]]:
    """``count`` whole responses read in order from one connection (h11, one parser per response)."""
    out: list[tuple[int, bytes]] = []
    pending = b""
    for _ in range(count):
        parser = h11.Connection(h11.CLIENT)
        parser.send(h11.Request(method="GET", target="/", headers=[("host", "shoal")]))
        parser.send(h11.EndOfMessage())
        if pending:  # (receive_data(b"") would mean end of stream)
            parser.receive_data(pending)
        status, body = 0, b""
        while True:
            event = parser.next_event()
            if event is h11.NEED_DATA:
                parser.receive_data(await asyncio.wait_for(reader.read(65536), 10))
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                body += bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                break
        pending, _ = parser.trailing_data
        out.append((status, body))
    return out


async def test_pipelined_requests_reach_kubesim_in_order_each_as_its_sender(kgw: dict[str, Any]) -> None:
    """Three requests in one write, from two people: answered in order, and kubesim ran each impersonated
    as the person who sent it (a viewer's DELETE refused by Shoal or by the cluster, never run)."""
    cluster: VirtualCluster = kgw["cluster"]
    base = f"/clusters/{CLUSTER_ID}/api/v1/namespaces/default/configmaps"
    body = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "piped"}}).encode()

    def request(method: str, target: str, who: str, payload: bytes = b"") -> bytes:
        return (f"{method} {target} HTTP/1.1\r\nhost: shoal\r\nauthorization: {kgw[who]}\r\n"
                f"content-type: application/json\r\ncontent-length: {len(payload)}\r\n\r\n").encode() + payload

    async with raw_connection(kgw["url"]) as (reader, writer):
        writer.write(request("POST", base, "dave", body) + request("GET", f"{base}/piped", "dave")
                     + request("DELETE", f"{base}/piped", "vera"))
        (created, _), (read, got), (deleted, refusal) = await _responses(reader, 3)
    assert (created, read, deleted) == (201, 200, 403), refusal
    assert json.loads(got)["metadata"]["name"] == "piped"
    assert cluster.store.try_get(cluster.rt("configmaps"), "default", "piped") is not None
    ran = [(r.method, r.impersonated_user) for r in cluster.requests]
    assert ran[:2] == [("POST", "shoal:dave"), ("GET", "shoal:dave")] and ran[2:] in ([], [("DELETE", "shoal:vera")])
    _assert_nothing_ran_unimpersonated(cluster)
