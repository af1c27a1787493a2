"""Keep Shoal's node records (``cluster_nodes``) in step with a cluster's Nodes and pods.

Who calls it: ``nodes.service`` when a list is asked for with ``refresh`` or
the records are older than ``NodeSettings.max_age``, after every change it
makes to a node, and the drain task's last step. One sync is two paged list
calls (nodes, then pods that are not Succeeded/Failed) and one bulk upsert,
so a 5,000-node cluster costs what ``kubectl get nodes -o json`` costs plus a
pod list; the node list itself is then served from the database (filter,
sort and paging in SQL).

Statuses follow the original platform: RUNNING (Ready, schedulable),
REMOVABLE (cordoned: may be drained and removed), NOTREADY (Ready=False),
UNKNOWN (Ready=Unknown or no report), and the operation statuses DELETING,
REMOVE-FAILURE and REMOVED set by ``nodes.service.remove``. A REMOVED record
stays (it says who removed the node and when) until the node comes back.
Records Shoal keeps for nodes that are not (or no longer) in the cluster —
REMOVED, and INITIALIZATION / ADD-FAILURE for nodes being added to clusters
built on own hosts (R15) — survive a sync; every other record of a node the
cluster no longer has is dropped.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from shoal.clusters.importing import is_master
from shoal.clusters.models import Cluster, ClusterNode
from shoal.kube import JSON, KubeClient, parse_cpu, parse_quantity
from shoal.kube import nodes as kn
from shoal.store.types import utcnow

__all__ = ["KEPT", "NodeStatus", "kube_status", "node_columns", "pod_columns", "recount", "sync_cluster", "sync_nodes"]

ROLE_PREFIX = "node-role.kubernetes.io/"


class NodeStatus(StrEnum):
    INITIALIZATION = "INITIALIZATION"
    ADD_FAILURE = "ADD-FAILURE"
    RUNNING = "RUNNING"
    REMOVABLE = "REMOVABLE"
    NOTREADY = "NOTREADY"
    UNKNOWN = "UNKNOWN"
    DELETING = "DELETING"
    REMOVE_FAILURE = "REMOVE-FAILURE"
    REMOVED = "REMOVED"


#: Records a sync keeps although the cluster has no such Node (see the module docstring).
KEPT = (NodeStatus.REMOVED.value, NodeStatus.INITIALIZATION.value, NodeStatus.ADD_FAILURE.value)


def _ready_condition(node: JSON) -> str:
    for condition in (node.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return str(condition.get("status") or "Unknown")
    return "Unknown"


def _roles(labels: dict[str, str]) -> list[str]:
    roles = {k[len(ROLE_PREFIX):] for k in labels if k.startswith(ROLE_PREFIX) and k != ROLE_PREFIX}
    if labels.get("kubernetes.io/role"):
        roles.add(labels["kubernetes.io/role"])
    return sorted(roles)


def _time(text: Any) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None


def kube_status(record: ClusterNode) -> str:
    """The STATUS column ``kubectl get nodes`` would show (``Ready,SchedulingDisabled`` …)."""
    if record.status == NodeStatus.REMOVED.value:
        return "Removed"
    text = "Ready" if record.ready else "Unknown" if record.status == NodeStatus.UNKNOWN.value else "NotReady"
    return text + (",SchedulingDisabled" if record.unschedulable else "")


def labels_text(labels: dict[str, Any]) -> str:
    return "\n" + "".join(f"{k}={v}\n" for k, v in sorted(labels.items())) if labels else ""


def node_columns(node: JSON) -> dict[str, Any]:
    """The record's columns that come from the Node object alone."""
    meta, spec, status = node.get("metadata") or {}, node.get("spec") or {}, node.get("status") or {}
    info = status.get("nodeInfo") or {}
    capacity, allocatable = status.get("capacity") or {}, status.get("allocatable") or {}
    labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
    ready = _ready_condition(node)
    unschedulable = bool(spec.get("unschedulable"))
    if ready == "True":
        state = NodeStatus.REMOVABLE if unschedulable else NodeStatus.RUNNING
    else:
        state = NodeStatus.NOTREADY if ready == "False" else NodeStatus.UNKNOWN
    address = next((a.get("address", "") for a in status.get("addresses") or [] if a.get("type") == "InternalIP"), "")
    return {
        "name": str(meta.get("name", "")), "uid": str(meta.get("uid", "")),
        "role": "master" if is_master(node) else "node", "roles": ",".join(_roles(labels)),
        "internal_ip": address, "ready": ready == "True", "unschedulable": unschedulable, "status": state.value,
        "kubelet_version": str(info.get("kubeletVersion", "")), "os_image": str(info.get("osImage", "")),
        "kernel_version": str(info.get("kernelVersion", "")),
        "container_runtime": str(info.get("containerRuntimeVersion", "")),
        "cpu_capacity": parse_cpu(capacity.get("cpu")), "memory_capacity": parse_quantity(capacity.get("memory")),
        "cpu_allocatable": parse_cpu(allocatable.get("cpu")),
        "memory_allocatable": parse_quantity(allocatable.get("memory")),
        "pods_limit": int(parse_quantity(allocatable.get("pods"))),
        "labels": labels, "labels_text": labels_text(labels), "taints": list(spec.get("taints") or []),
        "node_created_at": _time(meta.get("creationTimestamp")),
    }


