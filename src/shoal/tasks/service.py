"""Create, read and steer tasks: list, detail, logs, retry, skip, cancel.

Who calls it: API routes, web pages and the CLI (through the API) for the
user-facing operations, and capability services (cluster import, node add…)
which call :func:`create_task` inside the transaction that creates their target,
so the task exists exactly when the target does.

Authorisation: reading a task needs ``cluster_view`` on its project, steering
it (retry, skip, cancel, start) ``cluster_manage``; both through the one
``iam.authz.require``. Every operation writes an audit entry in its transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, event, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from shoal.audit import service as audit
from shoal.core.errors import Conflict, Invalid, NotFound
from shoal.iam.authz import Action, Principal, ProjectRef, require, visible_project_codes
from shoal.store.models import Project
from shoal.store.types import utcnow
from shoal.tasks.models import RETRYABLE_STATUSES, StepStatus, Task, TaskLog, TaskStatus, TaskStep
from shoal.tasks.registry import REGISTRY, Registry, wake_local_workers

__all__ = [
    "TaskFilter",
    "TaskPage",
    "cancel_task",
    "create_task",
    "get_task",
    "list_tasks",
    "read_logs",
    "retry_task",
    "skip_step",
    "start_task",
]


@dataclass(frozen=True)
class TaskFilter:
    project_code: str | None = None
    cluster_id: str | None = None
    task_type: str | None = None
    status: str | None = None


@dataclass(frozen=True)
class TaskPage:
    items: list[Task]
    total: int


async def create_task(
    session: AsyncSession, task_type: str, *, project_code: str, creator: str, cluster_id: str | None = None,
    node_name: str | None = None, params: dict[str, Any] | None = None, registry: Registry = REGISTRY,
) -> Task:
    """Add a task of ``task_type`` with all its steps NOTSTARTED; a worker picks it up once committed.

    No authorisation here: the calling service has checked the right to the
    operation the task performs.
    """
    definition = registry.types.get(task_type)
    if definition is None:
        raise Invalid("error.task_type_unknown", field="type", value=task_type)
    now = utcnow()
    task = Task(
        id=uuid.uuid4().hex, task_type=task_type, status=TaskStatus.INITIALIZING.value, project_code=project_code,
        cluster_id=cluster_id, node_name=node_name, creator=creator, params=dict(params or {}), state={},
        run_after=now, created_at=now, updated_at=now,
    )
    for position, spec in enumerate(definition.steps):
        step = registry.resolve(spec)
        task.steps.append(TaskStep(
            position=position, name=step.name, title_en=step.title_en, title_zh=step.title_zh,
            status=StepStatus.NOTSTARTED.value, attempts=0, max_retries=step.max_retries,
            timeout_seconds=step.timeout, allow_skip=step.allow_skip, message="",
        ))
    session.add(task)
    await session.flush()
    _wake_on_commit(session)
    return task


_WAKE_ON_COMMIT = "shoal.tasks.wake_on_commit"


def _wake_on_commit(session: AsyncSession) -> None:
    """Wake this process's workers once the transaction commits (a rollback must not wake anyone)."""
    if not session.info.get(_WAKE_ON_COMMIT):
        session.info[_WAKE_ON_COMMIT] = True
        event.listen(session.sync_session, "after_commit", _wake_after_commit, once=True)
        event.listen(session.sync_session, "after_rollback", _forget_wake, once=True)


def _wake_after_commit(sync_session: Session) -> None:
    sync_session.info.pop(_WAKE_ON_COMMIT, None)
    wake_local_workers()


def _forget_wake(sync_session: Session) -> None:
    sync_session.info.pop(_WAKE_ON_COMMIT, None)


async def start_task(
    session: AsyncSession, actor: Principal, task_type: str, *, project_code: str, cluster_id: str | None = None,
    params: dict[str, Any] | None = None, registry: Registry = REGISTRY, demo: bool = False,
) -> Task:
    """A user starts a task directly (only task types marked ``startable``, e.g. the demo).

    ``demo`` is ``Settings.demo``: task types marked ``demo_only`` start only while
    it is on, since in production they would only hold a worker slot.
    """
    definition = registry.types.get(task_type)
    if definition is None or not definition.startable:
        raise Invalid("error.task_type_unknown", field="type", value=task_type)
    if definition.demo_only and not demo:
        raise Conflict("error.demo_disabled", hint="hint.demo_disabled", value=task_type)
    require(actor, Action.CLUSTER_MANAGE, ProjectRef(project_code))
    if definition.check_params is not None:
        definition.check_params(dict(params or {}))
    if await session.scalar(select(Project.id).where(Project.code == project_code)) is None:
        raise NotFound("error.project_not_found", code=project_code)
    task = await create_task(session, task_type, project_code=project_code, creator=actor.username,
                             cluster_id=cluster_id, params=params, registry=registry)
    await audit.record(session, actor, "task.start", target_type="task", target_id=task.id,
                       project_code=project_code, detail={"task_type": task_type})
    return task


