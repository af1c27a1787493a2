"""The gateway in-process in front of an echo upstream, and the kubeconfig/token/setting API (SQLite and PostgreSQL).

The echo upstream answers every request with what it received, so these tests
see exactly which headers reach a cluster: the caller's credentials and
``Impersonate-*`` never do; the cluster's credential and Shoal's impersonation do.
Each test runs against both fronts: the ASGI application (``asgi``) and the
connection-level front ``shoal server`` uses (``front``, over a real socket).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client import REGISTRY
from sqlalchemy import func, select
from starlette.types import Receive, Scope, Send

from shoal.api.app import create_app
from shoal.clusters.models import Cluster, ClusterStatus
from shoal.context import AppContext
from shoal.kube import Credential
from shoal.store.models import AuditEntry
from shoal.store.types import utcnow
from tests.support.api import make_user
from tests.support.front import serving_front
from tests.support.server import free_port
from tests.support.threaded_server import ThreadedServer

PERMISSION_ROUTES = {
    ("POST", "/api/v1/clusters/{cluster_id}/kubeconfig"),
    ("GET", "/api/v1/gateway/tokens"),
    ("DELETE", "/api/v1/gateway/tokens/{token_id}"),
    ("GET", "/api/v1/clusters/{cluster_id}/gateway"),
    ("PUT", "/api/v1/clusters/{cluster_id}/gateway"),
}
CLUSTER = "BCS-K8S-40000"
UPSTREAM_TOKEN = "upstream-secret-token"


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    payload = {"method": scope["method"], "path": scope["path"], "query": scope["query_string"].decode(),
               "headers": [[k.decode(), v.decode()] for k, v in scope["headers"]], "body": body.decode()}
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"set-cookie", b"upstream=1")]})
    await send({"type": "http.response.body", "body": json.dumps(payload).encode()})


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with ThreadedServer(echo) as server:
        yield server.url


async def populate(client: httpx.AsyncClient, ctx: AppContext, admin_headers: dict[str, str], upstream: str
                   ) -> dict[str, dict[str, str]]:
    """Project alpha with dave (developer), vera (viewer); eve manages beta; a cluster of each at ``upstream``."""
    await client.post("/api/v1/businesses", json={"id": 100, "name": "Biz", "maintainers": ["admin"]},
                      headers=admin_headers)
    for code in ("alpha", "beta"):
        await client.post("/api/v1/projects", json={"code": code, "name": code}, headers=admin_headers)
    people = {name: await make_user(client, admin_headers, name) for name in ("dave", "vera", "eve")}
    for name, project, role in (("dave", "alpha", "developer"), ("vera", "alpha", "viewer"),
                                ("eve", "beta", "manager")):
        r = await client.post(f"/api/v1/projects/{project}/members", json={"username": name, "role": role},
                              headers=admin_headers)
        assert r.status_code in (200, 201), r.text
    credential = Credential(server=upstream, token=UPSTREAM_TOKEN)
    async with ctx.db.session() as session:
        for cluster_id, project in ((CLUSTER, "alpha"), ("BCS-K8S-40001", "beta")):
            session.add(Cluster(id=cluster_id, project_code=project, name=cluster_id, environment="prod",
                                status=ClusterStatus.RUNNING.value, kube_system_uid=cluster_id,
                                server_url=upstream, credential=ctx.secrets.encrypt(credential.to_json())))
    return people


@pytest.fixture(params=["asgi", "front"])
async def gw(request: pytest.FixtureRequest, ctx: AppContext, upstream: str, admin_headers: dict[str, str]
             ) -> AsyncIterator[dict[str, Any]]:
    """The app (with the gateway) over ASGI or behind the front, populated by :func:`populate`."""
    app = create_app(ctx, with_web=False)
    async with contextlib.AsyncExitStack() as stack:
        if request.param == "asgi":
            client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://shoal.test")
        else:  # a connection per request: one that began with an API call would stay with the app (ASGI)
            client = httpx.AsyncClient(base_url=await stack.enter_async_context(serving_front(app)),
                                       limits=httpx.Limits(max_keepalive_connections=0))
        await stack.enter_async_context(client)
        people = await populate(client, ctx, admin_headers, upstream)
        try:
            yield {"client": client, "app": app, "admin": admin_headers, "front": request.param, **people}
        finally:
            await app.state.gateway.aclose()


async def _echo(client: httpx.AsyncClient, path: str, headers: dict[str, str], **kwargs: Any) -> dict[str, Any]:
    r = await client.request(kwargs.pop("method", "GET"), f"/clusters/{CLUSTER}{path}", headers=headers, **kwargs)
    assert r.status_code == 200, r.text
    return dict(r.json())


def _values(echoed: dict[str, Any], name: str) -> list[str]:
    return [v for k, v in echoed["headers"] if k == name]


async def test_caller_credentials_never_reach_the_cluster(gw: dict[str, Any]) -> None:
    client: httpx.AsyncClient = gw["client"]
    headers = {**gw["dave"], "Cookie": "shoal_session=abc", "Impersonate-User": "admin",
               "Impersonate-Group": "system:masters", "Impersonate-Extra-Scopes": "x", "X-Remote-User": "admin",
               "Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}
    echoed = await _echo(client, "/api/v1/namespaces/default/pods?limit=500&labelSelector=a%3Db", headers)
    assert echoed["path"] == "/api/v1/namespaces/default/pods"
    assert echoed["query"] == "limit=500&labelSelector=a%3Db"
    assert _values(echoed, "authorization") == [f"Bearer {UPSTREAM_TOKEN}"]
    assert _values(echoed, "cookie") == [] and _values(echoed, "x-remote-user") == []
    assert _values(echoed, "impersonate-user") == ["shoal:dave"]
    assert _values(echoed, "impersonate-group") == ["shoal:role:developer", "shoal:project:alpha"]
    assert _values(echoed, "impersonate-extra-scopes") == []
    assert _values(echoed, "accept") == ["application/json;as=Table;v=v1;g=meta.k8s.io"]


async def test_bodies_pass_through_and_upstream_cookies_do_not_come_back(gw: dict[str, Any]) -> None:
    client: httpx.AsyncClient = gw["client"]
    r = await client.post(f"/clusters/{CLUSTER}/api/v1/namespaces/default/configmaps", headers=gw["dave"],
                          content=b'{"kind":"ConfigMap"}', params={"fieldManager": "kubectl"})
    assert r.status_code == 200 and r.json()["body"] == '{"kind":"ConfigMap"}'
    assert "set-cookie" not in r.headers


async def test_impersonation_can_be_turned_off_by_a_manager(gw: dict[str, Any]) -> None:
    client: httpx.AsyncClient = gw["client"]
    r = await client.put(f"/api/v1/clusters/{CLUSTER}/gateway", json={"impersonate": False}, headers=gw["dave"])
    assert r.status_code == 403
    r = await client.put(f"/api/v1/clusters/{CLUSTER}/gateway", json={"impersonate": False}, headers=gw["admin"])
    assert r.status_code == 200 and r.json() == {"cluster_id": CLUSTER, "impersonate": False}
    assert (await client.get(f"/api/v1/clusters/{CLUSTER}/gateway", headers=gw["vera"])).json()["impersonate"] is False
    echoed = await _echo(client, "/api/v1/nodes", gw["vera"])
    assert _values(echoed, "impersonate-user") == [] and _values(echoed, "authorization")


@pytest.mark.parametrize(("who", "method", "path", "status", "reason", "text"), [
    (None, "GET", "/api/v1/nodes", 401, "Unauthorized", "bearer token"),
    ("bad", "GET", "/api/v1/nodes", 401, "Unauthorized", "not valid"),
    ("basic", "GET", "/api/v1/nodes", 401, "Unauthorized", "Only 'Authorization: Bearer"),
    ("eve", "GET", "/api/v1/nodes", 403, "Forbidden", 'user "eve" has no role in project alpha'),
    ("vera", "PATCH", "/api/v1/nodes/n1", 403, "Forbidden", 'nodes "n1" is forbidden: shoal: user "vera"'),
    ("vera", "GET", "/api/v1/namespaces/default/secrets", 403, "Forbidden", "cluster_use"),
    ("dave", "DELETE", "/api/v1/namespaces/default", 403, "Forbidden", "cluster_manage"),
])
async def test_refusals_are_kubernetes_status_objects(gw: dict[str, Any], who: str | None, method: str, path: str,
                                                      status: int, reason: str, text: str) -> None:
    client: httpx.AsyncClient = gw["client"]
    headers = {"bad": {"Authorization": "Bearer shoal_nope"}, "basic": {"Authorization": "Basic YTpi"},
               None: {}}.get(who) if who in (None, "bad", "basic") else gw[who]
    r = await client.request(method, f"/clusters/{CLUSTER}{path}", headers=headers)
    assert r.status_code == status
    body = r.json()
    assert (body["kind"], body["apiVersion"], body["status"], body["reason"], body["code"]) == (
        "Status", "v1", "Failure", reason, status)
    assert text in body["message"], body["message"]


async def test_dot_segments_are_refused_before_authorisation_can_be_fooled(gw: dict[str, Any]) -> None:
    client: httpx.AsyncClient = gw["client"]
    # a viewer may list pods but not read secrets; '..' could make the two the same path upstream
    r = await client.get(f"/clusters/{CLUSTER}/api/v1/namespaces/default/pods/%2e%2e/secrets", headers=gw["vera"])
    assert r.status_code == 400 and r.json()["reason"] == "BadRequest"
    assert "'..'" in r.json()["message"]
    zh = await client.get(f"/clusters/{CLUSTER}/api/v1/namespaces/default/pods/%2E/x",
                          headers={**gw["vera"], "Accept-Language": "zh-CN"})
    assert zh.status_code == 400 and "网关不转发" in zh.json()["message"]


async def test_unknown_cluster_bound_token_spdy_and_unreachable(gw: dict[str, Any], ctx: AppContext) -> None:
    client: httpx.AsyncClient = gw["client"]
    r = await client.get("/clusters/BCS-K8S-49999/api/v1/nodes", headers=gw["admin"])
    assert r.status_code == 404 and r.json()["reason"] == "NotFound"
    issued = await client.post(f"/api/v1/clusters/{CLUSTER}/kubeconfig", json={"expires": "1h"}, headers=gw["vera"])
    assert issued.status_code == 201, issued.text
    token = yaml.safe_load(issued.json()["kubeconfig"])["users"][0]["user"]["token"]
    vera_gateway = {"Authorization": f"Bearer {token}"}
    assert (await client.get(f"/clusters/{CLUSTER}/api/v1/nodes", headers=vera_gateway)).status_code == 200
    # an admin's token works everywhere, a kubeconfig's only on its cluster
    other = await client.get("/clusters/BCS-K8S-40001/api/v1/nodes", headers=vera_gateway)
    assert other.status_code == 403 and "only be used for cluster" not in other.text
    assert f"for cluster {CLUSTER}" in other.json()["message"]
    spdy = await client.post(f"/clusters/{CLUSTER}/api/v1/namespaces/d/pods/p/exec", headers={
        **gw["dave"], "Connection": "Upgrade", "Upgrade": "SPDY/3.1"})
    if gw["front"] == "asgi":  # the ASGI path relays websockets only
        assert spdy.status_code == 400 and "websockets" in spdy.json()["message"]
    else:  # the front relays any upgrade; the echo upstream (uvicorn) answers it as a plain request
        assert spdy.status_code == 200 and _values(spdy.json(), "upgrade") == ["SPDY/3.1"]
    async with ctx.db.session() as session:
        cluster = await session.get(Cluster, "BCS-K8S-40001")
        assert cluster is not None
        cluster.credential = ctx.secrets.encrypt(Credential(server=f"http://127.0.0.1:{free_port()}").to_json())
    gw["app"].state.gateway.clusters.forget("BCS-K8S-40001")
    down = await client.get("/clusters/BCS-K8S-40001/api/v1/nodes", headers=gw["admin"])
    assert down.status_code == 503 and down.json()["reason"] == "ServiceUnavailable"


async def test_audit_samples_reads_but_keeps_writes_and_refusals(gw: dict[str, Any], ctx: AppContext) -> None:
    client: httpx.AsyncClient = gw["client"]
    gateway = gw["app"].state.gateway
    gateway.audit.read_share = 0.0
    for _ in range(3):
        await _echo(client, "/api/v1/nodes", gw["dave"])
    await _echo(client, "/api/v1/namespaces/default/configmaps", gw["dave"], method="POST", content=b"{}")
    await client.patch(f"/clusters/{CLUSTER}/api/v1/nodes/n1", headers=gw["vera"], content=b"{}")
    await gateway.audit.flush()
    async with ctx.db.session() as session:
        rows = (await session.scalars(select(AuditEntry).where(AuditEntry.action.like("gateway.%"))
                                      .order_by(AuditEntry.id))).all()
    assert [(r.username, r.action, r.outcome) for r in rows] == [
        ("dave", "gateway.create", "success"), ("vera", "gateway.patch", "denied")]
    write = rows[0]
    assert write.target_id == CLUSTER and write.project_code == "alpha"
    assert write.detail["status"] == 200 and write.detail["resource"] == "configmaps"
    assert write.detail["namespace"] == "default" and write.detail["method"] == "POST"
    assert "{}" not in json.dumps(write.detail) and "Bearer" not in json.dumps(write.detail)


async def test_proxied_requests_are_counted_in_gateway_metrics(gw: dict[str, Any]) -> None:
    client: httpx.AsyncClient = gw["client"]

    def sample(name: str, **labels: str) -> float:
        value = REGISTRY.get_sample_value(name, labels)
        return value or 0.0

    before = (sample("shoal_gateway_requests_total", method="GET", status="200"),
              sample("shoal_gateway_requests_total", method="PATCH", status="403"),
              sample("shoal_gateway_request_duration_seconds_count", method="GET"))
    await _echo(client, "/api/v1/nodes", gw["dave"])
    await client.patch(f"/clusters/{CLUSTER}/api/v1/nodes/n1", headers=gw["vera"], content=b"{}")
    after = (sample("shoal_gateway_requests_total", method="GET", status="200"),
             sample("shoal_gateway_requests_total", method="PATCH", status="403"),
             sample("shoal_gateway_request_duration_seconds_count", method="GET"))
    assert [b - a for a, b in zip(before, after, strict=True)] == [1, 1, 1]


async def test_alike_reads_are_counted_in_one_entry(gw: dict[str, Any], ctx: AppContext) -> None:
    client: httpx.AsyncClient = gw["client"]
    audit = gw["app"].state.gateway.audit
    assert audit.read_share == 1.0 and audit.aggregate_reads
    for _ in range(3):
        await _echo(client, "/api/v1/nodes", gw["dave"])
    await _echo(client, "/api/v1/pods", gw["dave"])
    await audit.flush()
    audit.aggregate_reads = False
    for _ in range(2):
        await _echo(client, "/api/v1/nodes", gw["vera"])
    await audit.flush()
    async with ctx.db.session() as session:
        rows = (await session.scalars(select(AuditEntry).where(AuditEntry.action == "gateway.list")
                                      .order_by(AuditEntry.id))).all()
    assert [(r.username, r.detail["path"], r.detail.get("count")) for r in rows] == [
        ("dave", f"/clusters/{CLUSTER}/api/v1/nodes", 3), ("dave", f"/clusters/{CLUSTER}/api/v1/pods", 1),
        ("vera", f"/clusters/{CLUSTER}/api/v1/nodes", None), ("vera", f"/clusters/{CLUSTER}/api/v1/nodes", None)]
    assert rows[0].detail["duration_ms"] >= 0
    # the batched insert stores times the way the column type reads them back (aware, UTC, comparable)
    assert rows[0].time.tzinfo is not None and abs((utcnow() - rows[0].time).total_seconds()) < 60
    async with ctx.db.session() as session:
        since = await session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "gateway.list", AuditEntry.time >= utcnow() - timedelta(minutes=5)))
    assert since == 4


async def test_kubeconfig_api_and_token_lifecycle(gw: dict[str, Any]) -> None:
    client: httpx.AsyncClient = gw["client"]
    r = await client.post(f"/api/v1/clusters/{CLUSTER}/kubeconfig", json={"expires": "2h", "namespace": "team"},
                          headers=gw["dave"])
    assert r.status_code == 201, r.text
    issued = r.json()
    doc = yaml.safe_load(issued["kubeconfig"])
    assert doc["clusters"][0]["cluster"]["server"] == str(client.base_url.join(f"/clusters/{CLUSTER}"))
    assert doc["contexts"][0]["context"]["namespace"] == "team"
    assert doc["current-context"] == CLUSTER
    too_long = await client.post(f"/api/v1/clusters/{CLUSTER}/kubeconfig", json={"expires": "never"},
                                 headers=gw["dave"])
    assert too_long.status_code == 400 and too_long.json()["code"] == "error.gateway_expiry"
    listed = (await client.get("/api/v1/gateway/tokens", headers=gw["dave"])).json()
    assert [t["id"] for t in listed] == [issued["token_id"]] and listed[0]["cluster_id"] == CLUSTER
    assert (await client.delete(f"/api/v1/gateway/tokens/{issued['token_id']}", headers=gw["vera"])).status_code == 403
    revoked = await client.delete(f"/api/v1/gateway/tokens/{issued['token_id']}", headers=gw["dave"])
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    token = doc["users"][0]["user"]["token"]
    refused = await client.get(f"/clusters/{CLUSTER}/api/v1/nodes", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 401 and "revoked" in refused.json()["message"]


@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", f"/api/v1/clusters/{CLUSTER}/kubeconfig", {}),
    ("GET", "/api/v1/gateway/tokens", None),
    ("DELETE", "/api/v1/gateway/tokens/1", None),
    ("GET", f"/api/v1/clusters/{CLUSTER}/gateway", None),
    ("PUT", f"/api/v1/clusters/{CLUSTER}/gateway", {"impersonate": False}),
])
async def test_api_refuses_anonymous_and_outsiders(gw: dict[str, Any], method: str, path: str,
                                                   body: dict[str, Any] | None) -> None:
    client: httpx.AsyncClient = gw["client"]
    anonymous = await client.request(method, path, json=body)
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "error.unauthenticated"
    if path == "/api/v1/gateway/tokens":
        path += "?user=dave"
    if path.endswith("/tokens/1"):
        made = await client.post(f"/api/v1/clusters/{CLUSTER}/kubeconfig", json={}, headers=gw["dave"])
        path = f"/api/v1/gateway/tokens/{made.json()['token_id']}"
    outsider = await client.request(method, path, json=body, headers=gw["eve"])
    assert outsider.status_code == 403, outsider.text
    assert outsider.headers["content-type"].startswith("application/problem+json")