def pod_requests(pod: JSON) -> tuple[float, float]:
    """CPU cores and memory bytes a pod requests (containers summed; an init container may need more)."""
    spec = pod.get("spec") or {}

    def of(container: JSON) -> tuple[float, float]:
        requests = (container.get("resources") or {}).get("requests") or {}
        return parse_cpu(requests.get("cpu")), parse_quantity(requests.get("memory"))

    main = [of(c) for c in spec.get("containers") or []]
    init = [of(c) for c in spec.get("initContainers") or []]
    cpu, memory = sum(c for c, _ in main), sum(m for _, m in main)
    return max([cpu, *(c for c, _ in init)]), max([memory, *(m for _, m in init)])


def pod_columns(pods: list[JSON]) -> dict[str, dict[str, Any]]:
    """Per node name: pods used and CPU/memory requested by pods that are not finished."""
    totals: dict[str, dict[str, Any]] = defaultdict(lambda: {"pods_used": 0, "cpu_requested": 0.0,
                                                              "memory_requested": 0.0})
    for pod in pods:
        node = (pod.get("spec") or {}).get("nodeName")
        if not node or (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        cpu, memory = pod_requests(pod)
        row = totals[node]
        row["pods_used"] += 1
        row["cpu_requested"] += cpu
        row["memory_requested"] += memory
    return totals


def _row(cluster_id: str, node: JSON, usage: dict[str, Any] | None, now: datetime) -> dict[str, Any]:
    row = node_columns(node)
    row.update(usage or {"pods_used": 0, "cpu_requested": 0.0, "memory_requested": 0.0})
    row["cpu_share"] = round(row["cpu_requested"] / row["cpu_allocatable"], 4) if row["cpu_allocatable"] else 0.0
    row["memory_share"] = (round(row["memory_requested"] / row["memory_allocatable"], 4)
                           if row["memory_allocatable"] else 0.0)
    row.update(cluster_id=cluster_id, synced_at=now, status_message="")
    return row


async def _upsert(session: AsyncSession, rows: list[dict[str, Any]], *, keep_message: bool = True) -> None:
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(ClusterNode)
    columns = [k for k in rows[0] if k not in ("cluster_id", "name") and not (keep_message and k == "status_message")]
    stmt = stmt.on_conflict_do_update(index_elements=["cluster_id", "name"],
                                      set_={c: stmt.excluded[c] for c in columns})
    await session.execute(stmt, rows)


async def recount(session: AsyncSession, cluster: Cluster) -> None:
    """Set the cluster's master and node counts from the records (REMOVED ones excluded)."""
    live = ClusterNode.status != NodeStatus.REMOVED.value
    rows = (await session.execute(select(ClusterNode.role, func.count()).where(
        ClusterNode.cluster_id == cluster.id, live).group_by(ClusterNode.role))).all()
    counts = {role: int(n) for role, n in rows}
    await session.execute(update(Cluster).where(Cluster.id == cluster.id).values(
        master_count=counts.get("master", 0), node_count=counts.get("node", 0))
        .execution_options(synchronize_session=False))


async def sync_cluster(session: AsyncSession, cluster: Cluster, kube: KubeClient) -> int:
    """Re-read every Node and active pod of ``cluster`` and make the records match; returns the node count."""
    nodes = await kn.list_nodes(kube)
    usage = pod_columns(await kn.list_pods(kube))
    now = utcnow()
    rows = [_row(cluster.id, n, usage.get(str((n.get("metadata") or {}).get("name", ""))), now) for n in nodes]
    await _upsert(session, rows)
    await session.execute(delete(ClusterNode).where(
        ClusterNode.cluster_id == cluster.id, ClusterNode.synced_at < now,
        ClusterNode.status.not_in(KEPT)).execution_options(synchronize_session=False))
    await recount(session, cluster)
    return len(rows)


async def sync_nodes(session: AsyncSession, cluster: Cluster, kube: KubeClient, nodes: list[JSON],
                     *, with_pods: bool = False, message: str | None = None) -> None:
    """Update the records of these Node objects (as just returned by a change); pods re-counted if asked."""
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for node in nodes:
        name = str((node.get("metadata") or {}).get("name", ""))
        usage = pod_columns(await kn.list_pods_on(kube, name)).get(name) if with_pods else None
        row = _row(cluster.id, node, usage, now)
        if not with_pods:
            for column in ("pods_used", "cpu_requested", "memory_requested", "cpu_share", "memory_share"):
                row.pop(column)
        if message is not None:
            row["status_message"] = message
        rows.append(row)
    await _upsert(session, rows, keep_message=message is None)
    await recount(session, cluster)
