"""4 workers (4 slots each) × 200 five-step tasks on PostgreSQL: every step runs exactly once."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from shoal.store.db import Database
from shoal.store.migrate import upgrade_async
from shoal.tasks import service
from shoal.tasks.models import Task
from shoal.tasks.worker import Worker, WorkerSettings
from tests.support.postgres import PostgresServer
from tests.tasks.helpers import wait_for
from tests.tasks.steps import EXECUTED

TASKS = 200
STEPS = [f"testNoop{i}" for i in range(1, 6)]


@pytest.mark.pg
async def test_four_workers_execute_every_step_exactly_once(postgres: PostgresServer) -> None:
    url = postgres.create_database()
    await upgrade_async(url)
    db = Database(url)
    async with db.session() as session:
        ids = [(await service.create_task(session, "test-Noop5", project_code="demo", creator="admin")).id
               for _ in range(TASKS)]
    settings = WorkerSettings(concurrency=4, lease_seconds=10, poll_interval=0.05)
    workers = [Worker(Database(url), settings, name=f"w{i}") for i in range(4)]
    stop = asyncio.Event()
    runners = [asyncio.create_task(w.run(stop)) for w in workers]
    try:
        async def all_done() -> bool:
            async with db.session() as session:
                left = await session.scalar(select(func.count()).select_from(Task)
                                            .where(Task.status != "SUCCESS"))
            return left == 0

        await wait_for(all_done, within=120, what="all 200 tasks to succeed")
    finally:
        stop.set()
        await asyncio.gather(*runners)
        for w in workers:
            await w.db.dispose()
        await db.dispose()
    counts = [EXECUTED[(task_id, step)] for task_id in ids for step in STEPS]
    assert len(counts) == TASKS * len(STEPS) and set(counts) == {1}
    assert sum(w.stats.claims for w in workers) == TASKS
    assert all(w.stats.claims > 0 for w in workers), [w.stats.claims for w in workers]
    assert sum(w.stats.leases_lost for w in workers) == 0
