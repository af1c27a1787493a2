"""Tasks (R11): list, detail with steps, logs with a cursor, a live SSE stream, retry/skip/cancel.

Reading needs ``cluster_view`` on the task's project, steering ``cluster_manage``
(checked in ``tasks.service``). The stream polls the database, so it works on
any replica whichever worker runs the task.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from shoal.api.deps import CtxDep, CurrentPrincipal, SessionDep
from shoal.api.problems import language_of
from shoal.api.schemas import Page
from shoal.context import AppContext
from shoal.iam.authz import Action, Principal, can
from shoal.tasks import demo as _demo  # noqa: F401  (registers the startable demo task type)
from shoal.tasks import service
from shoal.tasks.models import Task, TaskLog, TaskStep
from shoal.tasks.registry import REGISTRY

router = APIRouter(prefix="/api/v1/tasks", tags=["tasks"])
TaskIdPath = Path(min_length=1, max_length=36, pattern=r"^[0-9a-f]+$")
STREAM_POLL_SECONDS = 0.5
#: A comment line keeps proxies from closing an idle stream (most time out after 60 s).
STREAM_PING_SECONDS = 15.0
#: A stream is closed after this long; EventSource reconnects by itself and resumes at Last-Event-ID.
STREAM_MAX_SECONDS = 600.0


class TaskStepPublic(BaseModel):
    name: str
    title: str
    status: str
    attempts: int
    max_retries: int
    timeout_seconds: float
    allow_skip: bool
    message: str
    started_at: datetime | None
    finished_at: datetime | None
    duration_seconds: float | None


class TaskPublic(BaseModel):
    id: str
    task_type: str
    title: str
    status: str
    message: str
    project_code: str
    cluster_id: str | None
    node_name: str | None
    creator: str
    current_step: str
    steps_done: int
    steps_total: int
    cancel_requested: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_seconds: float | None


class TaskDetail(TaskPublic):
    steps: list[TaskStepPublic]
    can_manage: bool = Field(description="Whether the caller may retry, skip or cancel it.")


class TaskLogPublic(BaseModel):
    id: int
    time: datetime
    level: str
    step_name: str
    message: str


class TaskLogs(BaseModel):
    items: list[TaskLogPublic]
    next_cursor: int = Field(description="Pass as 'after' to get the lines that follow.")
    task_status: str
    final: bool


class TaskStart(BaseModel):
    type: str = Field(min_length=1, max_length=64)
    project: str = Field(min_length=1, max_length=32)
    cluster_id: str | None = Field(default=None, max_length=64)
    params: dict[str, Any] = Field(default_factory=dict, max_length=32)


def step_public(step: TaskStep, lang: str) -> TaskStepPublic:
    return TaskStepPublic(
        name=step.name, title=step.title(lang), status=step.status, attempts=step.attempts,
        max_retries=step.max_retries, timeout_seconds=step.timeout_seconds, allow_skip=step.allow_skip,
        message=step.message, started_at=step.started_at, finished_at=step.finished_at,
        duration_seconds=service.duration_seconds(step.started_at, step.finished_at),
    )


def task_public(task: Task, lang: str) -> TaskPublic:
    definition = REGISTRY.types.get(task.task_type)
    return TaskPublic(
        id=task.id, task_type=task.task_type, title=definition.title(lang) if definition else task.task_type,
        status=task.status, message=task.message, project_code=task.project_code, cluster_id=task.cluster_id,
        node_name=task.node_name, creator=task.creator, current_step=task.current_step,
        steps_done=sum(1 for s in task.steps if s.status in ("SUCCESS", "SKIP")), steps_total=len(task.steps),
        cancel_requested=task.cancel_requested, created_at=task.created_at, started_at=task.started_at,
        finished_at=task.finished_at, duration_seconds=service.duration_seconds(task.started_at, task.finished_at),
    )


def task_detail(task: Task, lang: str, principal: Principal) -> TaskDetail:
    return TaskDetail(
        **task_public(task, lang).model_dump(), steps=[step_public(s, lang) for s in task.steps],
        can_manage=can(principal, Action.CLUSTER_MANAGE, task),
    )


def log_public(line: TaskLog) -> TaskLogPublic:
    return TaskLogPublic(id=line.id, time=line.time, level=line.level, step_name=line.step_name,
                         message=line.message)


@router.get("", response_model=Page[TaskPublic], summary="Tasks you may view, newest first")
async def list_tasks(
    request: Request, principal: CurrentPrincipal, session: SessionDep,
    project: str | None = Query(default=None, max_length=32),
    cluster: str | None = Query(default=None, max_length=64),
    type: str | None = Query(default=None, max_length=64),
    status: str | None = Query(default=None, max_length=16),
    limit: int = Query(default=50, ge=1, le=500), offset: int = Query(default=0, ge=0, le=2**31),
) -> Page[TaskPublic]:
    flt = service.TaskFilter(project_code=project, cluster_id=cluster, task_type=type, status=status)
    page = await service.list_tasks(session, principal, flt, limit=limit, offset=offset)
    lang = language_of(request)
    return Page(items=[task_public(t, lang) for t in page.items], total=page.total, limit=limit, offset=offset)


@router.post("", response_model=TaskDetail, status_code=201, summary="Start a task of a startable type (the demo)")
async def start_task(request: Request, body: TaskStart, principal: CurrentPrincipal, ctx: CtxDep,
                     session: SessionDep) -> TaskDetail:
    task = await service.start_task(session, principal, body.type, project_code=body.project,
                                    cluster_id=body.cluster_id, params=body.params, demo=ctx.settings.demo)
    return task_detail(task, language_of(request), principal)


@router.get("/{task_id}", response_model=TaskDetail, summary="A task with its steps")
async def get_task(request: Request, principal: CurrentPrincipal, session: SessionDep,
                   task_id: str = TaskIdPath) -> TaskDetail:
    task = await service.get_task(session, principal, task_id)
    return task_detail(task, language_of(request), principal)


@router.get("/{task_id}/logs", response_model=TaskLogs, summary="Log lines after a cursor")
async def get_logs(
    principal: CurrentPrincipal, session: SessionDep, task_id: str = TaskIdPath,
    after: int = Query(default=0, ge=0, le=2**62), limit: int = Query(default=500, ge=1, le=5000),
    step: str | None = Query(default=None, max_length=64),
) -> TaskLogs:
    task = await service.get_task(session, principal, task_id)
    lines = await service.read_logs(session, task, after=after, limit=limit, step=step)
    return TaskLogs(items=[log_public(x) for x in lines], next_cursor=lines[-1].id if lines else after,
                    task_status=task.status, final=task.is_final)


def _sse(event: str, data: Any, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, ensure_ascii=False, default=str)}\n\n"


async def _events(request: Request, ctx: AppContext, principal: Principal, task_id: str, after: int,
                  lang: str) -> AsyncIterator[str]:
    """``task`` events (status and steps, whenever they change), ``log`` events, then ``end``."""
    cursor = after
    last_snapshot = ""
    idle = 0.0
    deadline = time.monotonic() + STREAM_MAX_SECONDS
    yield "retry: 2000\n\n"
    while time.monotonic() < deadline:
        async with ctx.db.session() as session:
            task = await service.get_task(session, principal, task_id)
            lines = await service.read_logs(session, task, after=cursor, limit=1000)
        snapshot = task_detail(task, lang, principal).model_dump(mode="json")
        fingerprint = json.dumps({k: v for k, v in snapshot.items() if k != "duration_seconds"}
                                 | {"steps": [{k: v for k, v in s.items() if k != "duration_seconds"}
                                              for s in snapshot["steps"]]}, sort_keys=True, default=str)
        if fingerprint != last_snapshot:
            last_snapshot = fingerprint
            yield _sse("task", snapshot)
            idle = 0.0
        for line in lines:
            yield _sse("log", log_public(line).model_dump(mode="json"), line.id)
            cursor = line.id
            idle = 0.0
        if task.is_final and len(lines) < 1000:
            yield _sse("end", {"status": task.status})
            return
        if await request.is_disconnected():
            return
        await asyncio.sleep(STREAM_POLL_SECONDS)
        idle += STREAM_POLL_SECONDS
        if idle >= STREAM_PING_SECONDS:
            idle = 0.0
            yield ": ping\n\n"


@router.get("/{task_id}/stream", summary="Live stream (Server-Sent Events) of the task's steps and log lines",
            response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}}, "description": "task, log and end events"}})
async def stream(request: Request, ctx: CtxDep, principal: CurrentPrincipal, session: SessionDep,
                 task_id: str = TaskIdPath, after: int = Query(default=0, ge=0, le=2**62)) -> StreamingResponse:
    await service.get_task(session, principal, task_id)  # refuse before the stream starts
    await session.commit()  # give the connection back: the stream uses short sessions of its own
    last_event = request.headers.get("last-event-id", "")
    if last_event.isdigit():
        after = max(after, int(last_event))
    return StreamingResponse(
        _events(request, ctx, principal, task_id, after, language_of(request)),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.post("/{task_id}/retry", response_model=TaskDetail,
             summary="Retry a failed or timed-out task at its failed step")
async def retry(request: Request, principal: CurrentPrincipal, session: SessionDep,
                task_id: str = TaskIdPath) -> TaskDetail:
    task = await service.retry_task(session, principal, task_id)
    return task_detail(task, language_of(request), principal)


@router.post("/{task_id}/skip", response_model=TaskDetail, summary="Skip the failed step (if it allows) and continue")
async def skip(request: Request, principal: CurrentPrincipal, session: SessionDep,
               task_id: str = TaskIdPath) -> TaskDetail:
    task = await service.skip_step(session, principal, task_id)
    return task_detail(task, language_of(request), principal)


@router.post("/{task_id}/cancel", response_model=TaskDetail, summary="Cancel a task that has not ended")
async def cancel(request: Request, principal: CurrentPrincipal, session: SessionDep,
                 task_id: str = TaskIdPath) -> TaskDetail:
    task = await service.cancel_task(session, principal, task_id)
    return task_detail(task, language_of(request), principal)


__all__ = ["router", "task_detail", "task_public"]
