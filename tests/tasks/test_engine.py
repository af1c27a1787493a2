"""The engine on real SQLite and PostgreSQL: order, failure, retry, skip, cancel, backoff, timeout, leases."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from shoal.context import AppContext
from shoal.core.errors import Conflict
from shoal.store.models import AuditEntry
from shoal.store.types import utcnow
from shoal.tasks import service
from shoal.tasks.models import Task
from shoal.tasks.worker import Worker, WorkerSettings
from tests.tasks.conftest import ADMIN
from tests.tasks.helpers import load, log_lines, new_task, wait_for
from tests.tasks.steps import CONTROL, EXECUTED, FINISHED, FINISHED_STATE, ORDER


def ran(task_id: str, step: str) -> int:
    return EXECUTED[(task_id, step)]


async def test_steps_run_in_order(ctx: AppContext, worker: Worker) -> None:
    ids = [await new_task(ctx, "test-Ordered") for _ in range(2)]
    await worker.drain(ids)
    for task_id in ids:
        task = await load(ctx, task_id)
        assert task.status == "SUCCESS" and task.finished_at is not None and task.message == ""
        assert [s.status for s in task.steps] == ["SUCCESS"] * 3
        assert [s for t, s in ORDER if t == task_id] == ["testRecordA", "testRecordB", "testRecordC"]
        assert all(s.started_at and s.finished_at and s.attempts == 1 for s in task.steps)
        assert task.lease_token is None
        lines = await log_lines(ctx, task_id)
        assert "testRecordB ran" in lines and lines[-1] == "on_finish saw SUCCESS"
        assert FINISHED[task_id] == "SUCCESS"
        # the hook sees the state every step left, the last one's included
        assert FINISHED_STATE[task_id]["ran"] == ["testRecordA", "testRecordB", "testRecordC"]


async def test_failing_step_fails_the_task_with_its_message(ctx: AppContext, worker: Worker) -> None:
    task_id = await new_task(ctx, "test-Flaky")
    await worker.drain([task_id])
    task = await load(ctx, task_id)
    assert task.status == "FAILURE"
    assert "flaky step failed on purpose" in task.message and task.message.startswith("testFlaky")
    assert [s.status for s in task.steps] == ["SUCCESS", "FAILURE", "NOTSTARTED"]
    assert task.steps[1].message == "flaky step failed on purpose"
    assert FINISHED[task_id] == "FAILURE"
    assert ran(task_id, "testRecordC") == 0


async def test_retry_resumes_at_the_failed_step_and_earlier_steps_run_once(ctx: AppContext, worker: Worker) -> None:
    task_id = await new_task(ctx, "test-Flaky")
    await worker.drain([task_id])
    CONTROL[task_id] = {"fail": False}
    async with ctx.db.session() as session:
        task = await service.retry_task(session, ADMIN, task_id)
        assert task.status == "RUNNING" and task.steps[1].status == "NOTSTARTED"
    await worker.drain([task_id])
    task = await load(ctx, task_id)
    assert task.status == "SUCCESS"
    assert (ran(task_id, "testRecordA"), ran(task_id, "testFlaky"), ran(task_id, "testRecordC")) == (1, 2, 1)
    async with ctx.db.session() as session:
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "task.retry",
                                                               AuditEntry.target_id == task_id))
        assert entry is not None and entry.username == "admin" and entry.project_code == "demo"
        with pytest.raises(Conflict):
            await service.retry_task(session, ADMIN, task_id)


async def test_skip_a_failed_step_that_allows_it(ctx: AppContext, worker: Worker) -> None:
    task_id = await new_task(ctx, "test-Flaky")
    strict_id = await new_task(ctx, "test-Strict")
    await worker.drain([task_id, strict_id])
    async with ctx.db.session() as session:
        task = await service.skip_step(session, ADMIN, task_id)
        assert task.steps[1].status == "SKIP"
    await worker.drain([task_id])
    task = await load(ctx, task_id)
    assert task.status == "SUCCESS"
    assert [s.status for s in task.steps] == ["SUCCESS", "SKIP", "SUCCESS"]
    assert (ran(task_id, "testRecordA"), ran(task_id, "testFlaky"), ran(task_id, "testRecordC")) == (1, 1, 1)
    async with ctx.db.session() as session:
        with pytest.raises(Conflict) as info:
            await service.skip_step(session, ADMIN, strict_id)
        assert info.value.code == "error.task_step_not_skippable"
        assert await session.scalar(select(AuditEntry).where(AuditEntry.action == "task.skip")) is not None


async def test_cancel_reaches_the_running_step(ctx: AppContext, worker: Worker) -> None:
    task_id = await new_task(ctx, "test-Cancel")
    stop = asyncio.Event()
    runner = asyncio.create_task(worker.run(stop))
    try:
        async def step_running() -> bool:
            return (await load(ctx, task_id)).steps[1].status == "RUNNING"

        await wait_for(step_running, what="the cancellable step to start")
        async with ctx.db.session() as session:
            task = await service.cancel_task(session, ADMIN, task_id)
            assert task.cancel_requested and task.status == "RUNNING"

        async def cancelled() -> bool:
            return (await load(ctx, task_id)).status == "CANCELLED"

        await wait_for(cancelled, within=5, what="the task to end CANCELLED")
    finally:
        stop.set()
        await runner
    task = await load(ctx, task_id)
    assert [s.status for s in task.steps] == ["SUCCESS", "FAILURE", "NOTSTARTED"]
    assert ran(task_id, "testRecordC") == 0 and FINISHED[task_id] == "CANCELLED"
    async with ctx.db.session() as session:
        with pytest.raises(Conflict):
            await service.cancel_task(session, ADMIN, task_id)


async def test_cancel_a_task_no_worker_holds_ends_it_at_once(ctx: AppContext, worker: Worker) -> None:
    task_id = await new_task(ctx, "test-Ordered")
    async with ctx.db.session() as session:
        task = await service.cancel_task(session, ADMIN, task_id)
        assert task.status == "CANCELLED" and task.message == "cancelled by admin"
    await worker.drain([task_id])
    assert ran(task_id, "testRecordA") == 0 and FINISHED[task_id] == "CANCELLED"


async def test_temporary_errors_are_retried_with_backoff(ctx: AppContext, worker: Worker) -> None:
    ok = await new_task(ctx, "test-Temporary", succeed_on=3)
    gives_up = await new_task(ctx, "test-Temporary", succeed_on=10)
    await worker.drain([ok, gives_up])
    task = await load(ctx, ok)
    assert task.status == "SUCCESS" and task.steps[1].attempts == 3 and ran(ok, "testTemporary") == 3
    task = await load(ctx, gives_up)
    assert task.status == "FAILURE" and ran(gives_up, "testTemporary") == 4  # max_retries=3: 4 attempts
    assert "gave up after 4 attempts" in task.message
    assert any("will be retried in" in line for line in await log_lines(ctx, gives_up))


async def test_a_step_over_its_timeout_ends_the_task_timeout(ctx: AppContext, worker: Worker) -> None:
    task_id = await new_task(ctx, "test-Timeout", sleep=5)
    await worker.drain([task_id])
    task = await load(ctx, task_id)
    assert task.status == "TIMEOUT"
    assert task.steps[1].status == "FAILURE" and task.steps[1].message == "timed out after 0.5s"
    assert ran(task_id, "testRecordC") == 0 and FINISHED[task_id] == "TIMEOUT"
    CONTROL[task_id] = {}
    async with ctx.db.session() as session:  # TIMEOUT is retryable
        assert (await service.retry_task(session, ADMIN, task_id)).status == "RUNNING"


async def test_an_expired_lease_is_taken_over_and_the_stale_worker_cannot_write(
    ctx: AppContext, worker_settings: WorkerSettings
) -> None:
    stale = Worker(ctx.db, worker_settings, name="stale")
    fresh = Worker(ctx.db, worker_settings, name="fresh")
    task_id = await new_task(ctx, "test-Ordered")
    claim = await stale.claim()
    assert claim is not None and claim.task_id == task_id
    assert await fresh.claim() is None  # held by a live lease
    async with ctx.db.session() as session:
        await session.execute(update(Task).where(Task.id == task_id)
                              .values(lease_expires_at=utcnow() - timedelta(seconds=1)))
    await fresh.drain([task_id])
    await stale.execute(claim)  # its fenced writes match nothing: it drops the task
    assert stale.stats.leases_lost == 1
    task = await load(ctx, task_id)
    assert task.status == "SUCCESS" and [s.attempts for s in task.steps] == [1, 1, 1]
    assert ran(task_id, "testRecordA") == 1
    assert any("worker stale lost its lease" in line for line in await log_lines(ctx, task_id))


async def test_a_failing_on_finish_hook_is_rolled_back_and_logged(ctx: AppContext, worker: Worker) -> None:
    task_id = await new_task(ctx, "test-BadHook")
    await worker.drain([task_id], within=10)
    task = await load(ctx, task_id)
    assert task.status == "SUCCESS" and task.lease_token is None
    lines = await log_lines(ctx, task_id)
    assert "half-written by the hook" not in lines
    assert "updating the target failed: RuntimeError: target is gone" in lines


async def test_committing_a_task_wakes_an_idle_worker_at_once(ctx: AppContext) -> None:
    slow_poll = WorkerSettings(lease_seconds=2, poll_interval=30, concurrency=1)
    worker = Worker(ctx.db, slow_poll, name="sleepy")
    stop = asyncio.Event()
    runner = asyncio.create_task(worker.run(stop))
    try:
        await asyncio.sleep(0.2)  # the worker found nothing and now waits up to 30 s
        task_id = await new_task(ctx, "test-Ordered")

        async def done() -> bool:
            return (await load(ctx, task_id)).status == "SUCCESS"

        await wait_for(done, within=10, what="the woken worker to run the task")
    finally:
        stop.set()
        await runner
