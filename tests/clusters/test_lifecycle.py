"""After import: overview (R12), health flips RUNNING <-> CONNECT-FAILURE, credential rotation, delete."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import update

from kubesim.runner import Simulator
from shoal.clusters.health import HealthLoop
from shoal.clusters.models import Cluster
from shoal.clusters.overview import Overview, _metrics
from shoal.clusters.settings import ClusterSettings
from shoal.context import AppContext
from shoal.kube import Credential, connect, parse_kubeconfig
from shoal.store.types import utcnow
from shoal.tasks.worker import Worker


async def import_running(client: httpx.AsyncClient, headers: dict[str, str], sim: Simulator, worker: Worker,
                         name: str = "kubesim", cluster: str | None = None) -> dict[str, Any]:
    r = await client.post("/api/v1/clusters", headers=headers, json={
        "project": "alpha", "name": name, "kubeconfig": sim.kubeconfig("admin", cluster)})
    assert r.status_code == 201, r.text
    await worker.drain([r.json()["import_task_id"]], within=60)
    detail = (await client.get(f"/api/v1/clusters/{r.json()['id']}", headers=headers)).json()
    assert detail["status"] == "RUNNING", detail
    return dict(detail)


async def test_overview(client: httpx.AsyncClient, people: dict[str, dict[str, str]], shared_sim: Simulator,
                        worker: Worker) -> None:
    cluster = await import_running(client, people["mona"], shared_sim, worker)
    r = await client.get(f"/api/v1/clusters/{cluster['id']}/overview",
                         headers={**people["vera"], "Accept-Language": "en"})
    assert r.status_code == 200, r.text
    o = r.json()
    assert o["version"] == "v1.37.1" and o["status"] == "RUNNING"
    assert o["masters"] == {"total": 1, "ready": 1, "not_ready": 0, "scheduling_disabled": 0}
    assert o["nodes"]["total"] == 2 and o["nodes"]["ready"] == 2
    assert o["cpu"]["capacity"] == 12 and o["cpu"]["allocatable"] == 12
    assert o["pods"]["allocatable"] == 330 and o["pods"]["total"] >= 3
    assert o["pods"]["running"] == o["pods"]["total"]
    assert o["namespaces"] >= 4
    assert o["metrics_available"] is True and 0 < o["cpu"]["usage"] < 12 and o["memory"]["usage_share"] > 0
    assert o["notes"] == [] and o["only_masters"] is False


async def test_overview_says_when_metrics_are_not_served() -> None:
    async def not_found(request: web.Request) -> web.Response:
        return web.json_response({"kind": "Status", "reason": "NotFound", "message": "not found"}, status=404)

    app = web.Application()
    app.router.add_get("/apis/metrics.k8s.io/v1beta1/nodes", not_found)
    overview = Overview()
    async with TestServer(app, host="127.0.0.1") as server, \
            connect(Credential(server=str(server.make_url("")).rstrip("/"), token="t")) as kube:
        await _metrics(kube, overview)
    assert overview.metrics_available is False and overview.cpu.usage is None and overview.cpu.usage_share is None
    assert overview.notes == ["cluster.metrics_unavailable"]


async def test_only_masters_cannot_run_workloads(client: httpx.AsyncClient, people: dict[str, dict[str, str]],
                                                 worker: Worker) -> None:
    with Simulator(nodes=1, seed_workloads=False) as lonely:
        cluster = await import_running(client, people["mona"], lonely, worker)
        lonely.cluster().set_node_ready("kubesim-control-plane", False)
        o = (await client.get(f"/api/v1/clusters/{cluster['id']}/overview",
                              headers={**people["mona"], "Accept-Language": "en"})).json()
    assert cluster["master_count"] == 1 and cluster["node_count"] == 0
    assert o["only_masters"] is True and o["masters"]["not_ready"] == 1
    assert "cannot run workloads yet" in o["notes"][0]


async def _status(ctx: AppContext, cluster_id: str) -> Cluster:
    async with ctx.db.session() as session:
        cluster = await session.get(Cluster, cluster_id)
        assert cluster is not None
        return cluster


async def _wait_status(ctx: AppContext, cluster_id: str, status: str, within: float) -> float:
    started = time.monotonic()
    while (await _status(ctx, cluster_id)).status != status:
        if time.monotonic() - started > within:
            raise AssertionError(f"{cluster_id} not {status} within {within}s")
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def test_health_flips_within_two_intervals_and_back(
        client: httpx.AsyncClient, people: dict[str, dict[str, str]], sim: Simulator, worker: Worker,
        ctx: AppContext) -> None:
    cluster = await import_running(client, people["mona"], sim, worker)
    interval = 1.0
    settings = ClusterSettings(health_interval=interval, health_timeout=0.3, health_jitter=0.2,
                               health_max_backoff=interval)
    async with ctx.db.session() as session:
        await session.execute(update(Cluster).values(health_next_at=utcnow()))
    stop = asyncio.Event()
    loop = asyncio.create_task(HealthLoop(ctx, settings).run(stop))
    try:
        await asyncio.sleep(0.3)
        assert (await _status(ctx, cluster["id"])).status == "RUNNING"
        sim.cluster().set_unreachable(3600)
        took = await _wait_status(ctx, cluster["id"], "CONNECT-FAILURE", within=2 * interval)
        failing = await _status(ctx, cluster["id"])
        assert "did not answer within 0.3 s" in failing.health_error and failing.health_failing_since is not None
        shown = (await client.get(f"/api/v1/clusters/{cluster['id']}", headers=people["vera"])).json()
        assert shown["status"] == "CONNECT-FAILURE" and shown["health_error"]
        sim.cluster().clear_faults()
        back = await _wait_status(ctx, cluster["id"], "RUNNING", within=2 * interval)
        healthy = await _status(ctx, cluster["id"])
        assert healthy.health_error == "" and healthy.health_failing_since is None
        assert took < 2 * interval and back < 2 * interval
    finally:
        stop.set()
        await asyncio.wait_for(loop, timeout=5)


def test_backoff_grows_for_failing_clusters(ctx: AppContext) -> None:
    loop = HealthLoop(ctx, ClusterSettings(health_interval=10, health_jitter=0, health_max_backoff=60))
    assert [loop.next_delay(f) for f in range(6)] == [10, 10, 20, 40, 60, 60]


async def test_rotate_credential_only_for_the_same_cluster(
        client: httpx.AsyncClient, people: dict[str, dict[str, str]], shared_sim: Simulator, worker: Worker) -> None:
    cluster = await import_running(client, people["mona"], shared_sim, worker)
    path = f"/api/v1/clusters/{cluster['id']}/credential"
    r = await client.put(path, json={"kubeconfig": shared_sim.kubeconfig("admin-cert")},
                         headers={**people["mona"], "Accept-Language": "en"})
    assert r.status_code == 200, r.text
    assert r.json()["check"]["ok"] is True
    assert [c["name"] for c in r.json()["check"]["checks"]][-2:] == ["same_cluster", "certificate"]
    with Simulator(nodes=1, seed_workloads=False) as other:
        r = await client.put(path, json={"kubeconfig": other.kubeconfig("admin")},
                             headers={**people["mona"], "Accept-Language": "en"})
    assert r.status_code == 422 and "for another cluster" in r.json()["message"]
    r = await client.put(path, json={"kubeconfig": shared_sim.kubeconfig("viewer")}, headers=people["mona"])
    assert r.status_code == 422
    assert (await client.get(f"/api/v1/clusters/{cluster['id']}/overview", headers=people["mona"])).status_code == 200


async def test_delete_needs_confirmation_then_forgets_the_cluster(
        client: httpx.AsyncClient, people: dict[str, dict[str, str]], shared_sim: Simulator, worker: Worker,
        admin_headers: dict[str, str]) -> None:
    cluster = await import_running(client, people["mona"], shared_sim, worker)
    cid = cluster["id"]
    r = await client.delete(f"/api/v1/clusters/{cid}", headers={**people["mona"], "Accept-Language": "en"})
    assert r.status_code == 400 and r.json()["field"] == "confirm"
    r = await client.delete(f"/api/v1/clusters/{cid}?confirm={cid}",
                            headers={**people["mona"], "Accept-Language": "en"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "DELETED" and "Nothing inside the cluster was changed" in r.json()["note"]
    assert (await client.get("/api/v1/clusters", headers=people["mona"])).json()["total"] == 0
    assert (await client.get(f"/api/v1/clusters/{cid}/nodes", headers=people["mona"])).json() == []
    assert (await client.get(f"/api/v1/clusters/{cid}/overview", headers=people["mona"])).status_code == 409
    # the project can be rebound now, and the same cluster imported again under a new id
    again = await client.post("/api/v1/clusters", headers=people["mona"], json={
        "project": "alpha", "name": "kubesim", "kubeconfig": shared_sim.kubeconfig("admin")})
    assert again.status_code == 201 and again.json()["id"] == "BCS-K8S-40001"


async def test_rebinding_a_project_with_clusters_is_refused(
        client: httpx.AsyncClient, people: dict[str, dict[str, str]], shared_sim: Simulator,
        admin_headers: dict[str, str]) -> None:
    r = await client.post("/api/v1/clusters", headers=people["mona"], json={
        "project": "alpha", "name": "kubesim", "kubeconfig": shared_sim.kubeconfig("admin")})
    assert r.status_code == 201
    await client.post("/api/v1/businesses", json={"id": 200, "name": "Other", "maintainers": ["admin"]},
                      headers=admin_headers)
    r = await client.post("/api/v1/projects/alpha/enable", json={"business_id": 200}, headers=admin_headers)
    assert r.status_code == 409, r.text


async def test_import_failure_is_recorded(client: httpx.AsyncClient, people: dict[str, dict[str, str]],
                                          sim: Simulator, worker: Worker, ctx: AppContext) -> None:
    r = await client.post("/api/v1/clusters", headers=people["mona"], json={
        "project": "alpha", "name": "kubesim", "kubeconfig": sim.kubeconfig("admin")})
    assert r.status_code == 201
    sim.cluster().expire_token(sim.cluster().admin_token)  # the credential dies between check and task
    await worker.drain([r.json()["import_task_id"]], within=60)
    detail = (await client.get(f"/api/v1/clusters/{r.json()['id']}",
                               headers=people["mona"])).json()
    assert detail["status"] == "IMPORT-FAILURE" and "HTTP 401" in detail["status_message"]


async def test_two_replicas_share_a_sweep_without_probing_twice(ctx: AppContext, shared_sim: Simulator) -> None:
    """Two health loops (as on two server replicas) claim disjoint batches: every cluster is probed once."""
    credential = ctx.secrets.encrypt(parse_kubeconfig(shared_sim.kubeconfig("admin")).credential.to_json())
    now = utcnow()
    async with ctx.db.session() as session:
        session.add_all(Cluster(
            id=f"BCS-K8S-{15001 + i}", project_code="alpha", name=f"c{i}", environment="stag",
            kube_system_uid=f"uid-{i}", status="RUNNING", credential=credential, health_next_at=now,
            created_at=now, updated_at=now) for i in range(40))
    settings = ClusterSettings(health_batch=7, health_interval=3600)
    first, second = HealthLoop(ctx, settings), HealthLoop(ctx, settings)

    async def sweep(loop: HealthLoop) -> int:
        probed = 0
        while (stats := await loop.sweep()).claimed:
            probed += stats.claimed
        return probed

    counts = await asyncio.gather(sweep(first), sweep(second))
    assert sum(counts) == 40, counts  # nobody probed twice (a replica that loses every race just stops)
