"""The import task ``blueking-ImportCluster``: sync the cluster's facts and nodes, then RUNNING.

Who uses it: ``clusters.service.import_cluster`` creates the task in the
transaction that registers the cluster; a worker runs the steps; the engine
calls :func:`on_finish` in the transaction that ends the task, so the cluster's
status (RUNNING or IMPORT-FAILURE with the reason) changes exactly when the
task ends. Both steps are idempotent: they read the cluster and overwrite what
Shoal stores about it (version, nodes and their counts) in their own
transaction, so the hook only flips the status.

Masters are nodes labelled ``node-role.kubernetes.io/control-plane`` or
``node-role.kubernetes.io/master``.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shoal.clusters.models import Cluster, ClusterNode, ClusterStatus
from shoal.clusters.settings import ClusterSettings
from shoal.core.errors import ClusterUnreachable, ShoalError
from shoal.core.security import SecretBox
from shoal.kube import JSON, AddressRefused, Credential, connect, parse_cpu, parse_quantity
from shoal.store.types import utcnow
from shoal.tasks.models import Task, TaskStatus
from shoal.tasks.registry import REGISTRY, PermanentError, StepContext, TemporaryError

__all__ = ["MASTER_LABELS", "is_master", "node_facts", "on_finish"]

MASTER_LABELS = ("node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master")


def is_master(node: JSON) -> bool:
    labels = (node.get("metadata") or {}).get("labels") or {}
    return any(label in labels for label in MASTER_LABELS)


def _ready(node: JSON) -> bool:
    for condition in (node.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return bool(condition.get("status") == "True")
    return False


def node_facts(node: JSON) -> dict[str, Any]:
    """What Shoal keeps of a node: role, address, readiness, versions, capacity."""
    meta, spec, status = node.get("metadata") or {}, node.get("spec") or {}, node.get("status") or {}
    info = status.get("nodeInfo") or {}
    capacity = status.get("capacity") or {}
    address = next((a.get("address", "") for a in status.get("addresses") or [] if a.get("type") == "InternalIP"), "")
    return {
        "name": meta.get("name", ""), "role": "master" if is_master(node) else "node", "internal_ip": address,
        "ready": _ready(node), "unschedulable": bool(spec.get("unschedulable")),
        "kubelet_version": info.get("kubeletVersion", ""), "os_image": info.get("osImage", ""),
        "container_runtime": info.get("containerRuntimeVersion", ""),
        "cpu_capacity": parse_cpu(capacity.get("cpu")), "memory_capacity": parse_quantity(capacity.get("memory")),
        "labels": dict(meta.get("labels") or {}),
    }


async def _credential(ctx: StepContext) -> tuple[Cluster, Credential]:
    if ctx.app is None or ctx.cluster_id is None:
        raise PermanentError("the import task needs the application context and a cluster id")
    secrets: SecretBox = ctx.app.secrets
    async with ctx.db.session() as session:
        cluster = await session.get(Cluster, ctx.cluster_id)
        if cluster is None:
            raise PermanentError(f"cluster {ctx.cluster_id} no longer exists")
        from shoal.clusters.service import credential_of

        try:
            return cluster, credential_of(cluster, secrets)
        except ShoalError as e:
            raise PermanentError(str(e)) from e


def _step_error(e: ShoalError) -> Exception:
    """Network trouble may pass (retry); a rejected credential will not until someone replaces it, nor an
    address the cluster address policy refuses until an administrator changes the policy."""
    if isinstance(e, AddressRefused):
        return PermanentError(str(e))
    if isinstance(e, ClusterUnreachable) and e.code not in ("error.cluster_unauthorized", "error.cluster_forbidden"):
        return TemporaryError(str(e), delay=2.0)
    return PermanentError(str(e))


@REGISTRY.step("syncClusterInfoTask", title_en="Connect and read cluster facts", title_zh="连接集群并读取信息",
               timeout=120, max_retries=2)
async def sync_cluster_info(ctx: StepContext) -> None:
    cluster, credential = await _credential(ctx)
    settings = ClusterSettings()
    await ctx.log.info(f"connecting to {credential.server} as {cluster.credential_user or credential.user}")
    try:
        async with connect(credential, call_timeout=settings.request_timeout) as kube:
            version = await kube.version()
            namespace = await kube.get("/api/v1/namespaces/kube-system")
    except ShoalError as e:
        await ctx.log.error(str(e))
        raise _step_error(e) from e
    uid = str((namespace.get("metadata") or {}).get("uid", ""))
    if uid != cluster.kube_system_uid:
        raise PermanentError(f"the API server now answers for another cluster (kube-system UID {uid}, "
                             f"expected {cluster.kube_system_uid})")
    git_version = str(version.get("gitVersion", ""))
    async with ctx.db.session() as session:
        await session.execute(update(Cluster).where(Cluster.id == cluster.id)
                              .values(version=git_version, updated_at=utcnow()))
    await ctx.log.info(f"Kubernetes {git_version} ({version.get('platform', '')}), kube-system UID {uid}")


@REGISTRY.step("importClusterNodesTask", title_en="Sync nodes", title_zh="同步节点", timeout=300, max_retries=2)
async def import_nodes(ctx: StepContext) -> None:
    cluster, credential = await _credential(ctx)
    settings = ClusterSettings()
    try:
        async with connect(credential, call_timeout=settings.request_timeout) as kube:
            nodes = await kube.list_all("/api/v1/nodes")
    except ShoalError as e:
        await ctx.log.error(str(e))
        raise _step_error(e) from e
    facts = [node_facts(n) for n in nodes]
    now = utcnow()
    masters = sum(1 for f in facts if f["role"] == "master")
    async with ctx.db.session() as session:
        await session.execute(delete(ClusterNode).where(ClusterNode.cluster_id == cluster.id))
        session.add_all(ClusterNode(cluster_id=cluster.id, synced_at=now, **f) for f in facts)
        await session.execute(update(Cluster).where(Cluster.id == cluster.id)
                              .values(master_count=masters, node_count=len(facts) - masters, updated_at=now))
    for f in facts[:50]:
        state = "Ready" if f["ready"] else "NotReady"
        if f["unschedulable"]:
            state += ",SchedulingDisabled"
        await ctx.log.info(f"{f['role']:6} {f['name']}  {f['internal_ip']}  {state}  {f['kubelet_version']}")
    if len(facts) > 50:
        await ctx.log.info(f"… and {len(facts) - 50} more nodes")
    await ctx.log.info(f"synced {len(facts)} nodes: {masters} masters, {len(facts) - masters} nodes")
    if facts and masters == len(facts):
        await ctx.log.warning("the cluster has only masters: it cannot run workloads until nodes are added")


async def on_finish(session: AsyncSession, task: Task) -> None:
    """In the transaction ending the import task: RUNNING with the synced facts, or IMPORT-FAILURE with why."""
    if task.cluster_id is None:
        return
    cluster = await session.scalar(select(Cluster).where(Cluster.id == task.cluster_id))
    if cluster is None or cluster.status == ClusterStatus.DELETED.value:
        return
    now = utcnow()
    cluster.updated_at = now
    if task.status == TaskStatus.SUCCESS.value:
        settings = ClusterSettings()
        cluster.status = ClusterStatus.RUNNING.value
        cluster.status_message = ""
        cluster.health_failures = 0
        cluster.health_error = ""
        cluster.health_failing_since = None
        cluster.health_checked_at = now
        cluster.health_next_at = now + timedelta(seconds=settings.health_interval * random.uniform(0.5, 1.0))
    else:
        cluster.status = ClusterStatus.IMPORT_FAILURE.value
        cluster.status_message = task.message or task.status
        cluster.health_next_at = None


async def on_resume(session: AsyncSession, task: Task) -> None:
    """A retried import task puts its cluster back to INITIALIZATION."""
    if task.cluster_id is None:
        return
    cluster = await session.scalar(select(Cluster).where(Cluster.id == task.cluster_id))
    if cluster is not None and cluster.status == ClusterStatus.IMPORT_FAILURE.value:
        cluster.status = ClusterStatus.INITIALIZATION.value
        cluster.status_message = ""
        cluster.updated_at = utcnow()


REGISTRY.task_type(
    "blueking-ImportCluster",
    title_en="Import cluster",
    title_zh="导入集群",
    steps=["syncClusterInfoTask", "importClusterNodesTask"],
    on_finish=on_finish,
    on_resume=on_resume,
)
