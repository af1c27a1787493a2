"""Issue 13: no identity from the client reaches a cluster, and a request's length is stated once.

* An API server that trusts an authenticating proxy takes the user from ``X-Remote-User``,
  ``X-Remote-Group``, ``X-Remote-Uid`` and ``X-Remote-Extra-*``; the gateway stripped only the
  first two. Every ``X-Remote-*`` and ``Impersonate-*`` header from the client is dropped now,
  and so is any header the client names in ``Connection`` (hop-by-hop: a proxy never forwards
  those). The client's ``Authorization`` never reaches the cluster either.
* ``Transfer-Encoding`` with ``Content-Length``, or two ``Content-Length`` headers, are the classic
  smuggling shapes: refused with 400 and nothing forwarded.

Both fronts over real sockets, against the strict stand-in cluster (which records each header it got),
and the ASGI gateway in-process, where no HTTP parser stands in front of it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from shoal.api.app import create_app
from shoal.context import AppContext
from tests.support.strict_cluster import CLUSTER_ID, StrictCluster, raw_connection, seed

CONFIGMAPS = f"/clusters/{CLUSTER_ID}/api/v1/namespaces/default/configmaps"
FORGED = {"X-Remote-User": "system:admin", "X-Remote-Group": "system:masters", "X-Remote-Uid": "0",
          "X-Remote-Extra-Scopes": "cluster-admin", "X-Remote-Extra-Authentication.Kubernetes.Io%2fCredential-Id": "x",
          "Impersonate-User": "system:admin", "Impersonate-Group": "system:masters", "Impersonate-Uid": "0",
          "Impersonate-Extra-Scopes": "all"}


async def test_no_identity_or_hop_by_hop_header_from_the_client_reaches_the_cluster(gw: dict[str, Any]) -> None:
    cluster: StrictCluster = gw["cluster"]
    headers = {"Authorization": gw["vera"], **FORGED, "Connection": "keep-alive, X-Hop-Secret",
               "X-Hop-Secret": "for the next hop only", "X-Kept": "end to end"}
    r = await gw["client"].get(f"/clusters/{CLUSTER_ID}/api/v1/namespaces/default/pods", headers=headers)
    assert r.status_code == 200, r.text
    (received,) = cluster.requests
    names = {name for name, _ in received.headers}
    assert not [n for n in names if n.startswith("x-remote-")], received.headers
    assert received.values("impersonate-user") == ["shoal:vera"]
    assert received.values("impersonate-group") == ["shoal:role:viewer", "shoal:project:alpha"]
    assert not [n for n in names if n.startswith("impersonate-") and n not in ("impersonate-user",
                                                                               "impersonate-group")]
    assert "x-hop-secret" not in names and received.values("x-kept") == ["end to end"]
    assert received.values("authorization") == []  # the cluster's credential is the client certificate
    assert received.identity != "" and gw["vera"].split()[1] not in str(received.headers)


async def test_a_length_stated_twice_is_refused_by_both_fronts(gw: dict[str, Any]) -> None:
    cluster: StrictCluster = gw["cluster"]
    smuggled = b"DELETE /api/v1/namespaces/kube-system HTTP/1.1\r\nhost: cluster\r\n\r\n"
    shapes = [b"content-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled,
              b"transfer-encoding: chunked\r\ncontent-length: 5\r\n\r\n0\r\n\r\n" + smuggled,
              b"content-length: 0\r\ncontent-length: 66\r\n\r\n" + smuggled]
    for shape in shapes:
        async with raw_connection(gw["url"]) as (reader, writer):
            writer.write(b"POST %s HTTP/1.1\r\nhost: shoal\r\nauthorization: %s\r\n%s"
                         % (CONFIGMAPS.encode(), gw["dave"].encode(), shape))
            answer = await asyncio.wait_for(reader.read(), 10)
        assert answer.startswith(b"HTTP/1.1 400 "), answer
    await asyncio.sleep(0.1)
    assert cluster.requests == []


async def test_the_asgi_gateway_refuses_a_length_stated_twice_without_a_parser_in_front(
        ctx: AppContext, admin_headers: dict[str, str], tmp_path: Path) -> None:
    async with StrictCluster(tmp_path) as cluster:
        app = create_app(ctx, with_web=False)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://shoal.test") as client:
            people = await seed(client, ctx, admin_headers, cluster.credential)
            try:
                r = await client.post(CONFIGMAPS, content=b"0\r\n\r\n", headers={
                    **people["dave"], "Content-Length": "5", "Transfer-Encoding": "chunked"})
                assert r.status_code == 400, r.text
                assert "Content-Length" in r.json()["message"]
                r = await client.post(CONFIGMAPS, content=b'{"kind":"ConfigMap"}', headers=people["dave"])
                assert r.status_code == 200, r.text  # one length is fine
            finally:
                await app.state.gateway.aclose()
        assert [(r.method, r.values("content-length")) for r in cluster.requests] == [("POST", ["20"])]
