"""The task viewer (R11, 查看日志): a task list, and a task page with its step timeline, live log and actions.

Who uses it: the sidebar's Tasks entry, and cluster and node pages, which embed
one task's viewer with ``{% include "tasks/_viewer.html" %}`` (context from
:func:`viewer_context`) or load it with htmx from ``/tasks/{id}/panel``. The
live part is ``static/js/tasks.js``: it follows ``/api/v1/tasks/{id}/stream``
(Server-Sent Events) and updates the timeline, the status and the log in place.
Scoping and permissions are the task service's, as for the API.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from shoal.api.deps import SessionDep
from shoal.api.problems import language_of
from shoal.api.routes.tasks import task_detail
from shoal.core.i18n import translate
from shoal.iam.authz import Principal
from shoal.tasks import service
from shoal.tasks.models import StepStatus, Task, TaskStatus
from shoal.web.deps import FormError, PagePrincipal, attempt
from shoal.web.nav import NavItem
from shoal.web.paging import Pager, page_number
from shoal.web.render import redirect, render

__all__ = ["nav", "router", "viewer_context"]

router = APIRouter(include_in_schema=False)
nav = (NavItem("ui.nav.tasks", "/tasks", "tasks", order=25),)

STATUSES = tuple(s.value for s in TaskStatus)
TaskIdPath = Annotated[str, Path(min_length=1, max_length=36, pattern=r"^[0-9a-f]+$")]
#: Lines rendered with the page; the live stream continues from the last of them.
PAGE_LOG_LINES = 2000
OPERATIONS = {"retry": service.retry_task, "skip": service.skip_step, "cancel": service.cancel_task}


def _labels(lang: str) -> dict[str, str]:
    names = [*STATUSES, *(s.value for s in StepStatus)]
    return {name: translate(f"task.status.{name}", lang) for name in names}


async def viewer_context(request: Request, session: SessionDep, principal: Principal, task: Task) -> dict[str, Any]:
    """What ``tasks/_viewer.html`` needs for ``task`` (already authorised by ``service.get_task``)."""
    lang = language_of(request)
    detail = task_detail(task, lang, principal)
    lines = await service.read_logs(session, task, limit=PAGE_LOG_LINES)
    return {"task": detail, "logs": lines, "cursor": lines[-1].id if lines else 0, "labels": _labels(lang),
            "final": task.is_final}


@router.get("/tasks")
async def tasks_page(
    request: Request, principal: PagePrincipal, session: SessionDep,
    project: Annotated[str, Query(max_length=32)] = "",
    cluster: Annotated[str, Query(max_length=64)] = "",
    type: Annotated[str, Query(max_length=64)] = "",
    status: Annotated[str, Query(max_length=16)] = "",
    page: str = "1",
) -> Response:
    params = {"project": project.strip(), "cluster": cluster.strip(), "type": type.strip(),
              "status": status if status in STATUSES else ""}
    flt = service.TaskFilter(project_code=params["project"] or None, cluster_id=params["cluster"] or None,
                             task_type=params["type"] or None, status=params["status"] or None)
    first = Pager(page=page_number(page))
    result = await service.list_tasks(session, principal, flt, limit=first.size, offset=first.offset)
    pager = Pager(page=first.page, total=result.total)
    lang = language_of(request)
    return render(request, "tasks/list.html", {
        "rows": [task_detail(t, lang, principal) for t in result.items], "pager": pager, "params": params,
        "statuses": STATUSES, "filtered": any(params.values()), "labels": _labels(lang),
    })


@router.get("/tasks/{task_id}")
async def task_page(request: Request, principal: PagePrincipal, session: SessionDep, task_id: TaskIdPath,
                    error: FormError | None = None) -> Response:
    task = await service.get_task(session, principal, task_id)
    context = await viewer_context(request, session, principal, task)
    return render(request, "tasks/detail.html", {**context, "error": error},
                  status=error.status if error else 200)


@router.get("/tasks/{task_id}/panel")
async def task_panel(request: Request, principal: PagePrincipal, session: SessionDep, task_id: TaskIdPath) -> Response:
    """The viewer alone, for pages that load it with htmx."""
    task = await service.get_task(session, principal, task_id)
    return render(request, "tasks/panel.html", await viewer_context(request, session, principal, task))


@router.post("/tasks/{task_id}/{operation}")
async def task_operation(request: Request, principal: PagePrincipal, session: SessionDep, task_id: TaskIdPath,
                         operation: Annotated[str, Path(pattern="^(retry|skip|cancel)$")]) -> Response:
    outcome = await attempt(request, session, principal, OPERATIONS[operation](session, principal, task_id),
                            action=f"task.{operation}", target_type="task", target_id=task_id)
    if isinstance(outcome, FormError):
        return await task_page(request, principal, session, task_id, error=outcome)
    back = request.headers.get("hx-current-url") or ""
    return redirect(back if back.startswith("/") else f"/tasks/{task_id}")
