"""Node management pages (节点管理, R16): the node tab of a cluster, node detail, drain and label/taint editors.

Who uses it: people on the cluster page follow its "Nodes" link to
``/projects/{code}/clusters/{id}/nodes``. The list has batch selection (check
boxes, at most ``NodeSettings.batch_limit`` nodes) and actions: cordon and
uncordon at once; drain through a confirmation page that lists every pod the
drain touches and why (evict, skip, refuse) before the task starts, then the
drain task's live log (``/tasks/{id}``); labels and taints through editors
that show a batch's differing values as mixed. Rights, validation and audit
are ``nodes.service``'s, as for the API; refusals come back next to the form.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shoal.api.deps import CtxDep, SessionDep
from shoal.api.problems import language_of
from shoal.api.routes.nodes import node_public
from shoal.clusters import service as clusters
from shoal.core.errors import NotFound
from shoal.core.i18n import translate
from shoal.iam.authz import Action, Principal, can
from shoal.nodes import service
from shoal.nodes.drain import DRAIN_TASK, plan_dict
from shoal.nodes.sync import NodeStatus
from shoal.nodes.validation import EFFECTS, LabelChange, TaintChange, parse_label_args, parse_taint_args
from shoal.projects import service as projects
from shoal.tasks.models import Task
from shoal.web.areas.projects import tabs_for
from shoal.web.deps import FormError, PagePrincipal, attempt
from shoal.web.paging import Pager, page_number
from shoal.web.render import redirect, render

__all__ = ["nav", "router"]

router = APIRouter(include_in_schema=False)
nav = ()

CodePath = Annotated[str, Path(min_length=1, max_length=32)]
ClusterIdPath = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9-]+$")]
NodePath = Annotated[str, Path(min_length=1, max_length=253)]
NodesForm = Annotated[list[str], Form(max_length=1000)]
STATUSES = [s.value for s in NodeStatus]
SORTS = ["name", "-name", "status", "cpu", "-cpu", "memory", "-memory", "pods", "-pods", "age", "-age"]


async def _context(session: AsyncSession, principal: Principal, code: str, cluster_id: str) -> dict[str, Any]:
    cluster = await clusters.get_cluster(session, principal, cluster_id)
    if cluster.project_code != code:
        raise NotFound("error.cluster_not_found", id=cluster_id)
    project = await projects.get_project(session, principal, code)
    return {"project": project, "tabs": tabs_for(principal, project), "tab": "/clusters", "cluster": cluster,
            "may_manage": can(principal, Action.CLUSTER_MANAGE, cluster),
            "base": f"/projects/{code}/clusters/{cluster_id}/nodes",
            "batch_limit": service.NodeSettings().batch_limit}


async def _list_page(request: Request, session: AsyncSession, ctx: Any, principal: Principal, code: str,
                     cluster_id: str, params: dict[str, str], page: int, *, refresh: bool = False,
                     error: FormError | None = None) -> Response:
    context = await _context(session, principal, code, cluster_id)
    pager = Pager(page=page)
    flt = service.NodeFilter(search=params["q"], statuses=(params["status"],) if params["status"] else (),
                             role=params["role"], label=params["label"])
    result = await attempt(request, session, principal, service.list_nodes(
        session, principal, ctx.secrets, flt, cluster_id=cluster_id, sort=params["sort"] or "name",
        limit=pager.size, offset=pager.offset, refresh_now=refresh), action="node.list", target_type="cluster",
        target_id=cluster_id, project_code=code)
    sync_error = None
    if isinstance(result, FormError):
        rows, total, synced, error = [], 0, None, error or result
    else:
        rows, total, synced = [node_public(n) for n in result.items], result.total, result.synced_at
        if result.sync_error is not None:
            sync_error = translate(result.sync_error.message_key, language_of(request), **result.sync_error.params)
    return render(request, "nodes/list.html", {
        **context, "rows": rows, "drains": await _recent_drains(session, cluster_id),
        "pager": Pager(page=page, total=total), "params": params, "synced_at": synced,
        "statuses": STATUSES, "sorts": SORTS, "error": error, "sync_error": sync_error,
        "filtered": any(params[k] for k in ("q", "status", "role", "label")),
    }, status=error.status if error else 200)


async def _recent_drains(session: AsyncSession, cluster_id: str) -> dict[str, Task]:
    """The newest drain task of each node among the cluster's last 50 drains (for links to their logs)."""
    rows = await session.scalars(select(Task).where(Task.cluster_id == cluster_id, Task.task_type == DRAIN_TASK)
                                 .order_by(Task.created_at.desc()).limit(50))
    latest: dict[str, Task] = {}
    for task in rows.all():
        for name in (task.params or {}).get("nodes") or []:
            latest.setdefault(str(name), task)
    return latest


def _params(q: str, status: str, role: str, label: str, sort: str) -> dict[str, str]:
    return {"q": q.strip(), "status": status.upper(), "role": role.strip(), "label": label.strip(), "sort": sort}


