"""Clusters (R9, R12, R17, R19, R20): check a kubeconfig, import, list, show, overview, rotate, delete.

Thin: validate, call ``clusters.service``, return a schema. Rights are checked
in the service (``cluster_create`` to check and import, ``cluster_view`` to
read, ``cluster_manage`` to replace the credential, ``cluster_delete``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field

from shoal.api.deps import CtxDep, CurrentPrincipal, SessionDep
from shoal.api.problems import language_of
from shoal.api.schemas import Page
from shoal.clusters import service
from shoal.clusters.check import CheckReport
from shoal.clusters.models import Cluster, ClusterNode
from shoal.clusters.overview import as_dict
from shoal.clusters.settings import ClusterSettings
from shoal.core.i18n import translate
from shoal.iam.authz import Action, Principal, can

router = APIRouter(prefix="/api/v1/clusters", tags=["clusters"])
ClusterIdPath = Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9-]+$")
KUBECONFIG_MAX = 1_000_000


class ClusterCheckBody(BaseModel):
    project: str | None = Field(default=None, max_length=32,
                                description="Project to import into; without it, any project you may import into")
    kubeconfig: str = Field(max_length=KUBECONFIG_MAX)


class CheckItemPublic(BaseModel):
    name: str
    title: str
    passed: bool
    skipped: bool
    message: str
    hint: str | None
    warning: str | None


class CheckResult(BaseModel):
    ok: bool
    checks: list[CheckItemPublic]
    server: str = ""
    version: str = ""
    user: str = ""
    kube_system_uid: str = ""


class ClusterImport(BaseModel):
    project: str = Field(min_length=1, max_length=32)
    name: str = Field(min_length=1, max_length=64)
    environment: str = Field(default="prod", max_length=8, description="stag, debug or prod")
    description: str = Field(default="", max_length=1000)
    labels: dict[str, str] = Field(default_factory=dict, max_length=50)
    kubeconfig: str = Field(max_length=KUBECONFIG_MAX)


class CredentialBody(BaseModel):
    kubeconfig: str = Field(max_length=KUBECONFIG_MAX)


class ClusterPublic(BaseModel):
    id: str
    project_code: str
    name: str
    environment: str
    description: str
    labels: dict[str, Any]
    provider: str
    import_method: str
    status: str
    status_message: str
    server_url: str
    version: str
    master_count: int
    node_count: int
    credential_user: str
    creator: str
    created_at: datetime
    updated_at: datetime
    import_task_id: str | None
    health_error: str
    health_failing_since: datetime | None
    health_checked_at: datetime | None


class ClusterDetail(ClusterPublic):
    kube_system_uid: str
    credential_updated_at: datetime | None
    can_manage: bool
    can_delete: bool


class NodePublic(BaseModel):
    name: str
    role: str
    internal_ip: str
    ready: bool
    unschedulable: bool
    kubelet_version: str
    os_image: str
    container_runtime: str
    cpu_capacity: float
    memory_capacity: float
    synced_at: datetime


class RotateResult(BaseModel):
    cluster: ClusterDetail
    check: CheckResult


class Deleted(BaseModel):
    id: str
    status: str
    note: str


class NodeCountsPublic(BaseModel):
    total: int
    ready: int
    not_ready: int
    scheduling_disabled: int


class ResourcePublic(BaseModel):
    capacity: float
    allocatable: float
    requested: float
    requested_share: float | None
    usage: float | None = Field(description="From metrics.k8s.io; null when the cluster does not serve it.")
    usage_share: float | None


class PodsPublic(BaseModel):
    capacity: int
    allocatable: int
    running: int
    total: int


class WarningEventPublic(BaseModel):
    time: str
    namespace: str
    object: str
    reason: str
    message: str
    count: int


class OverviewPublic(BaseModel):
    cluster_id: str
    status: str
    version: str
    masters: NodeCountsPublic
    nodes: NodeCountsPublic
    cpu: ResourcePublic
    memory: ResourcePublic
    pods: PodsPublic
    namespaces: int
    metrics_available: bool
    only_masters: bool
    warnings: list[WarningEventPublic]
    notes: list[str] = Field(description="Localised remarks (only masters; metrics not available).")
    generated_at: datetime


def cluster_settings(request: Request) -> ClusterSettings:
    settings: ClusterSettings | None = getattr(request.app.state, "cluster_settings", None)
    if settings is None:
        settings = request.app.state.cluster_settings = ClusterSettings()
    return settings


def check_result(report: CheckReport, lang: str) -> CheckResult:
    return CheckResult(
        ok=report.ok, checks=[CheckItemPublic(**i.render(lang)) for i in report.items],
        server=report.parsed.credential.server if report.parsed else "", version=report.version, user=report.user,
        kube_system_uid=report.kube_system_uid,
    )


def cluster_public(cluster: Cluster) -> ClusterPublic:
    return ClusterPublic.model_validate(cluster, from_attributes=True)


def cluster_detail(cluster: Cluster, principal: Principal) -> ClusterDetail:
    return ClusterDetail(**cluster_public(cluster).model_dump(), kube_system_uid=cluster.kube_system_uid,
                         credential_updated_at=cluster.credential_updated_at,
                         can_manage=can(principal, Action.CLUSTER_MANAGE, cluster),
                         can_delete=can(principal, Action.CLUSTER_DELETE, cluster))


def node_public(node: ClusterNode) -> NodePublic:
    return NodePublic.model_validate(node, from_attributes=True)


@router.post("/check", response_model=CheckResult, summary="Test a kubeconfig (有效性测试) without importing it")
async def check(request: Request, body: ClusterCheckBody, principal: CurrentPrincipal,
                session: SessionDep) -> CheckResult:
    report = await service.check(session, principal, body.project, body.kubeconfig, cluster_settings(request))
    return check_result(report, language_of(request))


@router.post("", response_model=ClusterDetail, status_code=201,
             summary="Import a cluster by kubeconfig (the check runs again first)")
async def import_cluster(request: Request, body: ClusterImport, ctx: CtxDep, principal: CurrentPrincipal,
                         session: SessionDep) -> ClusterDetail:
    cluster = await service.import_cluster(
        session, principal, ctx.secrets, project_code=body.project, name=body.name, kubeconfig=body.kubeconfig,
        settings=cluster_settings(request), environment=body.environment, description=body.description,
        labels=body.labels)
    return cluster_detail(cluster, principal)


@router.get("", response_model=Page[ClusterPublic], summary="Clusters you may view, newest first")
async def list_clusters(
    principal: CurrentPrincipal, session: SessionDep,
    project: str | None = Query(default=None, max_length=32),
    status: str | None = Query(default=None, max_length=16),
    environment: str | None = Query(default=None, max_length=8),
    search: str = Query(default="", max_length=64),
    include_deleted: bool = Query(default=False),
    limit: int = Query(default=50, ge=1, le=500), offset: int = Query(default=0, ge=0, le=2**31),
) -> Page[ClusterPublic]:
    flt = service.ClusterFilter(project_code=project, status=status, environment=environment, search=search,
                                include_deleted=include_deleted)
    page = await service.list_clusters(session, principal, flt, limit=limit, offset=offset)
    return Page(items=[cluster_public(c) for c in page.items], total=page.total, limit=limit, offset=offset)


@router.get("/{cluster_id}", response_model=ClusterDetail, summary="A cluster")
async def get_cluster(principal: CurrentPrincipal, session: SessionDep,
                      cluster_id: str = ClusterIdPath) -> ClusterDetail:
    cluster = await service.get_cluster(session, principal, cluster_id)
    return cluster_detail(cluster, principal)


@router.get("/{cluster_id}/nodes", response_model=list[NodePublic], summary="Nodes as last synced")
async def list_nodes(principal: CurrentPrincipal, session: SessionDep,
                     cluster_id: str = ClusterIdPath) -> list[NodePublic]:
    cluster = await service.get_cluster(session, principal, cluster_id)
    return [node_public(n) for n in await service.list_nodes(session, cluster)]


@router.get("/{cluster_id}/overview", response_model=OverviewPublic, summary="Live overview (总览) of a cluster")
async def get_overview(request: Request, ctx: CtxDep, principal: CurrentPrincipal, session: SessionDep,
                       cluster_id: str = ClusterIdPath) -> OverviewPublic:
    data = await service.overview(session, principal, ctx.secrets, cluster_id, cluster_settings(request))
    cluster = await service.get_cluster(session, principal, cluster_id)
    lang = language_of(request)
    values = as_dict(data)
    values["notes"] = [translate(key, lang) for key in values["notes"]]
    return OverviewPublic(cluster_id=cluster.id, status=cluster.status, **values)


@router.put("/{cluster_id}/credential", response_model=RotateResult,
            summary="Replace the kubeconfig with one for the same cluster (same kube-system UID)")
async def rotate_credential(request: Request, body: CredentialBody, ctx: CtxDep, principal: CurrentPrincipal,
                            session: SessionDep, cluster_id: str = ClusterIdPath) -> RotateResult:
    cluster, report = await service.rotate_credential(session, principal, ctx.secrets, cluster_id, body.kubeconfig,
                                                      cluster_settings(request))
    return RotateResult(cluster=cluster_detail(cluster, principal), check=check_result(report, language_of(request)))


@router.delete("/{cluster_id}", response_model=Deleted,
               summary="Delete a cluster from Shoal (confirm with its id); nothing inside the cluster changes")
async def delete_cluster(request: Request, principal: CurrentPrincipal, session: SessionDep,
                         cluster_id: str = ClusterIdPath,
                         confirm: str = Query(default="", max_length=32,
                                              description="The cluster id again")) -> Deleted:
    cluster = await service.delete_cluster(session, principal, cluster_id, confirm)
    return Deleted(id=cluster.id, status=cluster.status,
                   note=translate("cluster.deleted_note", language_of(request), id=cluster.id))


__all__ = ["check_result", "cluster_detail", "cluster_public", "router"]
