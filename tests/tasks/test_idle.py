"""An idle worker's slots share their polls, and still all take work when it comes."""

from __future__ import annotations

import asyncio

from shoal.context import AppContext
from shoal.tasks.registry import LOCAL_WAKERS
from shoal.tasks.worker import Claim, Worker, WorkerSettings
from tests.tasks.helpers import load, new_task, wait_for


async def test_idle_slots_share_one_poll_per_interval(ctx: AppContext) -> None:
    worker = Worker(ctx.db, WorkerSettings(concurrency=4, poll_interval=0.1), name="idle")
    looks: list[float] = []
    claim = worker.claim
    loop = asyncio.get_running_loop()

    async def counted() -> Claim | None:
        looks.append(round(loop.time(), 3))
        return await claim()

    worker.claim = counted  # type: ignore[method-assign]
    stop = asyncio.Event()
    runner = asyncio.create_task(worker.run(stop))
    await asyncio.sleep(1.0)
    stop.set()
    await runner
    # four slots polling on their own would look about 40 times in 1 s; shared, about 10 (+4 at start)
    assert 5 <= len(looks) <= 20, looks


async def test_work_found_by_one_slot_brings_the_others(ctx: AppContext) -> None:
    """Tasks another process committed (no local wake): every slot is busy within a poll or two."""
    worker = Worker(ctx.db, WorkerSettings(concurrency=4, poll_interval=0.5, lease_seconds=10), name="shared")
    stop = asyncio.Event()
    runner = asyncio.create_task(worker.run(stop))
    try:
        await asyncio.sleep(0.2)  # every slot found nothing
        LOCAL_WAKERS.discard(worker.wake)  # as if the tasks came from elsewhere
        ids = [await new_task(ctx, "test-Slow", sleep=3) for _ in range(4)]

        async def all_running() -> bool:
            return [(await load(ctx, task_id)).status for task_id in ids] == ["RUNNING"] * 4

        await wait_for(all_running, within=2.5, what="all four slow tasks to run at the same time")
    finally:
        stop.set()
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