@router.get("/projects/{code}/clusters/{cluster_id}/nodes")
async def node_list(
    request: Request, code: CodePath, cluster_id: ClusterIdPath, principal: PagePrincipal, session: SessionDep,
    ctx: CtxDep, q: Annotated[str, Query(max_length=253)] = "", status: Annotated[str, Query(max_length=16)] = "",
    role: Annotated[str, Query(max_length=63)] = "", label: Annotated[str, Query(max_length=400)] = "",
    sort: Annotated[str, Query(max_length=16)] = "name", page: Annotated[str | None, Query(max_length=12)] = None,
    refresh: Annotated[str, Query(max_length=5)] = "",
) -> Response:
    return await _list_page(request, session, ctx, principal, code, cluster_id, _params(q, status, role, label, sort),
                            page_number(page), refresh=bool(refresh))


@router.post("/projects/{code}/clusters/{cluster_id}/nodes/batch")
async def batch_action(
    request: Request, code: CodePath, cluster_id: ClusterIdPath, principal: PagePrincipal, session: SessionDep,
    ctx: CtxDep, action: Annotated[str, Form(max_length=16)], nodes: NodesForm = [],  # noqa: B006
) -> Response:
    """The list's batch buttons: cordon/uncordon at once; drain, labels and taints open their page."""
    base = f"/projects/{code}/clusters/{cluster_id}/nodes"
    if action in ("drain", "labels", "taints"):
        return await _editor(request, session, ctx, principal, code, cluster_id, action, nodes)
    unschedulable = action != "uncordon"
    outcome = await attempt(request, session, principal, service.cordon(
        session, principal, ctx.secrets, cluster_id, nodes, unschedulable=unschedulable),
        action=f"node.{'cordon' if unschedulable else 'uncordon'}", target_type="cluster", target_id=cluster_id,
        project_code=code)
    if isinstance(outcome, FormError):
        return await _list_page(request, session, ctx, principal, code, cluster_id,
                                _params("", "", "", "", "name"), 1, error=outcome)
    await session.commit()
    key = "ui.flash.node_cordoned" if unschedulable else "ui.flash.node_uncordoned"
    return redirect(base, flash_key=key, names=", ".join(n.name for n in outcome))


async def _editor(request: Request, session: AsyncSession, ctx: Any, principal: Principal, code: str,
                  cluster_id: str, kind: str, nodes: list[str], *, force: bool = False, allow: bool = False,
                  error: FormError | None = None, form: dict[str, str] | None = None) -> Response:
    context = await _context(session, principal, code, cluster_id)
    lang = language_of(request)
    data: dict[str, Any] = {"kind": kind, "nodes": nodes, "force": force, "allow": allow, "form": form or {},
                            "effects": EFFECTS}
    if kind == "drain":
        plans = await attempt(request, session, principal, service.drain_preview(
            session, principal, ctx.secrets, cluster_id, nodes, force=force, delete_emptydir_data=allow),
            action="node.drain", target_type="cluster", target_id=cluster_id, project_code=code)
        if isinstance(plans, FormError):
            error = error or plans
            data["plans"] = []
        else:
            data["plans"] = plan_dict(plans, lang)
            data["blocked"] = any(p["refuse"] for p in data["plans"])
    else:
        values = await attempt(request, session, principal, service.batch_values(session, principal, cluster_id,
                                                                                 nodes),
                               action=f"node.{kind}", target_type="cluster", target_id=cluster_id, project_code=code)
        if isinstance(values, FormError):
            error = error or values
            values = {"nodes": nodes, "labels": {}, "taints": {}}
        data["values"] = values
    if error is not None and not nodes:
        return await _list_page(request, session, ctx, principal, code, cluster_id,
                                _params("", "", "", "", "name"), 1, error=error)
    return render(request, f"nodes/{kind}.html", {**context, **data, "error": error},
                  status=error.status if error else 200)


@router.post("/projects/{code}/clusters/{cluster_id}/nodes/drain")
async def drain(
    request: Request, code: CodePath, cluster_id: ClusterIdPath, principal: PagePrincipal, session: SessionDep,
    ctx: CtxDep, nodes: NodesForm = [],  # noqa: B006
    force: Annotated[bool, Form()] = False, delete_emptydir_data: Annotated[bool, Form()] = False,
    timeout_seconds: Annotated[float, Form(ge=1, le=86400)] = 300, step: Annotated[str, Form(max_length=8)] = "start",
) -> Response:
    """``step=preview`` shows the pods again (after changing the options); ``start`` queues the drain task."""
    if step == "preview":
        return await _editor(request, session, ctx, principal, code, cluster_id, "drain", nodes, force=force,
                             allow=delete_emptydir_data)
    outcome = await attempt(request, session, principal, service.start_drain(
        session, principal, ctx.secrets, cluster_id, nodes, force=force, delete_emptydir_data=delete_emptydir_data,
        timeout_seconds=timeout_seconds), action="node.drain", target_type="cluster", target_id=cluster_id,
        project_code=code)
    if isinstance(outcome, FormError):
        return await _editor(request, session, ctx, principal, code, cluster_id, "drain", nodes, force=force,
                             allow=delete_emptydir_data, error=outcome)
    await session.commit()
    task, _ = outcome
    return redirect(f"/tasks/{task.id}", flash_key="ui.flash.node_drain_started", names=", ".join(nodes))


