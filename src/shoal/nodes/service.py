"""Node management (R16): list, detail, cordon/uncordon, drain, labels, taints, remove.

Who calls it: API routes and web pages (the CLI through the API). Every
function authorises with ``iam.authz.require`` through
``clusters.service.get_cluster``: reads need ``cluster_view``, changes
``cluster_manage``. Inputs (node names, batch size, label keys and values,
taint effects) are checked *before* any call reaches the cluster. Every change
is audited in the caller's transaction once the cluster accepted it; refusals
are audited by the edge.

Lists are served from the node records (``nodes.sync``), refreshed from the
cluster when asked, when never synced, or when older than
``NodeSettings.max_age``; each change refreshes the records of the nodes it
touched.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from shoal.audit import service as audit
from shoal.clusters.models import Cluster, ClusterNode, ClusterStatus
from shoal.clusters.service import credential_of, get_cluster
from shoal.clusters.settings import ClusterSettings
from shoal.core.errors import ClusterUnreachable, Conflict, Invalid, NotFound, ShoalError
from shoal.core.security import SecretBox
from shoal.iam.authz import Action, Principal, visible_project_codes
from shoal.kube import JSON, KubeClient, connect
from shoal.kube import nodes as kn
from shoal.nodes import drain as _drain
from shoal.nodes.sync import NodeStatus, kube_status, pod_requests, recount, sync_cluster, sync_nodes
from shoal.nodes.validation import EFFECTS, LabelChange, TaintChange
from shoal.store.types import utcnow
from shoal.tasks.models import Task, TaskStatus
from shoal.tasks.service import create_task

__all__ = [
    "SORTS",
    "NodeDetail",
    "NodeFilter",
    "NodePage",
    "NodeSettings",
    "batch_values",
    "cordon",
    "drain_preview",
    "get_node",
    "label",
    "list_nodes",
    "remove",
    "start_drain",
    "taint",
]


class NodeSettings(BaseSettings):
    """Node management; each field maps to ``SHOAL_NODE_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="SHOAL_NODE_", extra="ignore")

    batch_limit: int = Field(10, ge=1, le=1000,
                             description="Nodes one batch operation may touch (the original platform allows 10).")
    max_age: float = Field(300.0, ge=0, description="Seconds after which a node list re-reads the cluster.")
    drain_timeout: float = Field(300.0, gt=0, le=86400, description="Default seconds a drain waits for evictions.")


#: ``sort`` values of the node list and the columns behind them.
SORTS: dict[str, Any] = {
    "name": ClusterNode.name, "status": ClusterNode.status, "roles": ClusterNode.roles,
    "ip": ClusterNode.internal_ip, "version": ClusterNode.kubelet_version, "cpu": ClusterNode.cpu_share,
    "memory": ClusterNode.memory_share, "pods": ClusterNode.pods_used, "age": ClusterNode.node_created_at,
    "cluster": ClusterNode.cluster_id,
}
STATUSES = tuple(s.value for s in NodeStatus)


@dataclass(frozen=True)
class NodeFilter:
    search: str = ""
    statuses: tuple[str, ...] = ()
    role: str = ""
    label: str = ""
    include_removed: bool = False


@dataclass
class NodePage:
    items: list[ClusterNode]
    total: int
    synced_at: Any = None
    #: Why the automatic refresh failed (the items are then the last synced records).
    sync_error: ShoalError | None = None


@dataclass
class NodeDetail:
    record: ClusterNode
    cluster: Cluster
    node: JSON
    pods: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def kube_status(self) -> str:
        return kube_status(self.record)


