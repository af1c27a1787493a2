"""Step types and task types register here; what a step receives and may raise.

Who uses it: capability modules (clusters, nodes, provision…) declare their steps
with :meth:`Registry.step` and their workflows with :meth:`Registry.task_type`
at import time; the worker looks both up by name when it runs a task, and the
service when it creates one. Registration replaces hand-kept lists.

A step is ``async def step(ctx: StepContext) -> None``. It ends by returning
(SUCCESS), by raising :class:`TemporaryError` (the engine retries it after
``delay`` seconds, doubling per attempt, up to the step's ``max_retries``) or
:class:`PermanentError` (the task fails at once with the error's message). Any
other exception fails the task too, with the exception's type and message. A
step that runs longer than its ``timeout`` is cancelled and the task ends
TIMEOUT. Steps must be idempotent (see ``shoal.tasks``).

Exceptions raised to the engine::

    TemporaryError(message, delay=…)   retry this step later (backoff is the engine's)
    PermanentError(message)            fail the task now
    TaskCancelled                      raised by ``ctx.check_cancelled()``/``ctx.sleep()``
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from shoal.store.db import Database
from shoal.tasks.models import Task, TaskLog

if TYPE_CHECKING:
    from shoal.context import AppContext

__all__ = [
    "LOCAL_WAKERS",
    "REGISTRY",
    "FinishHook",
    "ParamCheck",
    "PermanentError",
    "Registry",
    "StepContext",
    "StepFunc",
    "StepLogger",
    "StepSpec",
    "StepType",
    "TaskCancelled",
    "TaskType",
    "TemporaryError",
    "wake_local_workers",
]

log = logging.getLogger("shoal.tasks")


class TemporaryError(Exception):
    """The step could not finish now but may later: retry after ``delay`` seconds (doubled per attempt)."""

    def __init__(self, message: str, *, delay: float = 5.0) -> None:
        super().__init__(message)
        self.delay = max(0.0, float(delay))


class PermanentError(Exception):
    """The step cannot succeed: fail the task with this message."""


class TaskCancelled(Exception):
    """A user cancelled the task; raised inside the step by ``check_cancelled`` or ``sleep``."""


StepFunc = Callable[["StepContext"], Awaitable[None]]
#: Called in the transaction that ends a task (or re-opens it), e.g. to set the cluster's status.
FinishHook = Callable[[AsyncSession, Task], Awaitable[None]]
#: Checks the params a user starts a task with; raises ``core.errors.Invalid`` naming the bad one.
ParamCheck = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class StepType:
    """A registered step: the callable and its defaults (a task type may override the numbers)."""

    name: str
    func: StepFunc
    title_en: str
    title_zh: str
    timeout: float = 600.0
    max_retries: int = 0
    allow_skip: bool = False


@dataclass(frozen=True)
class StepSpec:
    """A step's place in a task type, with optional overrides of the step type's defaults."""

    name: str
    title_en: str | None = None
    title_zh: str | None = None
    timeout: float | None = None
    max_retries: int | None = None
    allow_skip: bool | None = None


@dataclass(frozen=True)
class TaskType:
    """A workflow: an ordered list of steps, its titles, and what to do to the target when it ends."""

    name: str
    title_en: str
    title_zh: str
    steps: tuple[StepSpec, ...]
    on_finish: FinishHook | None = None
    on_resume: FinishHook | None = None
    #: Users may start it directly through the API (the demo); real workflows are started by services.
    startable: bool = False
    #: Startable only while the demo runs (``Settings.demo``): it does nothing but hold a worker slot.
    demo_only: bool = False
    #: Checks the params a user starts it with (raises ``core.errors.Invalid``); None: anything goes.
    check_params: ParamCheck | None = None

    def title(self, lang: str) -> str:
        return self.title_en if lang == "en" else self.title_zh


class Registry:
    """Step types and task types by name. ``REGISTRY`` is the process-wide one."""

    def __init__(self) -> None:
        self.steps: dict[str, StepType] = {}
        self.types: dict[str, TaskType] = {}

    def __repr__(self) -> str:
        return f"Registry(steps={len(self.steps)}, types={len(self.types)})"

    def step(
        self, name: str, *, title_en: str, title_zh: str, timeout: float = 600.0, max_retries: int = 0,
        allow_skip: bool = False,
    ) -> Callable[[StepFunc], StepFunc]:
        """Decorator registering ``async def f(ctx)`` as the step type ``name``."""

        def register(func: StepFunc) -> StepFunc:
            existing = self.steps.get(name)
            if existing is not None and existing.func.__qualname__ != func.__qualname__:
                raise ValueError(f"step type {name!r} is already registered by {existing.func.__qualname__}")
            self.steps[name] = StepType(name, func, title_en, title_zh, timeout, max_retries, allow_skip)
            return func

        return register

    def task_type(
        self, name: str, *, title_en: str, title_zh: str, steps: Sequence[str | StepSpec],
        on_finish: FinishHook | None = None, on_resume: FinishHook | None = None, startable: bool = False,
        demo_only: bool = False, check_params: ParamCheck | None = None,
    ) -> TaskType:
        """Register a workflow; its steps must already be registered."""
        specs = tuple(s if isinstance(s, StepSpec) else StepSpec(s) for s in steps)
        if not specs:
            raise ValueError(f"task type {name!r} has no steps")
        missing = [s.name for s in specs if s.name not in self.steps]
        if missing:
            raise ValueError(f"task type {name!r} names unregistered steps: {', '.join(missing)}")
        if len({s.name for s in specs}) != len(specs):
            raise ValueError(f"task type {name!r} lists a step twice")
        task_type = TaskType(name, title_en, title_zh, specs, on_finish, on_resume, startable, demo_only, check_params)
        self.types[name] = task_type
        return task_type

    def resolve(self, spec: StepSpec) -> StepType:
        """The step type of ``spec`` with the spec's overrides applied."""
        base = self.steps[spec.name]
        return StepType(
            name=base.name,
            func=base.func,
            title_en=spec.title_en if spec.title_en is not None else base.title_en,
            title_zh=spec.title_zh if spec.title_zh is not None else base.title_zh,
            timeout=spec.timeout if spec.timeout is not None else base.timeout,
            max_retries=spec.max_retries if spec.max_retries is not None else base.max_retries,
            allow_skip=spec.allow_skip if spec.allow_skip is not None else base.allow_skip,
        )


