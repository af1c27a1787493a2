"""Helpers shared by the task tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select

from shoal.context import AppContext
from shoal.tasks import service
from shoal.tasks.models import Task, TaskLog


async def new_task(ctx: AppContext, task_type: str, project: str = "demo", **params: Any) -> str:
    async with ctx.db.session() as session:
        task = await service.create_task(session, task_type, project_code=project, creator="admin", params=params)
        return task.id


async def load(ctx: AppContext, task_id: str) -> Task:
    async with ctx.db.session() as session:
        task = await session.scalar(select(Task).where(Task.id == task_id))
        assert task is not None
        return task


async def log_lines(ctx: AppContext, task_id: str) -> list[str]:
    async with ctx.db.session() as session:
        rows = await session.scalars(select(TaskLog).where(TaskLog.task_id == task_id).order_by(TaskLog.id))
        return [r.message for r in rows]


async def wait_for(check: Callable[[], Awaitable[bool]], within: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
