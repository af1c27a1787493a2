"""Workers: claim runnable tasks under a lease and run their steps one by one.

Who runs it: ``shoal server`` starts one :class:`Worker` in its event loop (unless
``SHOAL_WORKER_IN_PROCESS=false``); ``shoal worker`` runs more, on other hosts
too, sharing only the database.

Claiming. A task is runnable when it is INITIALIZING or RUNNING, its
``run_after`` has come (backoff), and no live lease holds it. On PostgreSQL a
worker selects one such row ``FOR UPDATE SKIP LOCKED`` and stamps its lease in
the same transaction, so concurrent workers never block on or double-claim a
row. On SQLite (one writer at a time) the stamp is a compare-and-set UPDATE that
re-checks the runnable condition; a worker that loses the race tries the next.

Leases. The worker renews its lease every ``lease_seconds / 3`` while a step
runs and reads the cancel flag at the same time. Each claim gets a fresh
``lease_token``; every write the worker makes afterwards first updates the task
row *where the token is still its own* — if that matches nothing, the lease was
lost (the worker stalled past expiry and another took over) and the worker drops
the task without writing. A worker killed with SIGKILL simply stops renewing;
once the lease expires another worker claims the task and re-runs the step
that was RUNNING. Finished steps (SUCCESS, SKIP) are never run again.

Outcomes of a step: return -> SUCCESS and the next step; ``TemporaryError`` ->
retried after ``delay * 2**(attempt-1)`` seconds (capped by ``max_backoff``)
while attempts remain, the lease released meanwhile so the slot serves other
tasks; ``PermanentError`` or any other exception -> FAILURE; over ``timeout``
-> TIMEOUT; cancelled -> CANCELLED. The final status, the task type's
``on_finish`` hook (which updates the target, e.g. the cluster's status) and
the lease release commit in one transaction.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import math
import os
import socket
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from shoal.store.db import Database
from shoal.store.types import utcnow
from shoal.tasks.models import FINAL_STATUSES, StepStatus, Task, TaskLog, TaskStatus, TaskStep
from shoal.tasks.registry import (
    LOCAL_WAKERS,
    REGISTRY,
    PermanentError,
    Registry,
    StepContext,
    StepFunc,
    StepLogger,
    TaskCancelled,
    TemporaryError,
)

if TYPE_CHECKING:
    from shoal.context import AppContext

__all__ = [
    "BUILTIN_MODULES",
    "Claim",
    "Worker",
    "WorkerSettings",
    "WorkerStats",
    "load_task_modules",
    "run_beside",
    "run_worker",
]

log = logging.getLogger("shoal.tasks.worker")

#: Modules whose import registers Shoal's own step and task types; capabilities add theirs here.
BUILTIN_MODULES: tuple[str, ...] = ("shoal.tasks.demo", "shoal.clusters.importing", "shoal.nodes.drain")

_RUNNABLE = (TaskStatus.INITIALIZING.value, TaskStatus.RUNNING.value)
#: After an error of the engine itself (say the database went away) a task rests this long before a new claim.
ERROR_PAUSE_SECONDS = 5.0
#: Cancellation reaches a running step within this many seconds (the lease is renewed at the same time).
CANCEL_CHECK_SECONDS = 2.0
_DONE_STEPS = (StepStatus.SUCCESS.value, StepStatus.SKIP.value)


class WorkerSettings(BaseSettings):
    """How workers claim and hold tasks; each field maps to ``SHOAL_WORKER_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="SHOAL_WORKER_", extra="ignore")

    in_process: bool = Field(True, description="Run a worker inside 'shoal server'.")
    concurrency: int = Field(4, ge=1, le=256, description="Tasks one worker process runs at the same time.")
    lease_seconds: float = Field(
        30.0, gt=0.5, description="How long a claim lasts without renewal; a dead worker's task waits this long.")
    poll_interval: float = Field(
        0.5, gt=0, description="Seconds between looks for new tasks when idle (one look per worker, not per slot).")
    max_backoff: float = Field(300.0, gt=0, description="Upper bound of a TemporaryError's retry delay.")
    imports: list[str] = Field(default_factory=list,
                               description="Modules to import so their step and task types register.")


