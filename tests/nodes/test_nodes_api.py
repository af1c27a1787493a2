"""Node management against kubesim over real HTTPS, checked with the real kubectl as well as Shoal (R16)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest

from kubesim.runner import Simulator
from shoal.clusters.models import ClusterNode
from shoal.context import AppContext
from shoal.store.types import utcnow
from shoal.tasks.worker import Worker
from tests.nodes.conftest import Kubectl, node_table

N = "/api/v1/clusters/{id}/nodes"

PERMISSION_ROUTES = {
    ("GET", "/api/v1/nodes"), ("GET", "/api/v1/nodes/batch"),
    ("POST", "/api/v1/clusters/{cluster_id}/nodes/sync"),
    ("POST", "/api/v1/clusters/{cluster_id}/nodes/cordon"), ("POST", "/api/v1/clusters/{cluster_id}/nodes/uncordon"),
    ("POST", "/api/v1/clusters/{cluster_id}/nodes/drain/preview"),
    ("POST", "/api/v1/clusters/{cluster_id}/nodes/drain"),
    ("POST", "/api/v1/clusters/{cluster_id}/nodes/labels"), ("POST", "/api/v1/clusters/{cluster_id}/nodes/taints"),
    ("GET", "/api/v1/clusters/{cluster_id}/nodes/{node}"), ("DELETE", "/api/v1/clusters/{cluster_id}/nodes/{node}"),
}

W1, W2, W3 = "kubesim-worker-1", "kubesim-worker-2", "kubesim-worker-3"


async def nodes(client: httpx.AsyncClient, headers: dict[str, str], cluster: str, **params: Any) -> dict[str, Any]:
    r = await client.get("/api/v1/nodes", params={"cluster": cluster, **params}, headers=headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def audit_actions(client: httpx.AsyncClient, headers: dict[str, str]) -> list[str]:
    r = await client.get("/api/v1/audit", params={"action": "node.", "limit": 100}, headers=headers)
    assert r.status_code == 200, r.text
    items = r.json()["items"] if isinstance(r.json(), dict) else r.json()
    return [e["action"] for e in items if e["outcome"] == "success"]


async def test_list_search_filter_sort_page(client: httpx.AsyncClient, people: dict[str, dict[str, str]],
                                            cluster: str, ctx: AppContext) -> None:
    vera = people["vera"]
    async with ctx.db.session() as session:  # a node being added (R15) is not in the cluster yet
        session.add(ClusterNode(cluster_id=cluster, name="new-node", status="INITIALIZATION", synced_at=utcnow()))
    page = await nodes(client, vera, cluster, refresh="true")
    assert page["total"] == 5 and page["synced_at"]
    assert [n["name"] for n in (await nodes(client, vera, cluster, status="INITIALIZATION"))["items"]] == ["new-node"]
    page = await nodes(client, vera, cluster, status=["RUNNING", "REMOVABLE"])
    assert page["total"] == 4
    first = page["items"][0]
    assert first["name"] == "kubesim-control-plane" and first["roles"] == ["control-plane"]
    assert first["status"] == "RUNNING" and first["kube_status"] == "Ready"
    assert first["cpu_allocatable"] == 4 and first["pods_limit"] == 110 and first["kernel_version"]
    assert first["taints"] == [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]
    assert first["pods_used"] >= 1 and first["internal_ip"] == "172.18.0.2"
    assert [n["name"] for n in (await nodes(client, vera, cluster, search="worker-2"))["items"]] == [W2]
    assert [n["name"] for n in (await nodes(client, vera, cluster, search="172.18.0.3"))["items"]] == [W1]
    assert (await nodes(client, vera, cluster, role="node"))["total"] == 4  # three workers and new-node
    assert (await nodes(client, vera, cluster, role="control-plane"))["total"] == 1
    assert (await nodes(client, vera, cluster, label="node-role.kubernetes.io/control-plane"))["total"] == 1
    assert (await nodes(client, vera, cluster, label=f"kubernetes.io/hostname={W3}"))["total"] == 1
    assert (await nodes(client, vera, cluster, label="kubernetes.io/hostname=nope"))["total"] == 0
    paged = await nodes(client, vera, cluster, sort="-name", limit=2, offset=2)
    assert [n["name"] for n in paged["items"]] == [W2, W1] and paged["total"] == 5
    everywhere = await client.get("/api/v1/nodes", headers=vera)
    assert everywhere.json()["total"] == 5
    assert (await client.get("/api/v1/nodes", headers=people["eve"])).json()["total"] == 0
    r = await client.get("/api/v1/nodes", params={"cluster": cluster, "sort": "colour"},
                         headers={**vera, "Accept-Language": "en"})
    assert r.status_code == 400 and "cannot be sorted by 'colour'" in r.json()["message"]
    r = await client.get("/api/v1/nodes", params={"cluster": cluster}, headers=people["eve"])
    assert r.status_code == 403


async def test_cordon_batch_shows_scheduling_disabled_in_kubectl(
        client: httpx.AsyncClient, people: dict[str, dict[str, str]], cluster: str, kubectl: Kubectl) -> None:
    mona = people["mona"]
    r = await client.post(N.format(id=cluster) + "/cordon", json={"nodes": [W1, W2]}, headers=mona)
    assert r.status_code == 200, r.text
    assert {n["name"]: n["status"] for n in r.json()} == {W1: "REMOVABLE", W2: "REMOVABLE"}
    assert all(n["kube_status"] == "Ready,SchedulingDisabled" for n in r.json())
    table = node_table(kubectl("get", "nodes"))
    assert table[W1] == table[W2] == "Ready,SchedulingDisabled" and table[W3] == "Ready"
    page = await nodes(client, people["vera"], cluster, status="REMOVABLE")
    assert sorted(n["name"] for n in page["items"]) == [W1, W2]

    r = await client.post(N.format(id=cluster) + "/uncordon", json={"nodes": [W2]}, headers=mona)
    assert r.status_code == 200 and r.json()[0]["status"] == "RUNNING"
    table = node_table(kubectl("get", "nodes"))
    assert table[W1] == "Ready,SchedulingDisabled" and table[W2] == "Ready"
    assert await audit_actions(client, mona) == ["node.uncordon", "node.cordon"]

    r = await client.post(N.format(id=cluster) + "/cordon", json={"nodes": [f"n{i}" for i in range(11)]},
                          headers={**mona, "Accept-Language": "en"})
    assert r.status_code == 400 and "at most 10" in r.json()["message"]
    r = await client.post(N.format(id=cluster) + "/cordon", json={"nodes": ["ghost"]}, headers=mona)
    assert r.status_code == 404


async def test_labels_and_taints_appear_on_the_node(
        client: httpx.AsyncClient, people: dict[str, dict[str, str]], cluster: str, kubectl: Kubectl) -> None:
    mona = people["mona"]
    url = N.format(id=cluster)
    r = await client.post(url + "/labels", json={"nodes": [W1, W2], "labels": {"tier": "web", "example.com/zone": "a"}},
                          headers=mona)
    assert r.status_code == 200, r.text
    r = await client.post(url + "/labels", json={"nodes": [W2], "labels": {"tier": "db"}}, headers=mona)
    assert r.status_code == 200
    shown = json.loads(kubectl("get", "node", W1, "-o", "json"))
    assert shown["metadata"]["labels"]["tier"] == "web" and shown["metadata"]["labels"]["example.com/zone"] == "a"
    assert kubectl("get", "nodes", "-l", "tier=db", "-o", "name").split() == [f"node/{W2}"]

    r = await client.get("/api/v1/nodes/batch", params={"cluster": cluster, "nodes": [W1, W2]}, headers=mona)
    batch = r.json()
    assert batch["labels"]["tier"] == {"value": None, "mixed": True, "values": ["db", "web"], "count": 2}
    assert batch["labels"]["example.com/zone"]["value"] == "a" and not batch["labels"]["example.com/zone"]["mixed"]

    r = await client.post(url + "/labels", json={"nodes": [W1], "labels": {"tier": None}}, headers=mona)
    assert r.status_code == 200 and "tier" not in r.json()[0]["labels"]
    assert "tier" not in json.loads(kubectl("get", "node", W1, "-o", "json"))["metadata"]["labels"]

    r = await client.post(url + "/taints", json={"nodes": [W1, W2], "add": [
        {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}, {"key": "maint", "effect": "NoExecute"}]},
        headers=mona)
    assert r.status_code == 200, r.text
    taints = json.loads(kubectl("get", "node", W2, "-o", "json"))["spec"]["taints"]
    assert {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"} in taints
    assert any(t["key"] == "maint" and t["effect"] == "NoExecute" and t.get("timeAdded") for t in taints)
    r = await client.post(url + "/taints", json={"nodes": [W2], "remove": [{"key": "maint"}], "add": [
        {"key": "dedicated", "value": "cpu", "effect": "NoSchedule"}]}, headers=mona)
    assert r.status_code == 200
    taints = json.loads(kubectl("get", "node", W2, "-o", "json"))["spec"]["taints"]
    assert taints == [{"key": "dedicated", "value": "cpu", "effect": "NoSchedule"}]
    r = await client.get("/api/v1/nodes/batch", params={"cluster": cluster, "nodes": [W1, W2]}, headers=mona)
    assert r.json()["taints"]["dedicated:NoSchedule"]["mixed"] is True
    assert r.json()["taints"]["maint:NoExecute"]["count"] == 1
    assert (await audit_actions(client, mona))[:2] == ["node.taint", "node.taint"]


async def test_invalid_labels_and_taints_refused_before_any_call(
        client: httpx.AsyncClient, people: dict[str, dict[str, str]], cluster: str, sim: Simulator,
        monkeypatch: pytest.MonkeyPatch) -> None:
    mona = {**people["mona"], "Accept-Language": "en"}
    url = N.format(id=cluster)
    sim.cluster().fail_requests(503)  # any call into the cluster would now answer 503
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("/labels", {"labels": {"-bad": "x"}}, "must start and end with a letter or digit"),
        ("/labels", {"labels": {"Example.com/x": "y"}}, "DNS subdomain"),
        ("/labels", {"labels": {"a" * 64: "y"}}, "at most 63 characters"),
        ("/labels", {"labels": {"ok": "has space"}}, "the value 'has space'"),
        ("/labels", {"labels": {"ok": "v" * 64}}, "at most 63 characters"),
        ("/labels", {"labels": {"example.com/": "v"}}, "has no name"),
        ("/taints", {"add": [{"key": "k", "value": "v", "effect": "NoWay"}]}, "'NoWay' is not an effect"),
        ("/taints", {"add": [{"key": "k", "value": "v"}]}, "needs an effect"),
        ("/taints", {"add": [{"key": "k", "value": "a b", "effect": "NoSchedule"}]}, "not a valid label value"),
        ("/labels", {"labels": {}}, "Nothing to change"),
    ]
    for path, body, expected in cases:
        r = await client.post(url + path, json={"nodes": [W1], **body}, headers=mona)
        assert r.status_code == 400, (body, r.text)
        assert expected in r.json()["message"], (body, r.json())
        assert r.json().get("hint") or "Nothing" in expected, body
    zh = await client.post(url + "/taints", json={"nodes": [W1], "add": [{"key": "k", "effect": "Bad"}]},
                           headers={**people["mona"], "Accept-Language": "zh-CN"})
    assert "不是有效的效果" in zh.json()["message"]
    # the records are still listed, saying why they may be old; an explicit refresh fails
    monkeypatch.setenv("SHOAL_NODE_MAX_AGE", "0.001")
    page = await nodes(client, mona, cluster)
    assert page["total"] == 4 and "503" in page["sync_error"]
    r = await client.get("/api/v1/nodes", params={"cluster": cluster, "refresh": "true"}, headers=mona)
    assert r.status_code == 503
    sim.cluster().clear_faults()


async def test_viewer_and_outsider_are_refused_every_change(
        client: httpx.AsyncClient, people: dict[str, dict[str, str]], cluster: str, kubectl: Kubectl) -> None:
    url = N.format(id=cluster)
    changes: list[tuple[str, str, dict[str, Any] | None]] = [
        ("POST", url + "/cordon", {"nodes": [W1]}), ("POST", url + "/uncordon", {"nodes": [W1]}),
        ("POST", url + "/drain/preview", {"nodes": [W1]}), ("POST", url + "/drain", {"nodes": [W1]}),
        ("POST", url + "/labels", {"nodes": [W1], "labels": {"a": "b"}}),
        ("POST", url + "/taints", {"nodes": [W1], "add": [{"key": "a", "effect": "NoSchedule"}]}),
        ("DELETE", url + f"/{W1}?force=true&confirm={W1}", None),
    ]
    reads: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", f"/api/v1/nodes?cluster={cluster}", None), ("GET", url + f"/{W1}", None),
        ("GET", f"/api/v1/nodes/batch?cluster={cluster}&nodes={W1}", None), ("POST", url + "/sync", None)]
    for method, path, body in changes:
        for who, status in (("vera", 403), ("eve", 403)):
            r = await client.request(method, path, json=body, headers=people[who])
            assert r.status_code == status, (who, method, path, r.text)
        r = await client.request(method, path, json=body)
        assert r.status_code == 401, (method, path)
    for method, path, body in reads:
        r = await client.request(method, path, json=body, headers=people["eve"])
        assert r.status_code == 403, (method, path, r.text)
        assert (await client.request(method, path, json=body)).status_code == 401
    assert node_table(kubectl("get", "nodes"))[W1] == "Ready"
    r = await client.get("/api/v1/audit", params={"action": "node.", "outcome": "denied"}, headers=people["admin"])
    assert r.status_code == 200
    for method, path, body in reads[:3]:
        r = await client.request(method, path, json=body, headers=people["vera"])
        assert r.status_code == 200, (method, path, r.text)


async def test_detail_shows_conditions_addresses_pods_events(
        client: httpx.AsyncClient, people: dict[str, dict[str, str]], cluster: str) -> None:
    r = await client.get(N.format(id=cluster) + "/kubesim-control-plane", headers=people["vera"])
    assert r.status_code == 200, r.text
    detail = r.json()
    assert {c["type"] for c in detail["conditions"]} >= {"Ready", "MemoryPressure"}
    assert {"type": "InternalIP", "address": "172.18.0.2"} in detail["addresses"]
    assert detail["capacity"]["pods"] == "110" and detail["node_info"]["kubeletVersion"] == "v1.37.1"
    assert any(p["owner"].startswith("DaemonSet/") for p in detail["pods"])
    assert isinstance(detail["events"], list)
    r = await client.get(N.format(id=cluster) + "/ghost", headers=people["vera"])
    assert r.status_code == 404


async def test_remove_only_when_cordoned_and_drained_or_forced(
        client: httpx.AsyncClient, people: dict[str, dict[str, str]], cluster: str, kubectl: Kubectl,
        sim: Simulator) -> None:
    mona = {**people["mona"], "Accept-Language": "en"}
    url = N.format(id=cluster)
    r = await client.delete(url + f"/{W3}", headers=mona)
    assert r.status_code == 409 and "cordoned no" in r.json()["message"]
    sim.cluster().create("pods", {"metadata": {"name": "solo"}, "spec": {
        "nodeName": W3, "containers": [{"name": "c", "image": "nginx:1.27"}]}}, "default")
    await client.post(url + "/cordon", json={"nodes": [W3]}, headers=mona)
    r = await client.delete(url + f"/{W3}", headers=mona)
    assert r.status_code == 409 and "default/solo" in r.json()["message"]
    sim.cluster().delete("pods", "solo", "default")
    r = await client.delete(url + f"/{W3}", headers=mona)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "REMOVED" and "removed by mona" in r.json()["status_message"]
    assert W3 not in node_table(kubectl("get", "nodes"))
    assert (await nodes(client, mona, cluster))["total"] == 3
    removed = await nodes(client, mona, cluster, status="REMOVED", refresh="true")
    assert [n["name"] for n in removed["items"]] == [W3]

    r = await client.delete(url + f"/{W2}?force=true", headers=mona)
    assert r.status_code == 400 and "type its name" in r.json()["message"]
    r = await client.delete(url + f"/{W2}?force=true&confirm={W2}", headers=mona)
    assert r.status_code == 200 and "(forced)" in r.json()["status_message"]
    assert sorted(node_table(kubectl("get", "nodes"))) == ["kubesim-control-plane", W1]
    assert (await audit_actions(client, mona))[:2] == ["node.remove", "node.remove"]


def _deployment(name: str, node: str, replicas: int, *, empty_dir: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {"nodeSelector": {"kubernetes.io/hostname": node},
                            "containers": [{"name": "c", "image": "nginx:1.27"}]}
    if empty_dir:
        spec["volumes"] = [{"name": "scratch", "emptyDir": {}}]
    return {"metadata": {"name": name}, "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                                                  "template": {"metadata": {"labels": {"app": name}}, "spec": spec}}}


async def _task_logs(client: httpx.AsyncClient, headers: dict[str, str], task: str) -> str:
    r = await client.get(f"/api/v1/tasks/{task}/logs", params={"limit": 500}, headers=headers)
    return "\n".join(line["message"] for line in r.json()["items"])


async def test_drain_evicts_controller_pods_skips_daemonsets_refuses_bare_pods(
        client: httpx.AsyncClient, people: dict[str, dict[str, str]], cluster: str, kubectl: Kubectl,
        sim: Simulator, worker: Worker) -> None:
    mona = {**people["mona"], "Accept-Language": "en"}
    url = N.format(id=cluster)
    vc = sim.cluster()
    vc.create("deployments", _deployment("web", W1, 2), "default", group="apps")
    vc.create("deployments", _deployment("cache", W1, 1, empty_dir=True), "default", group="apps")
    vc.create("pods", {"metadata": {"name": "bare"}, "spec": {
        "nodeName": W1, "containers": [{"name": "c", "image": "nginx:1.27"}]}}, "default")
    before = kubectl("get", "pods", "-A", "-o", "wide", "--field-selector", f"spec.nodeName={W1}")
    assert before.count("web-") == 2 and "bare" in before and "kube-proxy" in before

    r = await client.post(url + "/drain/preview", json={"nodes": [W1]}, headers=mona)
    assert r.status_code == 200, r.text
    preview = r.json()
    assert preview["ok"] is False
    pods = {p["name"].split("-")[0]: p for p in preview["nodes"][0]["pods"]}
    assert pods["kube"]["action"] == "skip" and "DaemonSet" in pods["kube"]["reason_text"]
    assert pods["bare"]["action"] == "refuse" and "no controller" in pods["bare"]["reason_text"]
    assert pods["cache"]["action"] == "refuse" and "emptyDir" in pods["cache"]["reason_text"]
    assert pods["web"]["action"] == "evict"
    r = await client.post(url + "/drain", json={"nodes": [W1]}, headers=mona)
    assert r.status_code == 409, r.text
    assert "default/bare" in r.json()["message"] and "emptyDir" in r.json()["message"]
    assert node_table(kubectl("get", "nodes"))[W1] == "Ready"  # refused before anything changed

    r = await client.post(url + "/drain", json={"nodes": [W1], "force": True, "delete_emptydir_data": True,
                                                "timeout_seconds": 30}, headers=mona)
    assert r.status_code == 202, r.text
    task = r.json()["task"]
    assert task["task_type"] == "shoal-DrainNodes" and [s["name"] for s in task["steps"]] == [
        "cordonNodesTask", "evictPodsTask", "waitPodsGoneTask"]
    again = await client.post(url + "/drain", json={"nodes": [W1, W2], "force": True, "delete_emptydir_data": True},
                              headers=mona)
    assert again.status_code == 409 and f"already running (task {task['id']})" in again.json()["message"]
    await worker.drain([task["id"]], within=60)
    r = await client.get(f"/api/v1/tasks/{task['id']}", headers=people["vera"])
    assert r.json()["status"] == "SUCCESS", r.json()
    logs = await _task_logs(client, mona, task["id"])
    assert "cordoned" in logs and "default/bare: evicted" in logs and "managed by a DaemonSet" in logs
    assert node_table(kubectl("get", "nodes"))[W1] == "Ready,SchedulingDisabled"
    after = kubectl("get", "pods", "-A", "--field-selector", f"spec.nodeName={W1}", "-o", "name")
    assert sorted(after.split()) == [line for line in after.split() if "kube-proxy" in line]
    pending = kubectl("get", "pods", "-l", "app=web", "-o", "jsonpath={.items[*].status.phase}")
    assert pending.split() == ["Pending", "Pending"]  # recreated by the ReplicaSet, nowhere to go
    page = await nodes(client, mona, cluster, search="worker-1")
    assert "drained by mona" in page["items"][0]["status_message"]
    assert "node.drain" in await audit_actions(client, mona)


async def test_drain_waits_while_a_budget_blocks_then_fails_naming_it(
        client: httpx.AsyncClient, people: dict[str, dict[str, str]], cluster: str, kubectl: Kubectl,
        sim: Simulator, worker: Worker) -> None:
    mona = people["mona"]
    url = N.format(id=cluster)
    vc = sim.cluster()
    vc.create("deployments", _deployment("db", W2, 1), "default", group="apps")
    vc.create("poddisruptionbudgets", {"metadata": {"name": "db-pdb"}, "spec": {
        "minAvailable": 1, "selector": {"matchLabels": {"app": "db"}}}}, "default", group="policy")
    r = await client.post(url + "/drain", json={"nodes": [W2], "timeout_seconds": 2.5}, headers=mona)
    assert r.status_code == 202, r.text
    task = r.json()["task"]["id"]
    await worker.drain([task], within=60)
    body = (await client.get(f"/api/v1/tasks/{task}", headers=mona)).json()
    assert body["status"] == "FAILURE"
    assert "PodDisruptionBudget default/db-pdb" in body["message"] and "timeout" in body["message"]
    logs = await _task_logs(client, mona, task)
    assert "eviction refused by PodDisruptionBudget default/db-pdb" in logs
    assert "db-" in kubectl("get", "pods", "--field-selector", f"spec.nodeName={W2}", "-o", "name")
    assert node_table(kubectl("get", "nodes"))[W2] == "Ready,SchedulingDisabled"


async def test_drain_waits_for_the_budget_and_succeeds_once_it_allows(
        client: httpx.AsyncClient, people: dict[str, dict[str, str]], cluster: str, kubectl: Kubectl,
        sim: Simulator, worker: Worker) -> None:
    mona = people["mona"]
    url = N.format(id=cluster)
    vc = sim.cluster()
    vc.create("deployments", _deployment("db", W2, 1), "default", group="apps")
    vc.create("poddisruptionbudgets", {"metadata": {"name": "db-pdb"}, "spec": {
        "minAvailable": 1, "selector": {"matchLabels": {"app": "db"}}}}, "default", group="policy")
    r = await client.post(url + "/drain", json={"nodes": [W2], "timeout_seconds": 60}, headers=mona)
    task = r.json()["task"]["id"]

    async def lift_budget() -> None:
        for _ in range(600):  # poll the live log until the step says it is waiting
            if "eviction refused" in await _task_logs(client, mona, task):
                break
            await asyncio.sleep(0.1)
        vc.delete("poddisruptionbudgets", "db-pdb", "default", group="policy")

    await asyncio.gather(worker.drain([task], within=60), lift_budget())
    body = (await client.get(f"/api/v1/tasks/{task}", headers=mona)).json()
    assert body["status"] == "SUCCESS", body
    assert "db-" not in kubectl("get", "pods", "--field-selector", f"spec.nodeName={W2}", "-o", "name")


async def test_drain_waits_until_evicted_pods_are_gone_and_honours_grace_periods(
        client: httpx.AsyncClient, people: dict[str, dict[str, str]], cluster: str, sim: Simulator, worker: Worker,
        kubectl: Kubectl) -> None:
    """Evicted pods stay Terminating for a while (kubesim's termination delay, capped by the grace period)."""
    mona = people["mona"]
    vc = sim.cluster()
    vc.set_termination_delay(2.0)
    vc.create("deployments", _deployment("slow", W3, 1), "default", group="apps")
    r = await client.post(N.format(id=cluster) + "/drain", json={"nodes": [W3], "timeout_seconds": 30}, headers=mona)
    task = r.json()["task"]["id"]
    started = time.monotonic()
    await worker.drain([task], within=60)
    body = (await client.get(f"/api/v1/tasks/{task}", headers=mona)).json()
    assert body["status"] == "SUCCESS", body
    assert time.monotonic() - started >= 1.5
    logs = await _task_logs(client, mona, task)
    assert "waiting for 1 pods to terminate" in logs and ": gone" in logs
    assert "slow-" not in kubectl("get", "pods", "--field-selector", f"spec.nodeName={W3}", "-o", "name")

    vc.set_termination_delay(60.0)  # the pod's own grace period (30 s) would keep it long; the drain asks for 1 s
    vc.create("deployments", _deployment("fast", W2, 1), "default", group="apps")
    r = await client.post(N.format(id=cluster) + "/drain", json={"nodes": [W2], "timeout_seconds": 30,
                                                                "grace_period": 1}, headers=mona)
    task = r.json()["task"]["id"]
    started = time.monotonic()
    await worker.drain([task], within=60)
    assert (await client.get(f"/api/v1/tasks/{task}", headers=mona)).json()["status"] == "SUCCESS"
    assert time.monotonic() - started < 20
    assert "fast-" not in kubectl("get", "pods", "--field-selector", f"spec.nodeName={W2}", "-o", "name")
