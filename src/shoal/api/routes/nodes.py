"""Node management (R16): list, detail, cordon/uncordon, drain, labels, taints, remove.

Thin: validate the body, call ``nodes.service``, return a schema. Rights are
checked in the service (``cluster_view`` to read, ``cluster_manage`` to
change). The paged list lives at ``/api/v1/nodes`` (one cluster with
``cluster=…``, or every cluster the caller may view); operations on a
cluster's nodes under ``/api/v1/clusters/{cluster_id}/nodes/…``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field

from shoal.api.deps import CtxDep, CurrentPrincipal, SessionDep
from shoal.api.problems import language_of
from shoal.api.routes.tasks import TaskDetail, task_detail
from shoal.clusters.models import ClusterNode
from shoal.core.i18n import translate
from shoal.nodes import service
from shoal.nodes.drain import NodePlan, plan_dict
from shoal.nodes.sync import kube_status
from shoal.nodes.validation import LabelChange, TaintChange

router = APIRouter(tags=["nodes"])
ClusterIdPath = Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9-]+$")
NodePath = Path(min_length=1, max_length=253)
NAMES = Field(min_length=1, max_length=1000, description="Node names (a batch is limited, 10 by default)")
CLUSTER = "/api/v1/clusters/{cluster_id}/nodes"


class ManagedNodePublic(BaseModel):
    cluster_id: str
    name: str
    status: str = Field(description="RUNNING, REMOVABLE (cordoned), NOTREADY, UNKNOWN, REMOVED…")
    kube_status: str = Field(description="As kubectl shows it: Ready, NotReady, Ready,SchedulingDisabled…")
    status_message: str
    role: str
    roles: list[str]
    internal_ip: str
    ready: bool
    unschedulable: bool
    kubelet_version: str
    os_image: str
    kernel_version: str
    container_runtime: str
    cpu_capacity: float
    cpu_allocatable: float
    cpu_requested: float
    cpu_share: float = Field(description="CPU requested by pods as a share of allocatable")
    memory_capacity: float
    memory_allocatable: float
    memory_requested: float
    memory_share: float
    pods_used: int
    pods_limit: int
    labels: dict[str, Any]
    taints: list[dict[str, Any]]
    created_at: datetime | None
    synced_at: datetime


class NodeList(BaseModel):
    items: list[ManagedNodePublic]
    total: int
    limit: int
    offset: int
    synced_at: datetime | None
    sync_error: str | None = Field(default=None, description="Why the automatic refresh failed (records shown)")


class NodeDetailPublic(BaseModel):
    node: ManagedNodePublic
    conditions: list[dict[str, Any]]
    addresses: list[dict[str, Any]]
    capacity: dict[str, Any]
    allocatable: dict[str, Any]
    node_info: dict[str, Any]
    annotations: dict[str, Any]
    pods: list[dict[str, Any]]
    events: list[dict[str, Any]]


class NodesBody(BaseModel):
    nodes: list[str] = NAMES


class DrainBody(NodesBody):
    force: bool = Field(default=False, description="Also evict pods without a controller (they are lost)")
    delete_emptydir_data: bool = Field(default=False, description="Also evict pods using emptyDir (data lost)")
    timeout_seconds: float | None = Field(default=None, description="How long to wait for evictions (default 300)")
    grace_period: int | None = Field(default=None, description="Seconds each pod gets to stop (-1: its own)")


class PodPlanPublic(BaseModel):
    namespace: str
    name: str
    node: str
    action: str = Field(description="evict, skip or refuse")
    reasons: list[str]
    reason_text: str
    owner: str
    grace: int


class NodePlanPublic(BaseModel):
    node: str
    evict: int
    skip: int
    refuse: int
    pods: list[PodPlanPublic]


class DrainPreview(BaseModel):
    ok: bool = Field(description="False when some pods refuse the drain (listed with reasons)")
    nodes: list[NodePlanPublic]


class DrainStarted(BaseModel):
    task: TaskDetail
    nodes: list[NodePlanPublic]


class LabelsBody(NodesBody):
    labels: dict[str, str | None] = Field(max_length=100, description="key: value to set, key: null to remove")


class TaintPublic(BaseModel):
    key: str = Field(max_length=317)
    value: str = Field(default="", max_length=63)
    effect: str | None = Field(default=None, max_length=32)


class TaintsBody(NodesBody):
    add: list[TaintPublic] = Field(default_factory=list, max_length=50, description="Add or change (key+effect)")
    remove: list[TaintPublic] = Field(default_factory=list, max_length=50,
                                      description="Remove (no effect: every taint with the key)")


class BatchValues(BaseModel):
    nodes: list[str]
    labels: dict[str, dict[str, Any]]
    taints: dict[str, dict[str, Any]]
    effects: list[str]


class SyncResult(BaseModel):
    cluster_id: str
    nodes: int


def node_public(row: ClusterNode) -> ManagedNodePublic:
    return ManagedNodePublic(
        cluster_id=row.cluster_id, name=row.name, status=row.status, kube_status=kube_status(row),
        status_message=row.status_message, role=row.role, roles=[r for r in row.roles.split(",") if r],
        internal_ip=row.internal_ip, ready=row.ready, unschedulable=row.unschedulable,
        kubelet_version=row.kubelet_version, os_image=row.os_image, kernel_version=row.kernel_version,
        container_runtime=row.container_runtime, cpu_capacity=row.cpu_capacity, cpu_allocatable=row.cpu_allocatable,
        cpu_requested=row.cpu_requested, cpu_share=row.cpu_share, memory_capacity=row.memory_capacity,
        memory_allocatable=row.memory_allocatable, memory_requested=row.memory_requested,
        memory_share=row.memory_share, pods_used=row.pods_used, pods_limit=row.pods_limit, labels=row.labels,
        taints=list(row.taints or []), created_at=row.node_created_at, synced_at=row.synced_at)


def plans_public(plans: list[NodePlan], lang: str) -> list[NodePlanPublic]:
    return [NodePlanPublic.model_validate(p) for p in plan_dict(plans, lang)]


@router.get("/api/v1/nodes", response_model=NodeList,
            summary="Nodes of a cluster (or of every cluster you may view): search, filter, sort, page")
async def list_nodes(
    request: Request, ctx: CtxDep, principal: CurrentPrincipal, session: SessionDep,
    cluster: str | None = Query(default=None, max_length=32, description="A cluster id"),
    search: str = Query(default="", max_length=253, description="Part of the name or internal IP"),
    status: list[str] = Query(default_factory=list, max_length=10, description="RUNNING, REMOVABLE, NOTREADY…"),
    role: str = Query(default="", max_length=63, description="master, node, or a role such as control-plane"),
    label: str = Query(default="", max_length=400, description="key or key=value"),
    sort: str = Query(default="name", max_length=16, description="name, status, cpu, memory, pods, age; - reverses"),
    refresh: bool = Query(default=False, description="Re-read the cluster first"),
    limit: int = Query(default=50, ge=1, le=5000), offset: int = Query(default=0, ge=0, le=2**31),
) -> NodeList:
    flt = service.NodeFilter(search=search, statuses=tuple(s.upper() for s in status), role=role, label=label)
    page = await service.list_nodes(session, principal, ctx.secrets, flt, cluster_id=cluster, sort=sort,
                                    limit=limit, offset=offset, refresh_now=refresh)
    error = page.sync_error
    return NodeList(items=[node_public(n) for n in page.items], total=page.total, limit=limit, offset=offset,
                    synced_at=page.synced_at,
                    sync_error=translate(error.message_key, language_of(request), **error.params) if error else None)


@router.get("/api/v1/nodes/batch", response_model=BatchValues,
            summary="Labels and taints of a batch of nodes: one value per key, or mixed")
async def batch_values(principal: CurrentPrincipal, session: SessionDep,
                       cluster: str = Query(max_length=32), nodes: list[str] = Query(max_length=1000)) -> BatchValues:
    return BatchValues(**await service.batch_values(session, principal, cluster, nodes))


@router.post(CLUSTER + "/sync", response_model=SyncResult, summary="Re-read the cluster's nodes now")
async def sync(ctx: CtxDep, principal: CurrentPrincipal, session: SessionDep,
               cluster_id: str = ClusterIdPath) -> SyncResult:
    return SyncResult(cluster_id=cluster_id, nodes=await service.refresh(session, principal, ctx.secrets, cluster_id))


@router.post(CLUSTER + "/cordon", response_model=list[ManagedNodePublic],
             summary="Cordon (停止调度) one node or a batch")
async def cordon(body: NodesBody, ctx: CtxDep, principal: CurrentPrincipal, session: SessionDep,
                 cluster_id: str = ClusterIdPath) -> list[ManagedNodePublic]:
    rows = await service.cordon(session, principal, ctx.secrets, cluster_id, body.nodes, unschedulable=True)
    return [node_public(r) for r in rows]


@router.post(CLUSTER + "/uncordon", response_model=list[ManagedNodePublic],
             summary="Uncordon (允许调度) one node or a batch")
async def uncordon(body: NodesBody, ctx: CtxDep, principal: CurrentPrincipal, session: SessionDep,
                   cluster_id: str = ClusterIdPath) -> list[ManagedNodePublic]:
    rows = await service.cordon(session, principal, ctx.secrets, cluster_id, body.nodes, unschedulable=False)
    return [node_public(r) for r in rows]


@router.post(CLUSTER + "/drain/preview", response_model=DrainPreview,
             summary="Which pods a drain would evict, skip or be refused by, and why (changes nothing)")
async def drain_preview(request: Request, body: DrainBody, ctx: CtxDep, principal: CurrentPrincipal,
                        session: SessionDep, cluster_id: str = ClusterIdPath) -> DrainPreview:
    plans = await service.drain_preview(session, principal, ctx.secrets, cluster_id, body.nodes, force=body.force,
                                        delete_emptydir_data=body.delete_emptydir_data)
    return DrainPreview(ok=not any(np.of("refuse") for np in plans), nodes=plans_public(plans, language_of(request)))


@router.post(CLUSTER + "/drain", response_model=DrainStarted, status_code=202,
             summary="Drain (Pod驱逐) nodes: a task that cordons, evicts through the Eviction API and waits")
async def drain(request: Request, body: DrainBody, ctx: CtxDep, principal: CurrentPrincipal, session: SessionDep,
                cluster_id: str = ClusterIdPath) -> DrainStarted:
    task, plans = await service.start_drain(
        session, principal, ctx.secrets, cluster_id, body.nodes, force=body.force,
        delete_emptydir_data=body.delete_emptydir_data, timeout_seconds=body.timeout_seconds,
        grace_period=body.grace_period)
    lang = language_of(request)
    return DrainStarted(task=task_detail(task, lang, principal), nodes=plans_public(plans, lang))


@router.post(CLUSTER + "/labels", response_model=list[ManagedNodePublic],
             summary="Set (key: value) or remove (key: null) labels on one node or a batch")
async def labels(body: LabelsBody, ctx: CtxDep, principal: CurrentPrincipal, session: SessionDep,
                 cluster_id: str = ClusterIdPath) -> list[ManagedNodePublic]:
    changes = [LabelChange(k, v) for k, v in body.labels.items()]
    rows = await service.label(session, principal, ctx.secrets, cluster_id, body.nodes, changes)
    return [node_public(r) for r in rows]


@router.post(CLUSTER + "/taints", response_model=list[ManagedNodePublic],
             summary="Add, change or remove taints on one node or a batch")
async def taints(body: TaintsBody, ctx: CtxDep, principal: CurrentPrincipal, session: SessionDep,
                 cluster_id: str = ClusterIdPath) -> list[ManagedNodePublic]:
    changes = [TaintChange(t.key, t.value, t.effect) for t in body.add]
    changes += [TaintChange(t.key, "", t.effect, remove=True) for t in body.remove]
    rows = await service.taint(session, principal, ctx.secrets, cluster_id, body.nodes, changes)
    return [node_public(r) for r in rows]


@router.get(CLUSTER + "/{node}", response_model=NodeDetailPublic,
            summary="A node now: conditions, addresses, capacity, its pods, recent events")
async def get_node(ctx: CtxDep, principal: CurrentPrincipal, session: SessionDep,
                   cluster_id: str = ClusterIdPath, node: str = NodePath) -> NodeDetailPublic:
    detail = await service.get_node(session, principal, ctx.secrets, cluster_id, node)
    status, meta = detail.node.get("status") or {}, detail.node.get("metadata") or {}
    return NodeDetailPublic(
        node=node_public(detail.record), conditions=list(status.get("conditions") or []),
        addresses=list(status.get("addresses") or []), capacity=dict(status.get("capacity") or {}),
        allocatable=dict(status.get("allocatable") or {}), node_info=dict(status.get("nodeInfo") or {}),
        annotations=dict(meta.get("annotations") or {}), pods=detail.pods, events=detail.events)


@router.delete(CLUSTER + "/{node}", response_model=ManagedNodePublic,
               summary="Remove a node from the cluster (only cordoned and drained, unless forced)")
async def remove(ctx: CtxDep, principal: CurrentPrincipal, session: SessionDep,
                 cluster_id: str = ClusterIdPath, node: str = NodePath,
                 force: bool = Query(default=False), confirm: str = Query(default="", max_length=253,
                                                                          description="The node name, when forced")
                 ) -> ManagedNodePublic:
    return node_public(await service.remove(session, principal, ctx.secrets, cluster_id, node, force=force,
                                            confirm=confirm))
