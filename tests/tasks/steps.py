"""Step and task types used by the task-engine tests (also imported by worker subprocesses).

Side effects are recorded in memory (``EXECUTED``) and, when a task has a
``marker`` param, appended to that file, so a test can count how often each
step really ran even across processes.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shoal.tasks.models import Task, TaskLog
from shoal.tasks.registry import REGISTRY, PermanentError, StepContext, StepSpec, TemporaryError

EXECUTED: Counter[tuple[str, str]] = Counter()
ORDER: list[tuple[str, str]] = []
#: task id -> {"fail": bool}: whether testFlaky fails for that task
CONTROL: dict[str, dict[str, Any]] = {}
FINISHED: dict[str, str] = {}
FINISHED_STATE: dict[str, dict[str, Any]] = {}


def _record(ctx: StepContext) -> None:
    EXECUTED[(ctx.task_id, ctx.step_name)] += 1
    ORDER.append((ctx.task_id, ctx.step_name))
    marker = ctx.params.get("marker")
    if marker:
        with Path(marker).open("a") as handle:
            handle.write(f"{ctx.step_name} {ctx.attempt}\n")


async def record(ctx: StepContext) -> None:
    _record(ctx)
    ctx.state["ran"] = [*ctx.state.get("ran", []), ctx.step_name]
    await ctx.log.info(f"{ctx.step_name} ran")


async def noop(ctx: StepContext) -> None:
    EXECUTED[(ctx.task_id, ctx.step_name)] += 1


for _name in ("testRecordA", "testRecordB", "testRecordC"):
    REGISTRY.step(_name, title_en=f"Record {_name[-1]}", title_zh=f"记录 {_name[-1]}")(record)
for _i in range(1, 6):
    REGISTRY.step(f"testNoop{_i}", title_en=f"No-op {_i}", title_zh=f"空步骤 {_i}")(noop)


@REGISTRY.step("testFlaky", title_en="Flaky", title_zh="不稳定", allow_skip=True)
async def flaky(ctx: StepContext) -> None:
    _record(ctx)
    if CONTROL.get(ctx.task_id, {}).get("fail", True):
        raise PermanentError("flaky step failed on purpose")


@REGISTRY.step("testStrict", title_en="Strict", title_zh="严格")
async def strict(ctx: StepContext) -> None:
    _record(ctx)
    raise PermanentError("strict step cannot be skipped")


@REGISTRY.step("testTemporary", title_en="Temporary", title_zh="临时失败", max_retries=3)
async def temporary(ctx: StepContext) -> None:
    _record(ctx)
    if ctx.attempt < int(ctx.params.get("succeed_on", 3)):
        raise TemporaryError(f"not yet (attempt {ctx.attempt})", delay=0.05)


@REGISTRY.step("testSlow", title_en="Slow", title_zh="缓慢")
async def slow(ctx: StepContext) -> None:
    _record(ctx)
    await asyncio.sleep(float(ctx.params.get("sleep", 5)))


@REGISTRY.step("testCancellable", title_en="Waits for cancel", title_zh="等待取消")
async def cancellable(ctx: StepContext) -> None:
    _record(ctx)
    await ctx.log.info("waiting to be cancelled")
    for _ in range(600):
        await ctx.sleep(0.1)


@REGISTRY.step("testCrashy", title_en="Crashy", title_zh="崩溃")
async def crashy(ctx: StepContext) -> None:
    """First attempt: announce itself and hang (the test kills the process); later attempts succeed."""
    _record(ctx)
    await ctx.log.info(f"crashy attempt {ctx.attempt}")
    if ctx.attempt == 1:
        await asyncio.sleep(120)


async def on_finish(session: AsyncSession, task: Task) -> None:
    FINISHED[task.id] = task.status
    FINISHED_STATE[task.id] = dict(task.state or {})
    session.add(TaskLog(task_id=task.id, step_name="", level="info", message=f"on_finish saw {task.status}"))


REGISTRY.task_type("test-Ordered", title_en="Ordered", title_zh="顺序",
                   steps=["testRecordA", "testRecordB", "testRecordC"], on_finish=on_finish)
REGISTRY.task_type("test-Flaky", title_en="Flaky", title_zh="不稳定",
                   steps=["testRecordA", "testFlaky", "testRecordC"], on_finish=on_finish)
REGISTRY.task_type("test-Strict", title_en="Strict", title_zh="严格", steps=["testRecordA", "testStrict"])
REGISTRY.task_type("test-Temporary", title_en="Temporary", title_zh="临时", steps=["testRecordA", "testTemporary"])
REGISTRY.task_type("test-Timeout", title_en="Timeout", title_zh="超时",
                   steps=["testRecordA", StepSpec("testSlow", timeout=0.5), "testRecordC"], on_finish=on_finish)
REGISTRY.task_type("test-Cancel", title_en="Cancel", title_zh="取消",
                   steps=["testRecordA", "testCancellable", "testRecordC"], on_finish=on_finish)
REGISTRY.task_type("test-Crash", title_en="Crash", title_zh="崩溃",
                   steps=["testRecordA", "testCrashy", "testRecordC"])
REGISTRY.task_type("test-Slow", title_en="Slow", title_zh="缓慢", steps=["testSlow"])
REGISTRY.task_type("test-Noop5", title_en="Five no-ops", title_zh="五个空步骤",
                   steps=[f"testNoop{i}" for i in range(1, 6)])


async def broken_hook(session: AsyncSession, task: Task) -> None:
    session.add(TaskLog(task_id=task.id, step_name="", level="info", message="half-written by the hook"))
    await session.flush()
    raise RuntimeError("target is gone")


REGISTRY.task_type("test-BadHook", title_en="Bad hook", title_zh="钩子失败", steps=["testRecordA"],
                   on_finish=broken_hook)