@asynccontextmanager
async def _kube(cluster: Cluster, secrets: SecretBox) -> AsyncIterator[KubeClient]:
    if cluster.status == ClusterStatus.DELETED.value:
        raise Conflict("error.cluster_state", id=cluster.id, status=cluster.status)
    async with connect(credential_of(cluster, secrets), call_timeout=ClusterSettings().request_timeout) as kube:
        yield kube


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _filtered(stmt: Select[Any], flt: NodeFilter) -> Select[Any]:
    if flt.statuses:
        unknown = [s for s in flt.statuses if s not in STATUSES]
        if unknown:
            raise Invalid("error.node_status_filter", field="status", value=unknown[0][:32],
                          statuses=", ".join(STATUSES))
        stmt = stmt.where(ClusterNode.status.in_(flt.statuses))
    elif not flt.include_removed:
        stmt = stmt.where(ClusterNode.status != NodeStatus.REMOVED.value)
    if flt.search.strip():
        pattern = f"%{_like(flt.search.strip())}%"
        stmt = stmt.where(or_(ClusterNode.name.ilike(pattern, escape="\\"),
                              ClusterNode.internal_ip.like(pattern, escape="\\")))
    if flt.role:
        if flt.role in ("master", "node"):
            stmt = stmt.where(ClusterNode.role == flt.role)
        else:
            stmt = stmt.where(("," + ClusterNode.roles + ",").like(f"%,{_like(flt.role)},%", escape="\\"))
    if flt.label:
        key, eq, value = flt.label.partition("=")
        needle = f"\n{key}={value}\n" if eq else f"\n{key}="
        stmt = stmt.where(ClusterNode.labels_text.like(f"%{_like(needle)}%", escape="\\"))
    return stmt


def _ordered(stmt: Select[Any], sort: str) -> Select[Any]:
    descending = sort.startswith("-")
    key = sort.lstrip("-") or "name"
    column = SORTS.get(key)
    if column is None:
        raise Invalid("error.node_sort", field="sort", value=key[:32], sorts=", ".join(SORTS))
    order = column.desc() if descending else column.asc()
    return stmt.order_by(order, ClusterNode.cluster_id, ClusterNode.name)


async def _stale(session: AsyncSession, cluster: Cluster, max_age: float) -> bool:
    """Never synced by node management (or by nobody), or synced longer ago than ``max_age`` seconds."""
    mine = ClusterNode.cluster_id == cluster.id
    oldest = await session.scalar(select(func.min(ClusterNode.synced_at)).where(mine))
    if oldest is None:
        return True
    if await session.scalar(select(ClusterNode.id).where(mine, ClusterNode.status == "").limit(1)) is not None:
        return True
    return bool(max_age) and oldest < utcnow() - timedelta(seconds=max_age)


async def refresh(session: AsyncSession, actor: Principal, secrets: SecretBox, cluster_id: str) -> int:
    """Re-read the cluster's nodes now; returns how many there are."""
    cluster = await get_cluster(session, actor, cluster_id)
    async with _kube(cluster, secrets) as kube:
        return await sync_cluster(session, cluster, kube)


