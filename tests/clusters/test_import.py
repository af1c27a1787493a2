"""Import by kubeconfig against kubesim over real HTTPS (R17, R19), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import text

from kubesim.certs import CertificateAuthority
from kubesim.runner import Simulator
from shoal.clusters.models import Environment
from shoal.clusters.service import _allocate_id
from shoal.context import AppContext
from shoal.tasks.worker import Worker
from tests.support.server import free_port

IMPORT = {"project": "alpha", "name": "kubesim", "environment": "prod", "description": "test cluster",
          "labels": {"team": "infra"}}


def edit(kubeconfig: str, change: Any) -> str:
    doc = yaml.safe_load(kubeconfig)
    change(doc)
    return yaml.safe_dump(doc)


async def check(client: httpx.AsyncClient, headers: dict[str, str], kubeconfig: str,
                lang: str = "en") -> dict[str, Any]:
    r = await client.post("/api/v1/clusters/check", json={"project": "alpha", "kubeconfig": kubeconfig},
                          headers={**headers, "Accept-Language": lang})
    assert r.status_code == 200, r.text
    return dict(r.json())


def failed(report: dict[str, Any]) -> dict[str, Any]:
    assert report["ok"] is False
    items = [c for c in report["checks"] if not c["passed"] and not c["skipped"]]
    assert len(items) == 1, report
    return dict(items[0])


async def imported(client: httpx.AsyncClient, headers: dict[str, str], kubeconfig: str,
                   **extra: Any) -> httpx.Response:
    return await client.post("/api/v1/clusters", json={**IMPORT, **extra, "kubeconfig": kubeconfig},
                             headers={**headers, "Accept-Language": "en"})


async def no_clusters(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    r = await client.get("/api/v1/clusters?include_deleted=true", headers=headers)
    assert r.json()["total"] == 0, r.text


async def test_admin_kubeconfig_passes_and_imports_to_running(
        client: httpx.AsyncClient, people: dict[str, dict[str, str]], shared_sim: Simulator, worker: Worker,
        ctx: AppContext, settings: Any) -> None:
    mona = people["mona"]
    kubeconfig = shared_sim.kubeconfig("admin")
    report = await check(client, mona, kubeconfig)
    assert report["ok"] is True, report
    assert [c["name"] for c in report["checks"]] == ["parse", "dns", "tcp", "tls", "version", "authentication",
                                                     "cluster_admin", "duplicate", "certificate"]
    assert report["version"] == "v1.37.1" and report["user"] == "kubesim-admin"
    assert report["kube_system_uid"] == shared_sim.cluster().kube_system_uid
    zh = await check(client, mona, kubeconfig, lang="zh-CN")
    assert zh["checks"][6]["title"] == "cluster-admin 权限" and "拥有 cluster-admin" in zh["checks"][6]["message"]

    r = await imported(client, mona, kubeconfig)
    assert r.status_code == 201, r.text
    cluster = r.json()
    assert cluster["id"] == "BCS-K8S-40000" and cluster["status"] == "INITIALIZATION"
    assert cluster["labels"] == {"team": "infra"} and cluster["import_task_id"]
    await worker.drain([cluster["import_task_id"]], within=60)

    r = await client.get(f"/api/v1/clusters/{cluster['id']}", headers=people["vera"])
    detail = r.json()
    assert detail["status"] == "RUNNING", detail
    assert (detail["version"], detail["master_count"], detail["node_count"]) == ("v1.37.1", 1, 2)
    assert detail["can_manage"] is False and detail["credential_user"] == "kubesim-admin"
    nodes = (await client.get(f"/api/v1/clusters/{cluster['id']}/nodes", headers=people["vera"])).json()
    assert [(n["name"], n["role"], n["ready"]) for n in nodes] == [
        ("kubesim-control-plane", "master", True), ("kubesim-worker-1", "node", True),
        ("kubesim-worker-2", "node", True)]
    task = (await client.get(f"/api/v1/tasks/{cluster['import_task_id']}", headers=mona)).json()
    assert task["status"] == "SUCCESS" and task["task_type"] == "blueking-ImportCluster"
    logs = (await client.get(f"/api/v1/tasks/{cluster['import_task_id']}/logs", headers=mona)).json()
    assert any("synced 3 nodes: 1 masters, 2 nodes" in line["message"] for line in logs["items"])

    listed = (await client.get("/api/v1/clusters?project=alpha", headers=people["vera"])).json()
    assert [c["id"] for c in listed["items"]] == [cluster["id"]]
    assert (await client.get("/api/v1/clusters", headers=people["eve"])).json()["total"] == 0

    # the credential is encrypted at rest: the token is nowhere in the raw database
    token = shared_sim.cluster().admin_token
    async with ctx.db.engine.connect() as conn:
        stored = (await conn.execute(text("SELECT credential FROM clusters"))).scalar_one()
        assert token not in stored and "BEGIN CERTIFICATE" not in stored
    if ctx.db.is_sqlite:
        raw = b"".join(p.read_bytes() for p in Path(settings.effective_database_url.split("///", 1)[1]).parent
                       .glob("shoal.db*"))
        assert token.encode() not in raw


async def test_viewer_kubeconfig_fails_naming_cluster_admin(
        client: httpx.AsyncClient, people: dict[str, dict[str, str]], shared_sim: Simulator) -> None:
    item = failed(await check(client, people["mona"], shared_sim.kubeconfig("viewer")))
    assert item["name"] == "cluster_admin"
    assert "kubesim-viewer" in item["message"] and "lacks cluster-admin" in item["message"]
    assert "cluster-admin" in item["hint"]
    r = await imported(client, people["mona"], shared_sim.kubeconfig("viewer"))
    assert r.status_code == 422 and r.json()["code"] == "cluster_check_failed"
    assert "lacks cluster-admin" in r.json()["message"]
    await no_clusters(client, people["admin"])


def _wrong_ca(doc: dict[str, Any]) -> None:
    other = CertificateAuthority()
    doc["clusters"][0]["cluster"]["certificate-authority-data"] = base64.b64encode(other.cert_pem).decode()


def _exec_user(doc: dict[str, Any]) -> None:
    doc["users"][0]["user"] = {"exec": {"apiVersion": "client.authentication.k8s.io/v1",
                                        "command": "aws", "args": ["eks", "get-token"]}}


def _closed_port(doc: dict[str, Any]) -> None:
    doc["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{free_port()}"


def _no_such_host(doc: dict[str, Any]) -> None:
    doc["clusters"][0]["cluster"]["server"] = "https://no-such-host.invalid:6443"


def _bad_token(doc: dict[str, Any]) -> None:
    doc["users"][0]["user"]["token"] = "not-a-token-kubesim-knows"


def _file_ref(doc: dict[str, Any]) -> None:
    doc["clusters"][0]["cluster"].pop("certificate-authority-data")
    doc["clusters"][0]["cluster"]["certificate-authority"] = "/home/me/.minikube/ca.crt"


FAILURES = [
    ("unreachable", _closed_port, "tcp", "Could not connect"),
    ("no-such-host", _no_such_host, "dns", "The name no-such-host.invalid does not resolve"),
    ("wrong-ca", _wrong_ca, "tls", "not signed by the CA in the kubeconfig"),
    ("bad-token", _bad_token, "authentication", "rejected the token of user kubesim-user (HTTP 401)"),
    ("exec-user", _exec_user, "parse", "gets its token by running a program ('aws')"),
    ("file-reference", _file_ref, "parse", "'certificate-authority' points at a file on your machine"),
]


@pytest.mark.parametrize(("change", "step", "says"), [f[1:] for f in FAILURES], ids=[f[0] for f in FAILURES])
async def test_bad_kubeconfigs_fail_with_their_own_message(
        client: httpx.AsyncClient, people: dict[str, dict[str, str]], shared_sim: Simulator, change: Any,
        step: str, says: str) -> None:
    kubeconfig = edit(shared_sim.kubeconfig("admin"), change)
    item = failed(await check(client, people["mona"], kubeconfig))
    assert item["name"] == step and says in item["message"], item
    assert item["hint"]
    r = await imported(client, people["mona"], kubeconfig)
    assert r.status_code == 422 and says in r.json()["message"], r.text
    await no_clusters(client, people["admin"])


async def test_garbage_yaml_names_the_line(client: httpx.AsyncClient, people: dict[str, dict[str, str]]) -> None:
    garbage = "apiVersion: v1\nkind: Config\nclusters:\n- name: x\n  cluster: {server: [\n"
    item = failed(await check(client, people["mona"], garbage))
    assert item["name"] == "parse" and "not valid YAML" in item["message"] and "line 6" in item["message"], item
    zh = failed(await check(client, people["mona"], garbage, lang="zh-CN"))
    assert "第 6 行" in zh["message"]
    assert failed(await check(client, people["mona"], "just some words"))["message"].startswith(
        "This is YAML but not a kubeconfig")
    r = await imported(client, people["mona"], garbage)
    assert r.status_code == 422
    await no_clusters(client, people["admin"])


async def test_expired_token_fails(client: httpx.AsyncClient, people: dict[str, dict[str, str]],
                                   sim: Simulator) -> None:
    sim.cluster().expire_token(sim.cluster().admin_token)
    item = failed(await check(client, people["mona"], sim.kubeconfig("admin")))
    assert item["name"] == "authentication" and "wrong, expired or revoked" in item["message"]
    assert (await imported(client, people["mona"], sim.kubeconfig("admin"))).status_code == 422
    await no_clusters(client, people["admin"])


async def test_insecure_skip_verify_passes_with_a_warning(
        client: httpx.AsyncClient, people: dict[str, dict[str, str]], shared_sim: Simulator) -> None:
    def insecure(doc: dict[str, Any]) -> None:
        cluster = doc["clusters"][0]["cluster"]
        cluster.pop("certificate-authority-data")
        cluster["insecure-skip-tls-verify"] = True

    report = await check(client, people["mona"], edit(shared_sim.kubeconfig("admin"), insecure))
    assert report["ok"] is True
    tls = next(c for c in report["checks"] if c["name"] == "tls")
    assert "not verified" in tls["message"] and "insecure-skip-tls-verify" in tls["warning"]


async def test_second_import_of_the_same_cluster_is_refused(
        client: httpx.AsyncClient, people: dict[str, dict[str, str]], shared_sim: Simulator) -> None:
    first = await imported(client, people["mona"], shared_sim.kubeconfig("admin"))
    assert first.status_code == 201, first.text
    # the same cluster through another identity (client certificate) is still the same cluster
    item = failed(await check(client, people["mona"], shared_sim.kubeconfig("admin-cert")))
    assert item["name"] == "duplicate"
    assert "already registered as BCS-K8S-40000 (kubesim) in project alpha" in item["message"]
    second = await imported(client, people["mona"], shared_sim.kubeconfig("admin-cert"), name="again")
    assert second.status_code == 422 and "already registered as BCS-K8S-40000" in second.json()["message"]
    listed = (await client.get("/api/v1/clusters", headers=people["admin"])).json()
    assert [c["id"] for c in listed["items"]] == ["BCS-K8S-40000"]


async def test_ids_follow_the_environment(client: httpx.AsyncClient, people: dict[str, dict[str, str]],
                                          ctx: AppContext) -> None:
    with Simulator(nodes=1, clusters=["a", "b", "c"], seed_workloads=False) as many:
        ids = []
        for name, env in (("a", "stag"), ("b", "debug"), ("c", "stag")):
            r = await imported(client, people["mona"], many.kubeconfig("admin", name), name=name, environment=env)
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
    assert ids == ["BCS-K8S-15001", "BCS-K8S-25001", "BCS-K8S-15002"]
    r = await imported(client, people["mona"], "x", name="bad-env", environment="qa")
    assert r.status_code == 400 and r.json()["field"] == "environment"


async def test_concurrent_id_allocation_never_repeats(ctx: AppContext) -> None:
    async def take() -> str:
        async with ctx.db.session() as session:
            return await _allocate_id(session, Environment.DEBUG)

    ids = await asyncio.gather(*(take() for _ in range(20)))
    assert sorted(ids) == [f"BCS-K8S-{n}" for n in range(25001, 25021)]


async def test_import_needs_an_enabled_project_and_a_free_name(
        client: httpx.AsyncClient, people: dict[str, dict[str, str]], shared_sim: Simulator,
        admin_headers: dict[str, str]) -> None:
    await client.post("/api/v1/projects", json={"code": "beta", "name": "Beta"}, headers=admin_headers)
    r = await imported(client, admin_headers, shared_sim.kubeconfig("admin"), project="beta")
    assert r.status_code == 409 and "has not enabled the container service" in r.json()["message"]
    assert (await imported(client, people["mona"], shared_sim.kubeconfig("admin"))).status_code == 201
    with Simulator(nodes=1, seed_workloads=False) as other:
        r = await imported(client, people["mona"], other.kubeconfig("admin"))
    assert r.status_code == 409 and "already has a cluster named 'kubesim'" in r.json()["message"]