class _StepTimedOut(Exception):
    """The step ran past its timeout (distinct from a TimeoutError the step itself raised)."""


async def _call_with_timeout(func: StepFunc, ctx: StepContext, limit: float) -> None:
    deadline = asyncio.timeout(limit)
    try:
        async with deadline:
            await func(ctx)
    except TimeoutError:
        if deadline.expired():
            raise _StepTimedOut() from None
        raise


class LeaseLost(Exception):
    """This worker's lease on the task was taken over; drop the task without writing."""


@dataclass(frozen=True)
class Claim:
    task_id: str
    token: str
    previous_owner: str | None
    claim_seconds: float


@dataclass
class WorkerStats:
    claims: int = 0
    steps_run: int = 0
    tasks_finished: int = 0
    leases_lost: int = 0
    claim_seconds: list[float] = field(default_factory=list)


@dataclass
class _Outcome:
    kind: str  # success | temporary | failure | timeout | cancelled
    message: str = ""
    delay: float = 0.0


@dataclass
class _StepView:
    id: int
    name: str
    status: str
    attempts: int
    max_retries: int
    timeout_seconds: float
    message: str


@dataclass
class _TaskView:
    """What the step loop needs of a claimed task, read once at the start of its run."""

    id: str
    task_type: str
    status: str
    cancel_requested: bool
    cancelled_by: str
    project_code: str
    cluster_id: str | None
    node_name: str | None
    params: dict[str, Any]
    state: dict[str, Any]
    current_step: str
    steps: list[_StepView]
    current_step_id: int = 0
    state_dirty: bool = False

    @classmethod
    def of(cls, task: Task) -> _TaskView:
        return cls(
            id=task.id, task_type=task.task_type, status=task.status, cancel_requested=task.cancel_requested,
            cancelled_by=task.cancelled_by, project_code=task.project_code, cluster_id=task.cluster_id,
            node_name=task.node_name, params=dict(task.params or {}), state=dict(task.state or {}),
            current_step=task.current_step,
            steps=[_StepView(s.id, s.name, s.status, s.attempts, s.max_retries, s.timeout_seconds, s.message)
                   for s in task.steps],
        )

    def step_limit(self, step_id: int) -> float:
        return next(s.timeout_seconds for s in self.steps if s.id == step_id)


@dataclass
class _Done:
    """A step that has run and whose outcome is still to be written."""

    step_id: int
    outcome: _Outcome
    elapsed: float
    ctx: StepContext