async def list_nodes(
    session: AsyncSession, actor: Principal, secrets: SecretBox, flt: NodeFilter, *, cluster_id: str | None,
    sort: str = "name", limit: int = 50, offset: int = 0, refresh_now: bool = False,
    settings: NodeSettings | None = None,
) -> NodePage:
    """Nodes of one cluster (or of every cluster ``actor`` may view), filtered, sorted and paged in SQL."""
    settings = settings or NodeSettings()
    stmt = select(ClusterNode)
    sync_error: ShoalError | None = None
    if cluster_id:
        cluster = await get_cluster(session, actor, cluster_id)
        if cluster.status != ClusterStatus.DELETED.value and (
                refresh_now or await _stale(session, cluster, settings.max_age)):
            try:
                async with _kube(cluster, secrets) as kube:
                    await sync_cluster(session, cluster, kube)
            except ClusterUnreachable as e:
                # An automatic refresh that fails still shows the records, saying why they may be old.
                known = await session.scalar(select(ClusterNode.id).where(ClusterNode.cluster_id == cluster.id)
                                             .limit(1))
                if refresh_now or known is None:
                    raise
                sync_error = e
        stmt = stmt.where(ClusterNode.cluster_id == cluster.id)
    else:
        live = select(Cluster.id).where(Cluster.status != ClusterStatus.DELETED.value)
        codes = visible_project_codes(actor)
        if codes is not None:
            live = live.where(Cluster.project_code.in_(codes))
        stmt = stmt.where(ClusterNode.cluster_id.in_(live))
    stmt = _filtered(stmt, flt)
    total = int(await session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    rows = await session.scalars(_ordered(stmt, sort).limit(limit).offset(offset))
    synced = await session.scalar(select(func.min(ClusterNode.synced_at)).where(
        ClusterNode.cluster_id == cluster_id)) if cluster_id else None
    return NodePage(items=list(rows.all()), total=total, synced_at=synced, sync_error=sync_error)


async def _record(session: AsyncSession, cluster: Cluster, name: str) -> ClusterNode | None:
    row: ClusterNode | None = await session.scalar(select(ClusterNode).where(
        ClusterNode.cluster_id == cluster.id, ClusterNode.name == name).execution_options(populate_existing=True))
    return row


def _pod_row(pod: JSON) -> dict[str, Any]:
    meta, status = pod.get("metadata") or {}, pod.get("status") or {}
    cpu, memory = pod_requests(pod)
    owner = next((o for o in meta.get("ownerReferences") or [] if o.get("controller")), None)
    restarts = sum(int(c.get("restartCount") or 0) for c in status.get("containerStatuses") or [])
    return {"namespace": meta.get("namespace", ""), "name": meta.get("name", ""), "phase": status.get("phase", ""),
            "owner": f"{owner.get('kind')}/{owner.get('name')}" if owner else "", "ip": status.get("podIP", ""),
            "cpu_requested": cpu, "memory_requested": memory, "restarts": restarts,
            "created": meta.get("creationTimestamp", ""), "terminating": bool(meta.get("deletionTimestamp"))}


def _event_row(event: JSON) -> dict[str, Any]:
    return {"time": str(event.get("lastTimestamp") or event.get("eventTime")
                        or (event.get("metadata") or {}).get("creationTimestamp") or ""),
            "type": event.get("type", ""), "reason": event.get("reason", ""),
            "message": str(event.get("message", ""))[:500], "count": int(event.get("count") or 1),
            "source": str((event.get("source") or {}).get("component", "") or event.get("reportingComponent", ""))}


async def get_node(session: AsyncSession, actor: Principal, secrets: SecretBox, cluster_id: str,
                   name: str) -> NodeDetail:
    """A node as the cluster has it now: conditions, addresses, capacity, its pods, recent events."""
    cluster = await get_cluster(session, actor, cluster_id)
    record = await _record(session, cluster, name)
    if record is not None and record.status == NodeStatus.REMOVED.value:
        return NodeDetail(record=record, cluster=cluster, node={})
    async with _kube(cluster, secrets) as kube:
        try:
            node = await kn.get_node(kube, name)
        except NotFound as e:
            raise NotFound("error.node_not_found", cluster=cluster.id, name=name) from e
        await sync_nodes(session, cluster, kube, [node], with_pods=True)
        pods = await kn.list_pods_on(kube, name)
        try:
            events = await kn.list_node_events(kube, name)
        except ShoalError:
            events = []
    record = await _record(session, cluster, name)
    assert record is not None
    rows = sorted((_pod_row(p) for p in pods), key=lambda p: (p["namespace"], p["name"]))
    recent = sorted((_event_row(e) for e in events), key=lambda e: e["time"], reverse=True)[:20]
    return NodeDetail(record=record, cluster=cluster, node=node, pods=rows, events=recent)


def _names(names: list[str], settings: NodeSettings) -> list[str]:
    unique = list(dict.fromkeys(n.strip() for n in names if n.strip()))
    if not unique:
        raise Invalid("error.node_none", field="nodes")
    if len(unique) > settings.batch_limit:
        raise Invalid("error.node_batch_limit", hint="hint.node_batch_limit", field="nodes", count=len(unique),
                      limit=settings.batch_limit)
    for name in unique:
        if len(name) > 253:
            raise Invalid("error.node_name", field="nodes", name=name[:60] + "…")
    return unique


async def _fetch(kube: KubeClient, cluster: Cluster, names: list[str]) -> list[JSON]:
    nodes = []
    for name in names:
        try:
            nodes.append(await kn.get_node(kube, name))
        except NotFound as e:
            raise NotFound("error.node_not_found", cluster=cluster.id, name=name) from e
    return nodes


async def _changed(session: AsyncSession, cluster: Cluster, names: list[str]) -> list[ClusterNode]:
    rows = await session.scalars(select(ClusterNode).where(
        ClusterNode.cluster_id == cluster.id, ClusterNode.name.in_(names))
        .order_by(ClusterNode.name).execution_options(populate_existing=True))
    return list(rows.all())


async def cordon(session: AsyncSession, actor: Principal, secrets: SecretBox, cluster_id: str, names: list[str],
                 *, unschedulable: bool = True, settings: NodeSettings | None = None) -> list[ClusterNode]:
    """Cordon [停止调度] (or uncordon [允许调度]) one node or a batch."""
    settings = settings or NodeSettings()
    cluster = await get_cluster(session, actor, cluster_id, Action.CLUSTER_MANAGE)
    names = _names(names, settings)
    async with _kube(cluster, secrets) as kube:
        await _fetch(kube, cluster, names)
        changed = [await kn.patch_node(kube, n, {"spec": {"unschedulable": unschedulable or None}}) for n in names]
        await sync_nodes(session, cluster, kube, changed,
                         message=f"{'cordoned' if unschedulable else 'uncordoned'} by {actor.username}")
    await audit.record(session, actor, "node.cordon" if unschedulable else "node.uncordon", target_type="cluster",
                       target_id=cluster.id, project_code=cluster.project_code, detail={"nodes": names})
    return await _changed(session, cluster, names)


async def drain_preview(session: AsyncSession, actor: Principal, secrets: SecretBox, cluster_id: str,
                        names: list[str], *, force: bool = False, delete_emptydir_data: bool = False,
                        settings: NodeSettings | None = None) -> list[_drain.NodePlan]:
    """Which pods a drain would evict, skip, or be refused by — and why — without changing anything."""
    settings = settings or NodeSettings()
    cluster = await get_cluster(session, actor, cluster_id, Action.CLUSTER_MANAGE)
    names = _names(names, settings)
    async with _kube(cluster, secrets) as kube:
        try:
            return await _drain.plan(kube, names, force=force, delete_emptydir=delete_emptydir_data)
        except NotFound as e:
            raise NotFound("error.node_not_found", cluster=cluster.id, name=", ".join(names)) from e


async def _draining(session: AsyncSession, cluster_id: str, names: list[str]) -> tuple[str, list[str]] | None:
    """An unfinished drain task of this cluster touching any of ``names``: its id and those nodes."""
    rows = await session.scalars(select(Task).where(
        Task.cluster_id == cluster_id, Task.task_type == _drain.DRAIN_TASK,
        Task.status.in_([TaskStatus.INITIALIZING.value, TaskStatus.RUNNING.value])))
    for task in rows.all():
        overlap = sorted(set(names) & {str(n) for n in (task.params or {}).get("nodes") or []})
        if overlap:
            return task.id, overlap
    return None


async def start_drain(session: AsyncSession, actor: Principal, secrets: SecretBox, cluster_id: str,
                      names: list[str], *, force: bool = False, delete_emptydir_data: bool = False,
                      timeout_seconds: float | None = None, grace_period: int | None = None,
                      settings: NodeSettings | None = None) -> tuple[Task, list[_drain.NodePlan]]:
    """Check the drain now (refusing with the pods that block it) and queue the drain task."""
    settings = settings or NodeSettings()
    timeout = float(timeout_seconds if timeout_seconds is not None else settings.drain_timeout)
    if not 1 <= timeout <= 86400:
        raise Invalid("error.node_drain_timeout", field="timeout_seconds", max=86400)
    if grace_period is not None and not -1 <= grace_period <= 86400:
        raise Invalid("error.node_grace_period", field="grace_period")
    plans = await drain_preview(session, actor, secrets, cluster_id, names, force=force,
                                delete_emptydir_data=delete_emptydir_data, settings=settings)
    busy = await _draining(session, cluster_id, [np.node for np in plans])
    if busy:
        raise Conflict("error.node_drain_running", hint="hint.node_drain_running", nodes=", ".join(busy[1]),
                       task=busy[0])
    blocking = [p for np in plans for p in np.of("refuse")]
    if blocking:
        raise Conflict("error.node_drain_blocked", hint="hint.node_drain_blocked", count=len(blocking),
                       pods=_drain.refusal_text(plans)[:2000])
    cluster = await get_cluster(session, actor, cluster_id, Action.CLUSTER_MANAGE)
    names = [np.node for np in plans]
    params = {"nodes": names, "force": force, "delete_emptydir_data": delete_emptydir_data,
              "timeout_seconds": timeout, "grace_period": grace_period if grace_period is not None
              and grace_period >= 0 else None}
    task = await create_task(session, _drain.DRAIN_TASK, project_code=cluster.project_code,
                             creator=actor.username, cluster_id=cluster.id, node_name=",".join(names)[:255],
                             params=params)
    for step in task.steps:  # the engine's step timeout must outlast the drain's own deadline
        if step.name in ("evictPodsTask", "waitPodsGoneTask"):
            step.timeout_seconds = timeout + 120
    await audit.record(session, actor, "node.drain", target_type="cluster", target_id=cluster.id,
                       project_code=cluster.project_code,
                       detail={"nodes": names, "task": task.id, "force": force,
                               "delete_emptydir_data": delete_emptydir_data, "timeout_seconds": timeout,
                               "evict": sum(len(np.of("evict")) for np in plans)})
    return task, plans


def _label_patch(changes: list[LabelChange]) -> JSON:
    return {"metadata": {"labels": {c.key: c.value for c in changes}}}


async def label(session: AsyncSession, actor: Principal, secrets: SecretBox, cluster_id: str, names: list[str],
                changes: list[LabelChange], *, settings: NodeSettings | None = None) -> list[ClusterNode]:
    """Add, change (value) or remove (value None) labels on one node or a batch."""
    settings = settings or NodeSettings()
    cluster = await get_cluster(session, actor, cluster_id, Action.CLUSTER_MANAGE)
    names = _names(names, settings)
    if not changes:
        raise Invalid("error.node_no_change", field="labels")
    for change in changes:
        change.check()
    async with _kube(cluster, secrets) as kube:
        await _fetch(kube, cluster, names)
        changed = [await kn.patch_node(kube, n, _label_patch(changes)) for n in names]
        await sync_nodes(session, cluster, kube, changed)
    await audit.record(session, actor, "node.label", target_type="cluster", target_id=cluster.id,
                       project_code=cluster.project_code,
                       detail={"nodes": names, "labels": {c.key: c.value for c in changes}})
    return await _changed(session, cluster, names)


def apply_taints(current: list[JSON], changes: list[TaintChange], now: str) -> list[JSON]:
    """The node's taints after ``changes`` (kubectl's semantics: key+effect identify a taint)."""
    taints = [dict(t) for t in current]
    for c in changes:
        if c.remove:
            taints = [t for t in taints if not (t.get("key") == c.key and (c.effect is None
                                                                          or t.get("effect") == c.effect))]
            continue
        new: JSON = {"key": c.key, "effect": c.effect}
        if c.value:
            new["value"] = c.value
        if c.effect == "NoExecute":
            new["timeAdded"] = now
        for i, t in enumerate(taints):
            if t.get("key") == c.key and t.get("effect") == c.effect:
                taints[i] = new
                break
        else:
            taints.append(new)
    return taints


async def _taint_one(kube: KubeClient, name: str, changes: list[TaintChange]) -> JSON:
    for _ in range(3):  # optimistic concurrency: the patch carries the resourceVersion it was computed from
        node = await kn.get_node(kube, name)
        taints = apply_taints(list((node.get("spec") or {}).get("taints") or []), changes,
                              utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"))
        rv = (node.get("metadata") or {}).get("resourceVersion")
        try:
            return await kn.patch_node(kube, name, {"metadata": {"resourceVersion": rv},
                                                    "spec": {"taints": taints or None}})
        except Conflict:
            continue
    raise Conflict("error.node_changed", name=name)


async def taint(session: AsyncSession, actor: Principal, secrets: SecretBox, cluster_id: str, names: list[str],
                changes: list[TaintChange], *, settings: NodeSettings | None = None) -> list[ClusterNode]:
    """Add, change or remove taints on one node or a batch."""
    settings = settings or NodeSettings()
    cluster = await get_cluster(session, actor, cluster_id, Action.CLUSTER_MANAGE)
    names = _names(names, settings)
    if not changes:
        raise Invalid("error.node_no_change", field="taints")
    for change in changes:
        change.check()
    async with _kube(cluster, secrets) as kube:
        await _fetch(kube, cluster, names)
        changed = [await _taint_one(kube, n, changes) for n in names]
        await sync_nodes(session, cluster, kube, changed)
    await audit.record(session, actor, "node.taint", target_type="cluster", target_id=cluster.id,
                       project_code=cluster.project_code,
                       detail={"nodes": names, "taints": [c.text() for c in changes]})
    return await _changed(session, cluster, names)


async def batch_values(session: AsyncSession, actor: Principal, cluster_id: str,
                       names: list[str], *, settings: NodeSettings | None = None) -> dict[str, Any]:
    """Labels and taints of a batch as the records have them: one value per key, or ``mixed``."""
    settings = settings or NodeSettings()
    cluster = await get_cluster(session, actor, cluster_id)
    names = _names(names, settings)
    rows = await _changed(session, cluster, names)
    missing = sorted(set(names) - {r.name for r in rows})
    if missing:
        raise NotFound("error.node_not_found", cluster=cluster.id, name=missing[0])
    labels: dict[str, Any] = {}
    for key in sorted({k for r in rows for k in r.labels}):
        values = [r.labels.get(key) for r in rows]
        distinct = sorted({v for v in values if v is not None})
        same = len(distinct) == 1 and None not in values
        labels[key] = {"value": distinct[0] if same else None, "mixed": not same, "values": distinct,
                       "count": sum(v is not None for v in values)}
    taints: dict[str, Any] = {}
    for key, effect in sorted({(t.get("key", ""), t.get("effect", "")) for r in rows for t in r.taints or []}):
        found = [next((t for t in r.taints or [] if t.get("key") == key and t.get("effect") == effect), None)
                 for r in rows]
        distinct = sorted({str(t.get("value", "")) for t in found if t is not None})
        same = len(distinct) == 1 and None not in found
        taints[f"{key}:{effect}"] = {"key": key, "effect": effect, "value": distinct[0] if same else None,
                                     "mixed": not same, "values": distinct,
                                     "count": sum(t is not None for t in found)}
    return {"nodes": [r.name for r in rows], "labels": labels, "taints": taints, "effects": list(EFFECTS)}


async def remove(session: AsyncSession, actor: Principal, secrets: SecretBox, cluster_id: str, name: str, *,
                 force: bool = False, confirm: str = "") -> ClusterNode:
    """Delete the Node object: only when cordoned and drained, or forced with the node's name as confirmation."""
    cluster = await get_cluster(session, actor, cluster_id, Action.CLUSTER_MANAGE)
    if force and confirm != name:
        raise Invalid("error.node_remove_confirm", hint="hint.node_remove_confirm", field="confirm", name=name)
    async with _kube(cluster, secrets) as kube:
        node = (await _fetch(kube, cluster, [name]))[0]
        cordoned = bool((node.get("spec") or {}).get("unschedulable"))
        remaining: list[str] = []
        if not force:
            plan = await _drain.plan_node(kube, name, force=False, delete_emptydir=False)
            remaining = [p.ref for p in plan.pods if p.action != "skip"]
            if not cordoned or remaining:
                raise Conflict("error.node_remove_not_drained", hint="hint.node_remove_not_drained", name=name,
                               cordoned="yes" if cordoned else "no", pods=len(remaining),
                               names=", ".join(remaining[:10]))
        await sync_nodes(session, cluster, kube, [node])
        await kn.delete_node(kube, name)
    record = await _record(session, cluster, name)
    assert record is not None
    record.status = NodeStatus.REMOVED.value
    record.unschedulable = True
    record.ready = False
    record.status_message = (f"removed by {actor.username} at {utcnow():%Y-%m-%d %H:%M:%S} UTC"
                             + (" (forced)" if force else ""))
    record.synced_at = utcnow()
    await session.flush()
    await recount(session, cluster)
    await audit.record(session, actor, "node.remove", target_type="cluster", target_id=cluster.id,
                       project_code=cluster.project_code,
                       detail={"node": name, "force": force, "cordoned": cordoned, "ip": record.internal_ip})
    return record