def _lines(text: str) -> list[str]:
    return [part for line in text.splitlines() for part in line.split() if part]


@router.post("/projects/{code}/clusters/{cluster_id}/nodes/labels")
async def labels(
    request: Request, code: CodePath, cluster_id: ClusterIdPath, principal: PagePrincipal, session: SessionDep,
    ctx: CtxDep, nodes: NodesForm = [],  # noqa: B006
    changes: Annotated[str, Form(max_length=20000)] = "", remove: Annotated[list[str], Form(max_length=200)] = [],  # noqa: B006
) -> Response:
    """Apply ``key=value`` lines (set) and the keys ticked for removal."""
    async def apply() -> Any:
        parsed = parse_label_args(_lines(changes)) + [LabelChange(k, None) for k in remove]
        return await service.label(session, principal, ctx.secrets, cluster_id, nodes, parsed)

    outcome = await attempt(request, session, principal, apply(), action="node.label", target_type="cluster",
                            target_id=cluster_id, project_code=code)
    if isinstance(outcome, FormError):
        return await _editor(request, session, ctx, principal, code, cluster_id, "labels", nodes, error=outcome,
                             form={"changes": changes})
    await session.commit()
    return redirect(f"/projects/{code}/clusters/{cluster_id}/nodes", flash_key="ui.flash.node_labels",
                    names=", ".join(nodes))


@router.post("/projects/{code}/clusters/{cluster_id}/nodes/taints")
async def taints(
    request: Request, code: CodePath, cluster_id: ClusterIdPath, principal: PagePrincipal, session: SessionDep,
    ctx: CtxDep, nodes: NodesForm = [],  # noqa: B006
    key: Annotated[str, Form(max_length=317)] = "", value: Annotated[str, Form(max_length=63)] = "",
    effect: Annotated[str, Form(max_length=32)] = "", changes: Annotated[str, Form(max_length=20000)] = "",
    remove: Annotated[list[str], Form(max_length=200)] = [],  # noqa: B006
) -> Response:
    """Add or change one taint (key, value, effect) and/or kubectl-style lines; remove the ticked ones."""
    async def apply() -> Any:
        parsed = parse_taint_args(_lines(changes))
        if key.strip():
            parsed.append(TaintChange(key.strip(), value.strip(), effect or None))
        for item in remove:
            k, _, e = item.partition(":")
            parsed.append(TaintChange(k, "", e or None, remove=True))
        return await service.taint(session, principal, ctx.secrets, cluster_id, nodes, parsed)

    outcome = await attempt(request, session, principal, apply(), action="node.taint", target_type="cluster",
                            target_id=cluster_id, project_code=code)
    if isinstance(outcome, FormError):
        return await _editor(request, session, ctx, principal, code, cluster_id, "taints", nodes, error=outcome,
                             form={"key": key, "value": value, "effect": effect, "changes": changes})
    await session.commit()
    return redirect(f"/projects/{code}/clusters/{cluster_id}/nodes", flash_key="ui.flash.node_taints",
                    names=", ".join(nodes))


async def _detail_page(request: Request, session: AsyncSession, ctx: Any, principal: Principal, code: str,
                       cluster_id: str, name: str, *, error: FormError | None = None) -> Response:
    context = await _context(session, principal, code, cluster_id)
    detail = await service.get_node(session, principal, ctx.secrets, cluster_id, name)
    status = detail.node.get("status") or {}
    return render(request, "nodes/detail.html", {
        **context, "node": node_public(detail.record), "conditions": status.get("conditions") or [],
        "addresses": status.get("addresses") or [], "capacity": status.get("capacity") or {},
        "allocatable": status.get("allocatable") or {}, "pods": detail.pods, "events": detail.events,
        "error": error}, status=error.status if error else 200)


@router.get("/projects/{code}/clusters/{cluster_id}/nodes/{name}")
async def node_detail(request: Request, code: CodePath, cluster_id: ClusterIdPath, name: NodePath,
                      principal: PagePrincipal, session: SessionDep, ctx: CtxDep) -> Response:
    return await _detail_page(request, session, ctx, principal, code, cluster_id, name)


@router.post("/projects/{code}/clusters/{cluster_id}/nodes/{name}/remove")
async def remove(request: Request, code: CodePath, cluster_id: ClusterIdPath, name: NodePath,
                 principal: PagePrincipal, session: SessionDep, ctx: CtxDep,
                 force: Annotated[bool, Form()] = False,
                 confirm: Annotated[str, Form(max_length=253)] = "") -> Response:
    outcome = await attempt(request, session, principal, service.remove(
        session, principal, ctx.secrets, cluster_id, name, force=force, confirm=confirm.strip()),
        action="node.remove", target_type="cluster", target_id=cluster_id, project_code=code)
    if isinstance(outcome, FormError):
        return await _detail_page(request, session, ctx, principal, code, cluster_id, name, error=outcome)
    await session.commit()
    return redirect(f"/projects/{code}/clusters/{cluster_id}/nodes", flash_key="ui.flash.node_removed", name=name)