class Worker:
    """One worker: ``concurrency`` slots, each claiming and running one task at a time."""

    def __init__(self, db: Database, settings: WorkerSettings | None = None, *, app: AppContext | None = None,
                 registry: Registry = REGISTRY, name: str | None = None) -> None:
        self.db = db
        self.settings = settings or WorkerSettings()
        self.app = app
        self.registry = registry
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.stats = WorkerStats()
        self._wake = asyncio.Event()
        self._wakes = 0  # how often wake() was called
        #: when an idle slot last started looking for work, and the wakes counted then
        self._last_look: tuple[float, int] = (-math.inf, -1)

    def __repr__(self) -> str:
        return f"Worker(name={self.name!r}, db={self.db!r})"

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.settings.lease_seconds)

    def wake(self) -> None:
        """Look for work now instead of at the next poll (called after a task was committed)."""
        self._wakes += 1
        self._wake.set()

    def _worth_looking(self) -> bool:
        """Idle slots share their polls: one looks per interval, the others wait for it or for a wake.

        Each slot polling on its own cost an idle ``shoal server`` (4 slots, 0.5 s) eight
        claim queries a second, about 2% of a CPU, for the same answer."""
        at, wakes = self._last_look
        return wakes != self._wakes or time.monotonic() - at >= self.settings.poll_interval

    # -- running --------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Claim and run tasks until ``stop`` is set or the coroutine is cancelled."""
        stop = stop or asyncio.Event()
        log.info("worker %s started (concurrency %d, lease %.1fs)", self.name, self.settings.concurrency,
                 self.settings.lease_seconds)
        LOCAL_WAKERS.add(self.wake)
        try:
            async with asyncio.TaskGroup() as group:
                for slot in range(self.settings.concurrency):
                    group.create_task(self._slot(stop), name=f"task-worker-slot-{slot}")
        finally:
            LOCAL_WAKERS.discard(self.wake)
            log.info("worker %s stopped", self.name)

    async def _slot(self, stop: asyncio.Event) -> None:
        busy = True  # a slot that starts, or has just run a task, looks for the next one at once
        while not stop.is_set():
            if not busy:
                if not self._worth_looking():
                    await self._idle(stop)
                    continue
                self._last_look = (time.monotonic(), self._wakes)
            try:
                claim = await self.claim()
            except Exception:
                log.exception("worker %s could not claim a task", self.name)
                claim = None
            busy = claim is not None
            if claim is not None:
                self.wake()  # there may be more: the idle slots look too
                await self.execute(claim)
                continue
            await self._idle(stop)

    async def _idle(self, stop: asyncio.Event) -> None:
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
        try:
            await asyncio.wait(waiters, timeout=self.settings.poll_interval, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)
        self._wake.clear()

    async def drain(self, task_ids: Iterable[str] | None = None, *, within: float = 60.0) -> None:
        """Run tasks in this coroutine until the given tasks (default: all) have ended. For tests and demos."""
        ids = list(task_ids) if task_ids is not None else None
        deadline = time.monotonic() + within
        while True:
            claim = await self.claim()
            if claim is not None:
                await self.execute(claim)
                continue
            if await self._all_final(ids):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"tasks did not end within {within}s")
            await asyncio.sleep(min(self.settings.poll_interval, 0.1))

    async def _all_final(self, ids: list[str] | None) -> bool:
        stmt = select(func.count()).select_from(Task).where(Task.status.not_in([s.value for s in FINAL_STATUSES]))
        if ids is not None:
            stmt = stmt.where(Task.id.in_(ids))
        async with self.db.session() as session:
            return not await session.scalar(stmt)

    # -- claiming -------------------------------------------------------------------------------

    async def claim(self) -> Claim | None:
        """Take the lease of one runnable task, or return None if there is none."""
        started = time.perf_counter()
        for _ in range(5):  # SQLite: a lost compare-and-set race means someone else took it; look again
            now = utcnow()
            runnable = and_(
                Task.status.in_(_RUNNABLE),
                Task.run_after <= now,
                or_(Task.lease_token.is_(None), Task.lease_expires_at < now),
            )
            stmt = select(Task.id, Task.lease_owner).where(runnable).order_by(Task.run_after, Task.id).limit(1)
            if not self.db.is_sqlite:
                stmt = stmt.with_for_update(skip_locked=True)
            token = uuid.uuid4().hex
            async with self.db.session() as session:
                row = (await session.execute(stmt)).first()
                if row is None:
                    return None
                task_id, previous = row
                result = await session.execute(
                    update(Task).where(Task.id == task_id, runnable)
                    .values(lease_owner=self.name, lease_token=token, lease_expires_at=now + self.lease,
                            updated_at=now)
                    .execution_options(synchronize_session=False)
                )
                if result.rowcount != 1:  # type: ignore[attr-defined]
                    continue
            elapsed = time.perf_counter() - started
            self.stats.claims += 1
            self.stats.claim_seconds.append(elapsed)
            return Claim(task_id, token, previous, elapsed)
        return None

    async def _fence(self, session: AsyncSession, claim: Claim) -> Task:
        """First statement of every write: extend our lease, or find out we lost it."""
        now = utcnow()
        result = await session.execute(
            update(Task).where(Task.id == claim.task_id, Task.lease_token == claim.token)
            .values(lease_expires_at=now + self.lease, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise LeaseLost(claim.task_id)
        loaded = await session.execute(
            select(Task).where(Task.id == claim.task_id).options(joinedload(Task.steps))
            .execution_options(populate_existing=True))
        return loaded.unique().scalar_one()

    # -- executing ------------------------------------------------------------------------------

    async def execute(self, claim: Claim) -> None:
        """Run the claimed task's remaining steps (or until a retry delay, an end, or a lost lease).

        One connection serves the whole run, and the transaction that records a
        step's outcome also starts the next step: two round trips fewer per step
        than separate sessions, which is most of the engine's own cost.
        """
        try:
            async with self.db.engine.connect() as conn:
                session = AsyncSession(bind=conn, expire_on_commit=False)
                try:
                    await self._run_task(session, claim)
                finally:
                    await session.close()
        except LeaseLost:
            self.stats.leases_lost += 1
            log.warning("worker %s lost the lease of task %s", self.name, claim.task_id)
        except asyncio.CancelledError:
            await asyncio.shield(self._release(claim))
            raise
        except Exception:
            log.exception("worker %s failed while running task %s; releasing it", self.name, claim.task_id)
            await self._release(claim, retry_after=ERROR_PAUSE_SECONDS)

    async def _release(self, claim: Claim, retry_after: float = 0.0) -> None:
        """Give the lease back at once (shutdown, or an error of the engine itself, after a pause)."""
        try:
            async with self.db.session() as session:
                result = await session.execute(
                    update(Task).where(Task.id == claim.task_id, Task.lease_token == claim.token)
                    .values(lease_token=None, lease_owner=None, lease_expires_at=None,
                            run_after=utcnow() + timedelta(seconds=retry_after))
                    .execution_options(synchronize_session=False)
                )
                if result.rowcount == 1:  # type: ignore[attr-defined]
                    session.add(TaskLog(task_id=claim.task_id, level="warning",
                                        message=f"worker {self.name} stopped; the task waits for another worker"))
        except Exception:
            log.exception("could not release the lease of task %s", claim.task_id)

    async def _run_task(self, session: AsyncSession, claim: Claim) -> None:
        """The step loop. While it holds the lease this worker is the only writer of the task's steps
        (retry and skip need an ended task, cancel only sets a flag), so the steps are read once and
        then written with plain UPDATEs; the ORM is used only to end the task (for the on_finish hook).
        """
        view: _TaskView | None = None
        done: _Done | None = None
        while True:
            async with session.begin():
                if view is None:
                    view = _TaskView.of(await self._fence(session, claim))
                    fenced = view.status, view.cancel_requested, view.cancelled_by
                    if claim.previous_owner and claim.previous_owner != self.name:
                        await self._log(session, view.id, view.current_step, "warning",
                                        f"worker {claim.previous_owner} lost its lease; {self.name} resumes the task")
                elif done is not None and done.outcome.kind == "success":
                    fenced = None  # the UPDATE that starts the next step fences (see _begin_next)
                else:
                    fenced = await self._touch(session, claim)
                logs: list[tuple[str, str, str]] = []
                if done is not None:
                    ending = await self._record(session, view, done, logs)
                    if ending is not None:
                        await self._flush_logs(session, view.id, logs)
                        final, message = ending
                        if final is not None:
                            await self._finish(session, await self._fence(session, claim), final, message)
                        return
                begun = await self._begin_next(session, claim, view, fenced, logs)
                await self._flush_logs(session, view.id, logs)
                if begun is None:
                    return
            started = time.monotonic()
            outcome = await self._run_step(claim, begun, view.step_limit(view.current_step_id))
            self.stats.steps_run += 1
            done = _Done(view.current_step_id, outcome, time.monotonic() - started, begun)

    async def _touch(self, session: AsyncSession, claim: Claim) -> tuple[str, bool, str]:
        """Fence without loading the task: extend the lease and read what others may have changed."""
        now = utcnow()
        row = (await session.execute(
            update(Task).where(Task.id == claim.task_id, Task.lease_token == claim.token)
            .values(lease_expires_at=now + self.lease, updated_at=now)
            .returning(Task.status, Task.cancel_requested, Task.cancelled_by)
            .execution_options(synchronize_session=False)
        )).first()
        if row is None:
            raise LeaseLost(claim.task_id)
        return str(row[0]), bool(row[1]), str(row[2])

    @staticmethod
    async def _log(session: AsyncSession, task_id: str, step: str, level: str, message: str) -> None:
        await session.execute(insert(TaskLog).values(task_id=task_id, step_name=step, level=level,
                                                     message=message, time=utcnow()))

    @staticmethod
    async def _flush_logs(session: AsyncSession, task_id: str, logs: list[tuple[str, str, str]]) -> None:
        if logs:
            now = utcnow()
            await session.execute(insert(TaskLog).values(
                [{"task_id": task_id, "step_name": step, "level": level, "message": message, "time": now}
                 for step, level, message in logs]))

    async def _begin_next(self, session: AsyncSession, claim: Claim, view: _TaskView,
                          fenced: tuple[str, bool, str] | None,
                          logs: list[tuple[str, str, str]]) -> StepContext | None:
        """Mark the first unfinished step RUNNING and build its context; None when the task ends instead.

        ``fenced`` is None after a step succeeded: then the task row's UPDATE that names the next
        step also checks the lease, the status and the cancel flag (one round trip instead of two);
        only if it matches nothing does the slower path find out why.
        """
        step = next((s for s in view.steps if s.status not in _DONE_STEPS), None)
        now = utcnow()
        if fenced is None:
            if step is not None and step.status != StepStatus.FAILURE.value:
                started = await session.execute(
                    update(Task)
                    .where(Task.id == claim.task_id, Task.lease_token == claim.token, Task.status.in_(_RUNNABLE),
                           Task.cancel_requested.is_(False))
                    .values(lease_expires_at=now + self.lease, updated_at=now,
                            **self._running_values(view, step, now))
                    .execution_options(synchronize_session=False))
                if started.rowcount == 1:  # type: ignore[attr-defined]
                    return await self._mark_running(session, view, step, now, logs)
            fenced = await self._touch(session, claim)
        status, cancel_requested, cancelled_by = fenced
        if status not in _RUNNABLE:
            await self._drop(session, claim)
            return None
        ending: tuple[TaskStatus, str] | None = None
        if cancel_requested:
            ending = TaskStatus.CANCELLED, f"cancelled by {cancelled_by}"
        elif step is None:
            ending = TaskStatus.SUCCESS, ""
        elif step.status == StepStatus.FAILURE.value:
            ending = TaskStatus.FAILURE, f"{step.name}: {step.message}"
        if ending is not None or step is None:
            await self._flush_logs(session, view.id, logs)
            logs.clear()
            task = await self._fence(session, claim)
            if view.state_dirty:  # what the last step left, so the on_finish hook sees it
                task.state = dict(view.state)
                view.state_dirty = False
            await self._finish(session, task, *(ending or (TaskStatus.SUCCESS, "")))
            return None
        await session.execute(update(Task).where(Task.id == view.id).values(**self._running_values(view, step, now))
                              .execution_options(synchronize_session=False))
        return await self._mark_running(session, view, step, now, logs)

    @staticmethod
    def _running_values(view: _TaskView, step: _StepView, now: datetime) -> dict[str, Any]:
        values: dict[str, Any] = {"status": TaskStatus.RUNNING.value, "current_step": step.name,
                                  "started_at": func.coalesce(Task.started_at, now)}
        if view.state_dirty:
            values["state"] = view.state
        return values

    async def _mark_running(self, session: AsyncSession, view: _TaskView, step: _StepView, now: datetime,
                            logs: list[tuple[str, str, str]]) -> StepContext:
        step.status = StepStatus.RUNNING.value
        step.attempts += 1
        await session.execute(
            update(TaskStep).where(TaskStep.id == step.id)
            .values(status=step.status, attempts=step.attempts, finished_at=None,
                    started_at=func.coalesce(TaskStep.started_at, now))
            .execution_options(synchronize_session=False))
        view.state_dirty = False
        view.current_step, view.current_step_id = step.name, step.id
        logs.append((step.name, "info", f"step {step.name} started (attempt {step.attempts})"))
        return StepContext(
            task_id=view.id, task_type=view.task_type, step_name=step.name, attempt=step.attempts,
            project_code=view.project_code, cluster_id=view.cluster_id, node_name=view.node_name,
            params=dict(view.params), state=dict(view.state),
            log=StepLogger(self.db, view.id, step.name), db=self.db, app=self.app,
        )

    async def _drop(self, session: AsyncSession, claim: Claim) -> None:
        await session.execute(
            update(Task).where(Task.id == claim.task_id)
            .values(lease_owner=None, lease_token=None, lease_expires_at=None)
            .execution_options(synchronize_session=False))

    async def _record(self, session: AsyncSession, view: _TaskView, done: _Done,
                      logs: list[tuple[str, str, str]]) -> tuple[TaskStatus | None, str] | None:
        """Write a step's outcome. None: go on with the next step; else how the task stops
        (a final status and message, or no status when it waits for a retry)."""
        step = next(s for s in view.steps if s.id == done.step_id)
        outcome, attempts, now = done.outcome, step.attempts, utcnow()
        if outcome.kind == "temporary" and attempts > step.max_retries:
            outcome = _Outcome("failure", f"{outcome.message} (gave up after {attempts} attempts)")
        if outcome.kind == "success":
            step.status = StepStatus.SUCCESS.value
            await session.execute(update(TaskStep).where(TaskStep.id == step.id)
                                  .values(status=step.status, message="", finished_at=now)
                                  .execution_options(synchronize_session=False))
            if done.ctx.state != view.state:
                view.state = dict(done.ctx.state)
                view.state_dirty = True
            logs.append((step.name, "info", f"step {step.name} succeeded in {done.elapsed:.2f}s"))
            return None
        if outcome.kind == "temporary":
            delay = min(outcome.delay * 2 ** (attempts - 1), self.settings.max_backoff)
            await session.execute(update(TaskStep).where(TaskStep.id == step.id)
                                  .values(message=f"retrying in {delay:.1f}s: {outcome.message}"[:2000])
                                  .execution_options(synchronize_session=False))
            await session.execute(update(Task).where(Task.id == view.id)
                                  .values(run_after=now + timedelta(seconds=delay), lease_owner=None,
                                          lease_token=None, lease_expires_at=None)
                                  .execution_options(synchronize_session=False))
            logs.append((step.name, "warning", f"step {step.name} will be retried in {delay:.1f}s "
                                               f"(attempt {attempts} of {step.max_retries + 1}): {outcome.message}"))
            return None, ""
        step.status = StepStatus.FAILURE.value
        await session.execute(update(TaskStep).where(TaskStep.id == step.id)
                              .values(status=step.status, message=outcome.message[:2000], finished_at=now)
                              .execution_options(synchronize_session=False))
        status = {"timeout": TaskStatus.TIMEOUT, "cancelled": TaskStatus.CANCELLED}.get(
            outcome.kind, TaskStatus.FAILURE)
        logs.append((step.name, "error", f"step {step.name} ended {status.value}: {outcome.message}"))
        return status, f"{step.name}: {outcome.message}"

    async def _run_step(self, claim: Claim, ctx: StepContext, limit: float) -> _Outcome:
        """Run the step's callable with its timeout while renewing the lease; classify how it ended."""
        step_type = self.registry.steps.get(ctx.step_name)
        if step_type is None:
            return _Outcome("failure", f"unknown step type {ctx.step_name!r} (is its module imported?)")
        lost = asyncio.Event()
        step_task = asyncio.create_task(_call_with_timeout(step_type.func, ctx, limit),
                                        name=f"task-step-{ctx.task_id}-{ctx.step_name}")
        renewer = asyncio.create_task(self._renew(claim, ctx, step_task, lost), name=f"task-lease-{ctx.task_id}")
        try:
            await step_task
            return _Outcome("success")
        except asyncio.CancelledError:
            if lost.is_set():
                raise LeaseLost(claim.task_id) from None
            raise
        except _StepTimedOut:
            return _Outcome("timeout", f"timed out after {limit:g}s")
        except TaskCancelled:
            return _Outcome("cancelled", "cancelled")
        except TemporaryError as e:
            return _Outcome("temporary", str(e) or type(e).__name__, e.delay)
        except PermanentError as e:
            return _Outcome("failure", str(e) or type(e).__name__)
        except Exception as e:
            detail = "".join(traceback.format_exception_only(type(e), e)).strip()
            await ctx.log.error(detail)
            log.warning("step %s of task %s raised %s", ctx.step_name, ctx.task_id, detail)
            return _Outcome("failure", detail)
        finally:
            renewer.cancel()
            if not step_task.done():
                step_task.cancel()
            await asyncio.gather(renewer, step_task, return_exceptions=True)

    async def _renew(self, claim: Claim, ctx: StepContext, step_task: asyncio.Task[None],
                     lost: asyncio.Event) -> None:
        interval = min(self.settings.lease_seconds / 3, CANCEL_CHECK_SECONDS)
        expires = time.monotonic() + self.settings.lease_seconds
        while True:
            await asyncio.sleep(interval)
            try:
                now = utcnow()
                async with self.db.session() as session:
                    cancel = await session.scalar(
                        update(Task).where(Task.id == claim.task_id, Task.lease_token == claim.token)
                        .values(lease_expires_at=now + self.lease)
                        .returning(Task.cancel_requested)
                        .execution_options(synchronize_session=False)
                    )
            except Exception:
                log.exception("worker %s could not renew the lease of task %s", self.name, claim.task_id)
                if time.monotonic() < expires:
                    continue
                cancel = None
            if cancel is None:
                lost.set()
                step_task.cancel()
                return
            expires = time.monotonic() + self.settings.lease_seconds
            if cancel:
                ctx._cancelled.set()

    @staticmethod
    def _drop_lease(task: Task) -> None:
        task.lease_owner = None
        task.lease_token = None
        task.lease_expires_at = None

    async def _finish(self, session: AsyncSession, task: Task, status: TaskStatus, message: str) -> None:
        """End the task: status, message, the type's on_finish hook and lease release in one transaction."""
        now = utcnow()
        if status is TaskStatus.CANCELLED:
            for step in task.steps:
                if step.status == StepStatus.RUNNING.value:
                    step.status = StepStatus.FAILURE.value
                    step.message = message
                    step.finished_at = now
        task.status = status.value
        task.message = message[:4000]
        task.finished_at = now
        self._drop_lease(task)
        session.add(TaskLog(task_id=task.id, step_name=task.current_step, level="info",
                            message=f"task ended {status.value}"))
        definition = self.registry.types.get(task.task_type)
        if definition is not None and definition.on_finish is not None:
            try:
                async with session.begin_nested():
                    await definition.on_finish(session, task)
            except Exception as e:  # the task still ends; a hook that always fails must not loop forever
                log.exception("on_finish hook of %s failed for task %s", task.task_type, task.id)
                session.add(TaskLog(task_id=task.id, step_name=task.current_step, level="error",
                                    message=f"updating the target failed: {type(e).__name__}: {e}"[:2000]))
        self.stats.tasks_finished += 1


def load_task_modules(extra: Iterable[str] = ()) -> None:
    """Import the built-in task modules and ``extra`` ones so their types are in the registry."""
    for module in (*BUILTIN_MODULES, *extra):
        importlib.import_module(module)


async def run_worker(app: AppContext, settings: WorkerSettings) -> None:
    """``shoal worker``: run one worker on ``app``'s database until cancelled (leases are released)."""
    load_task_modules(settings.imports)
    await Worker(app.db, settings, app=app).run()


async def run_beside(main: Awaitable[None], app: AppContext, settings: WorkerSettings, *,
                     stopping: Callable[[], bool] | None = None) -> None:
    """``shoal server``: run ``main`` (the HTTP server) with an in-process worker; stop the worker with it.

    ``stopping`` tells when the server has begun to shut down (uvicorn's ``should_exit``): the
    worker stops then and hands its tasks back at once, because uvicorn ends the process by
    re-raising the signal as soon as it is done, before ``main`` would return here.
    """
    if not settings.in_process:
        await main
        return
    load_task_modules(settings.imports)
    worker = Worker(app.db, settings, app=app)
    worker_task = asyncio.create_task(worker.run(), name="in-process-task-worker")
    stopper = (asyncio.create_task(_stop_when(stopping, worker_task), name="in-process-task-worker-stopper")
               if stopping is not None else None)
    try:
        await main
    finally:
        for task in (worker_task, stopper):
            if task is not None:
                task.cancel()
        await asyncio.gather(worker_task, *([stopper] if stopper else []), return_exceptions=True)


async def _stop_when(stopping: Callable[[], bool], worker_task: asyncio.Task[None]) -> None:
    while not stopping():  # noqa: ASYNC110  (uvicorn offers a flag, not an event)
        await asyncio.sleep(0.2)
    worker_task.cancel()
    await asyncio.gather(worker_task, return_exceptions=True)