REGISTRY = Registry()

#: Wake-up callbacks of the workers running in this process (``Worker.run`` adds and removes its own).
LOCAL_WAKERS: set[Callable[[], None]] = set()


def wake_local_workers() -> None:
    """Tell this process's idle workers that a task was committed, so they claim it without waiting a poll."""
    for wake in list(LOCAL_WAKERS):
        wake()


class StepLogger:
    """Writes the step's log lines to ``task_logs`` at once (each in its own short transaction).

    Lines are what users read in the task viewer: never log secrets or raw
    payloads that may hold them.
    """

    def __init__(self, db: Database, task_id: str, step_name: str) -> None:
        self._db = db
        self._task_id = task_id
        self._step = step_name

    def __repr__(self) -> str:
        return f"StepLogger(task={self._task_id!r}, step={self._step!r})"

    async def write(self, level: str, message: str) -> None:
        async with self._db.session() as session:
            session.add(TaskLog(task_id=self._task_id, step_name=self._step, level=level, message=message[:8000]))
        log.debug("task %s step %s: %s", self._task_id, self._step, message)

    async def info(self, message: str) -> None:
        await self.write("info", message)

    async def warning(self, message: str) -> None:
        await self.write("warning", message)

    async def error(self, message: str) -> None:
        await self.write("error", message)


@dataclass
class StepContext:
    """What a running step receives.

    ``params`` are the task's inputs (read them, do not change them); ``state``
    is shared by the task's steps and saved when a step succeeds, so a re-run
    step sees the state as it was before its first attempt.
    """

    task_id: str
    task_type: str
    step_name: str
    attempt: int
    project_code: str
    cluster_id: str | None
    node_name: str | None
    params: dict[str, Any]
    state: dict[str, Any]
    log: StepLogger
    db: Database
    app: AppContext | None = None
    _cancelled: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    @property
    def cancelled(self) -> bool:
        """True once a user asked to cancel the task (the worker notices within a lease renewal)."""
        return self._cancelled.is_set()

    def check_cancelled(self) -> None:
        if self._cancelled.is_set():
            raise TaskCancelled()

    async def sleep(self, seconds: float) -> None:
        """Sleep, but wake up and raise :class:`TaskCancelled` as soon as the task is cancelled."""
        try:
            await asyncio.wait_for(self._cancelled.wait(), timeout=seconds)
        except TimeoutError:
            return
        raise TaskCancelled()