async def _load(session: AsyncSession, task_id: str, *, for_update: bool = False) -> Task:
    stmt = select(Task).where(Task.id == task_id).execution_options(populate_existing=True)
    if for_update:
        stmt = stmt.with_for_update()
    task = await session.scalar(stmt)
    if task is None:
        raise NotFound("error.task_not_found", id=task_id)
    return task


async def get_task(session: AsyncSession, actor: Principal, task_id: str) -> Task:
    task = await _load(session, task_id)
    require(actor, Action.CLUSTER_VIEW, task)
    return task


def _scoped(actor: Principal, flt: TaskFilter) -> Select[Task]:
    stmt = select(Task)
    codes = visible_project_codes(actor)
    if flt.project_code:
        require(actor, Action.CLUSTER_VIEW, ProjectRef(flt.project_code))
        stmt = stmt.where(Task.project_code == flt.project_code)
    elif codes is not None:
        stmt = stmt.where(Task.project_code.in_(codes))
    if flt.cluster_id:
        stmt = stmt.where(Task.cluster_id == flt.cluster_id)
    if flt.task_type:
        stmt = stmt.where(Task.task_type == flt.task_type)
    if flt.status:
        stmt = stmt.where(Task.status == flt.status.upper())
    return stmt


async def list_tasks(session: AsyncSession, actor: Principal, flt: TaskFilter, *, limit: int = 50,
                     offset: int = 0) -> TaskPage:
    """Tasks of the projects ``actor`` may view, newest first."""
    stmt = _scoped(actor, flt)
    total = int(await session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    rows = await session.scalars(stmt.order_by(Task.created_at.desc(), Task.id.desc()).limit(limit).offset(offset))
    return TaskPage(items=list(rows.all()), total=total)


async def read_logs(session: AsyncSession, task: Task, *, after: int = 0, limit: int = 500,
                    step: str | None = None) -> list[TaskLog]:
    """Log lines of ``task`` with an id above ``after`` (the cursor), oldest first.

    The caller has authorised ``task`` (it came from :func:`get_task`).
    """
    stmt = select(TaskLog).where(TaskLog.task_id == task.id, TaskLog.id > after)
    if step:
        stmt = stmt.where(TaskLog.step_name == step)
    rows = await session.scalars(stmt.order_by(TaskLog.id).limit(limit))
    return list(rows.all())


def _failed_step(task: Task) -> TaskStep | None:
    return next((s for s in task.steps if s.status == StepStatus.FAILURE.value), None)


async def _reopen(session: AsyncSession, task: Task, registry: Registry) -> None:
    """Make a FAILURE/TIMEOUT task runnable again; the compare-and-set guards against a concurrent reopen."""
    now = utcnow()
    result = await session.execute(
        update(Task)
        .where(Task.id == task.id, Task.status.in_([s.value for s in RETRYABLE_STATUSES]))
        .values(status=TaskStatus.RUNNING.value, message="", finished_at=None, run_after=now, updated_at=now,
                cancel_requested=False, cancelled_by="", lease_owner=None, lease_token=None, lease_expires_at=None)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("error.task_not_retryable", id=task.id, status=task.status)
    await session.refresh(task)
    _wake_on_commit(session)
    definition = registry.types.get(task.task_type)
    if definition is not None and definition.on_resume is not None:
        await definition.on_resume(session, task)


def _check_retryable(task: Task) -> None:
    if task.status not in {s.value for s in RETRYABLE_STATUSES}:
        raise Conflict("error.task_not_retryable", hint="hint.task_retry", id=task.id, status=task.status)


async def retry_task(session: AsyncSession, actor: Principal, task_id: str, *, registry: Registry = REGISTRY) -> Task:
    """Re-open a FAILURE/TIMEOUT task at its failed step; finished steps stay finished."""
    task = await _load(session, task_id, for_update=True)
    require(actor, Action.CLUSTER_MANAGE, task)
    _check_retryable(task)
    failed = _failed_step(task)
    for step in task.steps:
        if step.status in (StepStatus.FAILURE.value, StepStatus.RUNNING.value):
            step.status = StepStatus.NOTSTARTED.value
            step.attempts = 0
            step.finished_at = None
    await _reopen(session, task, registry)
    step_name = failed.name if failed else ""
    session.add(TaskLog(task_id=task.id, step_name=step_name, level="info",
                        message=f"task retried by {actor.username}"))
    await audit.record(session, actor, "task.retry", target_type="task", target_id=task.id,
                       project_code=task.project_code, detail={"task_type": task.task_type, "step": step_name})
    return await _load(session, task_id)


async def skip_step(session: AsyncSession, actor: Principal, task_id: str, *, registry: Registry = REGISTRY) -> Task:
    """Mark the failed step SKIP (if it allows skipping) and continue the task after it."""
    task = await _load(session, task_id, for_update=True)
    require(actor, Action.CLUSTER_MANAGE, task)
    _check_retryable(task)
    failed = _failed_step(task)
    if failed is None or not failed.allow_skip:
        raise Conflict("error.task_step_not_skippable", hint="hint.task_skip", id=task.id,
                       step=failed.name if failed else "")
    failed.status = StepStatus.SKIP.value
    failed.finished_at = utcnow()
    failed.message = f"skipped by {actor.username}: {failed.message}"[:2000]
    await _reopen(session, task, registry)
    session.add(TaskLog(task_id=task.id, step_name=failed.name, level="warning",
                        message=f"step {failed.name} skipped by {actor.username}"))
    await audit.record(session, actor, "task.skip", target_type="task", target_id=task.id,
                       project_code=task.project_code, detail={"task_type": task.task_type, "step": failed.name})
    return await _load(session, task_id)


async def cancel_task(session: AsyncSession, actor: Principal, task_id: str, *,
                      registry: Registry = REGISTRY) -> Task:
    """Cancel a task that has not ended.

    A task no worker holds ends CANCELLED at once; a running one is flagged and
    its worker tells the step (``ctx.cancelled``), then ends it CANCELLED before
    the next step at the latest.
    """
    task = await _load(session, task_id, for_update=True)
    require(actor, Action.CLUSTER_MANAGE, task)
    if task.status not in (TaskStatus.INITIALIZING.value, TaskStatus.RUNNING.value):
        raise Conflict("error.task_not_cancellable", id=task.id, status=task.status)
    now = utcnow()
    idle = or_(Task.lease_token.is_(None), Task.lease_expires_at < now)
    result = await session.execute(
        update(Task)
        .where(and_(Task.id == task.id, Task.status.in_([TaskStatus.INITIALIZING.value, TaskStatus.RUNNING.value]),
                    idle))
        .values(status=TaskStatus.CANCELLED.value, message=f"cancelled by {actor.username}", finished_at=now,
                updated_at=now, cancel_requested=True, cancelled_by=actor.username, lease_owner=None,
                lease_token=None, lease_expires_at=None)
        .execution_options(synchronize_session=False)
    )
    ended_now = result.rowcount == 1  # type: ignore[attr-defined]
    if ended_now:
        await session.refresh(task)
        for step in task.steps:
            if step.status == StepStatus.RUNNING.value:
                step.status = StepStatus.FAILURE.value
                step.message = f"cancelled by {actor.username}"
                step.finished_at = now
        definition = registry.types.get(task.task_type)
        if definition is not None and definition.on_finish is not None:
            await definition.on_finish(session, task)
    else:
        await session.execute(
            update(Task).where(Task.id == task.id)
            .values(cancel_requested=True, cancelled_by=actor.username, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    session.add(TaskLog(task_id=task.id, step_name=task.current_step, level="warning",
                        message=f"task cancelled by {actor.username}" if ended_now
                        else f"cancel requested by {actor.username}"))
    await audit.record(session, actor, "task.cancel", target_type="task", target_id=task.id,
                       project_code=task.project_code, detail={"task_type": task.task_type, "immediate": ended_now})
    return await _load(session, task_id)


def duration_seconds(start: datetime | None, end: datetime | None) -> float | None:
    """Seconds between ``start`` and ``end`` (or now, while running)."""
    if start is None:
        return None
    return round(((end or utcnow()) - start).total_seconds(), 3)
