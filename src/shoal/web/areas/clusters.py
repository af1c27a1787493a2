"""Cluster pages: the project's cluster list, the import page (测试可用性 then 导入), the cluster page (总览).

Who uses it: the "Clusters" tab of an enabled project. The import page tests
the kubeconfig through ``POST /api/v1/clusters/check`` (``static/js/clusters.js``)
and keeps the import button disabled until that test passes; editing the
kubeconfig disables it again. The import itself is a plain form post: the
server checks again and imports only on success. The cluster page shows the
live overview (R12), the nodes as last synced and the import task's log.
Rights and scoping are the cluster service's, as for the API.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from shoal.api.deps import CtxDep, SessionDep
from shoal.api.problems import language_of
from shoal.api.routes.clusters import cluster_detail, cluster_settings
from shoal.clusters import service
from shoal.clusters.models import ClusterStatus, Environment
from shoal.clusters.overview import as_dict
from shoal.core.errors import NotFound, ShoalError
from shoal.core.i18n import translate
from shoal.iam.authz import Action, Principal, can, require
from shoal.projects import service as projects
from shoal.tasks import service as tasks
from shoal.web.areas.projects import ProjectTab, project_tabs, tabs_for
from shoal.web.areas.tasks import viewer_context
from shoal.web.deps import FormError, PagePrincipal, attempt
from shoal.web.paging import Pager, page_number
from shoal.web.render import redirect, render

__all__ = ["nav", "router"]

router = APIRouter(include_in_schema=False)
nav = ()

TAB = ProjectTab("cluster.tab", "/clusters", Action.CLUSTER_VIEW, needs_enabled=True)
if TAB not in project_tabs:
    project_tabs.append(TAB)

CodePath = Annotated[str, Path(min_length=1, max_length=32)]
ClusterIdPath = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9-]+$")]
STATUSES = tuple(s.value for s in ClusterStatus if s is not ClusterStatus.DELETED)
ENVIRONMENTS = tuple(e.value for e in Environment)


def _status_labels(lang: str) -> dict[str, str]:
    return {s.value: translate(f"cluster.status.{s.value}", lang) for s in ClusterStatus}


async def _project_context(session: AsyncSession, principal: Principal, code: str) -> dict[str, Any]:
    project = await projects.get_project(session, principal, code)
    return {"project": project, "tabs": tabs_for(principal, project), "tab": "/clusters"}


@router.get("/projects/{code}/clusters")
async def cluster_list(
    request: Request, code: CodePath, principal: PagePrincipal, session: SessionDep,
    q: Annotated[str, Query(max_length=64)] = "", status: Annotated[str, Query(max_length=16)] = "",
    environment: Annotated[str, Query(max_length=8)] = "", page: str = "1",
) -> Response:
    context = await _project_context(session, principal, code)
    params = {"q": q.strip(), "status": status if status in STATUSES else "",
              "environment": environment if environment in ENVIRONMENTS else ""}
    first = Pager(page=page_number(page))
    result = await service.list_clusters(session, principal, service.ClusterFilter(
        project_code=code, status=params["status"] or None, environment=params["environment"] or None,
        search=params["q"]), limit=first.size, offset=first.offset)
    return render(request, "clusters/list.html", {
        **context, "rows": result.items, "pager": Pager(page=first.page, total=result.total), "params": params,
        "filtered": any(params.values()), "statuses": STATUSES, "environments": ENVIRONMENTS,
        "labels": _status_labels(language_of(request)),
        "may_import": can(principal, Action.CLUSTER_CREATE, context["project"]),
    })


async def _import_page(request: Request, session: AsyncSession, principal: Principal, code: str, *,
                       form: dict[str, str] | None = None, error: FormError | None = None) -> Response:
    context = await _project_context(session, principal, code)
    require(principal, Action.CLUSTER_CREATE, context["project"])
    return render(request, "clusters/import.html", {
        **context, "form": form or {"environment": "prod"}, "error": error, "environments": ENVIRONMENTS,
    }, status=error.status if error else 200)


@router.get("/projects/{code}/clusters/import")
async def import_page(request: Request, code: CodePath, principal: PagePrincipal, session: SessionDep) -> Response:
    return await _import_page(request, session, principal, code)


def _labels(text: str) -> dict[str, str]:
    labels: dict[str, str] = {}
    for line in text.replace(",", "\n").splitlines():
        key, sep, value = line.strip().partition("=")
        if key.strip():
            labels[key.strip()] = value.strip() if sep else ""
    return labels


@router.post("/projects/{code}/clusters/import")
async def import_cluster(
    request: Request, code: CodePath, principal: PagePrincipal, session: SessionDep, ctx: CtxDep,
    name: Annotated[str, Form(max_length=64)] = "", environment: Annotated[str, Form(max_length=8)] = "prod",
    description: Annotated[str, Form(max_length=1000)] = "", labels: Annotated[str, Form(max_length=4000)] = "",
    kubeconfig: Annotated[str, Form(max_length=1_000_000)] = "",
) -> Response:
    outcome = await attempt(request, session, principal, service.import_cluster(
        session, principal, ctx.secrets, project_code=code, name=name, kubeconfig=kubeconfig,
        settings=cluster_settings(request), environment=environment, description=description,
        labels=_labels(labels)), action="cluster.import", target_type="cluster", project_code=code)
    if isinstance(outcome, FormError):
        form = {"name": name, "environment": environment, "description": description, "labels": labels,
                "kubeconfig": kubeconfig}
        return await _import_page(request, session, principal, code, form=form, error=outcome)
    await session.commit()
    return redirect(f"/projects/{code}/clusters/{outcome.id}", flash_key="ui.flash.cluster_imported", id=outcome.id,
                    task=outcome.import_task_id or "")


async def _cluster_page(request: Request, session: AsyncSession, ctx: Any, principal: Principal, code: str,
                        cluster_id: str, *, error: FormError | None = None) -> Response:
    cluster = await service.get_cluster(session, principal, cluster_id)
    if cluster.project_code != code:
        raise NotFound("error.cluster_not_found", id=cluster_id)
    context = await _project_context(session, principal, code)
    lang = language_of(request)
    overview: dict[str, Any] | None = None
    overview_error: str | None = None
    if cluster.status in (ClusterStatus.RUNNING.value, ClusterStatus.CONNECT_FAILURE.value):
        try:
            data = as_dict(await service.overview(session, principal, ctx.secrets, cluster_id,
                                                  cluster_settings(request)))
            data["notes"] = [translate(key, lang) for key in data["notes"]]
            overview = data
        except ShoalError as e:
            overview_error = translate(e.message_key, lang, **e.params)
    task_context: dict[str, Any] = {}
    if cluster.import_task_id:
        try:
            task = await tasks.get_task(session, principal, cluster.import_task_id)
            task_context = await viewer_context(request, session, principal, task)
        except ShoalError:
            task_context = {}
    return render(request, "clusters/detail.html", {
        **context, **task_context, "cluster": cluster_detail(cluster, principal), "overview": overview,
        "overview_error": overview_error, "nodes": await service.list_nodes(session, cluster),
        "labels_status": _status_labels(lang), "has_task": bool(task_context), "error": error,
    }, status=error.status if error else 200)


@router.get("/projects/{code}/clusters/{cluster_id}")
async def cluster_page(request: Request, code: CodePath, cluster_id: ClusterIdPath, principal: PagePrincipal,
                       session: SessionDep, ctx: CtxDep) -> Response:
    return await _cluster_page(request, session, ctx, principal, code, cluster_id)


@router.post("/projects/{code}/clusters/{cluster_id}/delete")
async def delete_cluster(request: Request, code: CodePath, cluster_id: ClusterIdPath, principal: PagePrincipal,
                         session: SessionDep, ctx: CtxDep,
                         confirm: Annotated[str, Form(max_length=32)] = "") -> Response:
    outcome = await attempt(request, session, principal, service.delete_cluster(session, principal, cluster_id,
                                                                                confirm.strip()),
                            action="cluster.delete", target_type="cluster", target_id=cluster_id, project_code=code)
    if isinstance(outcome, FormError):
        return await _cluster_page(request, session, ctx, principal, code, cluster_id, error=outcome)
    await session.commit()
    return redirect(f"/projects/{code}/clusters", flash_key="ui.flash.cluster_deleted", level="info", id=cluster_id)


@router.post("/projects/{code}/clusters/{cluster_id}/credential")
async def rotate_credential(request: Request, code: CodePath, cluster_id: ClusterIdPath, principal: PagePrincipal,
                            session: SessionDep, ctx: CtxDep,
                            kubeconfig: Annotated[str, Form(max_length=1_000_000)] = "") -> Response:
    """Replace the kubeconfig with one for the same cluster (the check runs again, same kube-system UID)."""
    outcome = await attempt(request, session, principal, service.rotate_credential(
        session, principal, ctx.secrets, cluster_id, kubeconfig, cluster_settings(request)),
        action="cluster.credential.rotate", target_type="cluster", target_id=cluster_id, project_code=code)
    if isinstance(outcome, FormError):
        return await _cluster_page(request, session, ctx, principal, code, cluster_id, error=outcome)
    await session.commit()
    return redirect(f"/projects/{code}/clusters/{cluster_id}", flash_key="ui.flash.cluster_credential",
                    id=cluster_id)
