"""Task engine throughput: 1,000 five-step no-op tasks with 1 worker vs 4 workers on PostgreSQL.

Run with ``make bench`` or ``python -m bench tasks`` (``BENCH_TASKS=200`` for a
quick look). It starts a throwaway PostgreSQL 15 (like the tests do), and for
each run a fresh database and that many ``shoal worker`` processes
(one slot each, 0.1 s idle poll), then enqueues all tasks in one transaction
and measures from its commit to the last task's end. Runs go 1, 4, 4, 1 workers
so a load that drifts during the run (the VM is shared) weighs on both sides.
The same is repeated with
100 tasks whose five steps each wait 50 ms (``BENCH_SLEEP_MS``), standing for
real steps that wait on SSH or a cloud API. It also measures the
claim latency two ways: the time of one claim transaction while 1,000 tasks
are queued, and the pickup delay of a task enqueued into idle workers
(creation to first step start). Figures go to docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select

from shoal.store.db import Database
from shoal.store.migrate import upgrade_async
from shoal.store.types import utcnow
from shoal.tasks import service
from shoal.tasks.models import Task, TaskStep
from shoal.tasks.registry import REGISTRY, StepContext
from shoal.tasks.worker import Worker, WorkerSettings

TASK_TYPE = "bench-Noop5"
SLEEP_TYPE = "bench-Sleep5"
STEPS = [f"benchNoop{i}" for i in range(1, 6)]
SLEEP_STEPS = [f"benchSleep{i}" for i in range(1, 6)]
REPO = Path(__file__).resolve().parents[1]
POLL = 0.1
SLEEP_MS = int(os.environ.get("BENCH_SLEEP_MS", "50"))
SLEEP_TASKS = int(os.environ.get("BENCH_SLEEP_TASKS", "100"))


async def _noop(ctx: StepContext) -> None:
    return None


async def _sleep(ctx: StepContext) -> None:
    """Stands for a step that waits on something remote (an SSH command, a cloud API)."""
    await asyncio.sleep(float(ctx.params.get("sleep", 0.02)))


for _name in STEPS:
    REGISTRY.step(_name, title_en=f"No-op {_name[-1]}", title_zh=f"空步骤 {_name[-1]}")(_noop)
for _name in SLEEP_STEPS:
    REGISTRY.step(_name, title_en=f"Wait {_name[-1]}", title_zh=f"等待 {_name[-1]}")(_sleep)
REGISTRY.task_type(TASK_TYPE, title_en="Benchmark no-op", title_zh="基准测试空任务", steps=STEPS)
REGISTRY.task_type(SLEEP_TYPE, title_en="Benchmark wait", title_zh="基准测试等待任务", steps=SLEEP_STEPS)


def _start_workers(url: str, count: int, data_dir: Path) -> list[subprocess.Popen[str]]:
    env = {**os.environ, "SHOAL_DATABASE_URL": url, "SHOAL_DATA_DIR": str(data_dir), "SHOAL_SECRET_KEY": "bench",
           "SHOAL_LOG_JSON": "false", "SHOAL_LOG_LEVEL": "WARNING"}
    procs = [subprocess.Popen([sys.executable, "-c", "from shoal.cli import main; main()", "worker",
                               "--concurrency", "1", "--poll", str(POLL), "--import", "bench.tasks"],
                              env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(count)]
    for proc in procs:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if "task worker started" not in line:
            raise RuntimeError(f"worker did not start: {line}{proc.stdout.read()}")
    time.sleep(1.5)  # past the import and first poll of every worker
    return procs


def _stop_workers(procs: list[subprocess.Popen[str]]) -> None:
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        proc.wait(timeout=30)


async def _enqueue(db: Database, count: int, task_type: str = TASK_TYPE,
                   params: dict[str, float] | None = None) -> datetime:
    async with db.session() as session:
        for _ in range(count):
            await service.create_task(session, task_type, project_code="bench", creator="bench", params=params)
    return utcnow()


async def _wait_all_done(db: Database, count: int) -> datetime:
    while True:
        async with db.session() as session:
            done = await session.scalar(select(func.count()).select_from(Task).where(Task.status == "SUCCESS"))
            if done == count:
                last: datetime | None = await session.scalar(select(func.max(Task.finished_at)))
                assert last is not None
                return last
        await asyncio.sleep(0.05)


async def _pickup_latency(db: Database, samples: int) -> list[float]:
    """Enqueue tasks one at a time into idle workers; seconds from creation to first step start."""
    ids = []
    for _ in range(samples):
        async with db.session() as session:
            ids.append((await service.create_task(session, TASK_TYPE, project_code="bench", creator="bench")).id)
        await asyncio.sleep(0.15)
    await _wait_all_done(db, await _count(db))
    async with db.session() as session:
        rows = await session.execute(
            select(Task.created_at, TaskStep.started_at).join(TaskStep, TaskStep.task_id == Task.id)
            .where(Task.id.in_(ids), TaskStep.position == 0))
        return [(started - created).total_seconds() for created, started in rows if started is not None]


async def _count(db: Database) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(Task)) or 0)


async def _throughput(url: str, workers: int, tasks: int, data_dir: Path, latency_samples: int,
                      task_type: str = TASK_TYPE, params: dict[str, float] | None = None) -> dict[str, float]:
    await upgrade_async(url)
    db = Database(url)
    procs = await asyncio.to_thread(_start_workers, url, workers, data_dir)
    try:
        committed = await _enqueue(db, tasks, task_type, params)
        last = await _wait_all_done(db, tasks)
        elapsed = (last - committed).total_seconds()
        result = {"elapsed": elapsed, "tasks_per_s": tasks / elapsed, "steps_per_s": tasks * len(STEPS) / elapsed}
        if latency_samples:
            pickups = await _pickup_latency(db, latency_samples)
            result["pickup_p50"] = statistics.median(pickups)
            result["pickup_p95"] = statistics.quantiles(pickups, n=20)[18]
        return result
    finally:
        await asyncio.to_thread(_stop_workers, procs)
        await db.dispose()


async def _claim_latency(url: str, queued: int, claims: int) -> list[float]:
    """Seconds per claim transaction with ``queued`` runnable tasks waiting (claims are not executed)."""
    await upgrade_async(url)
    db = Database(url)
    try:
        await _enqueue(db, queued)
        worker = Worker(db, WorkerSettings(lease_seconds=600), name="bench-claimer")
        for _ in range(claims):
            assert await worker.claim() is not None
        return worker.stats.claim_seconds
    finally:
        await db.dispose()


def _abba(server: object, tmp: Path, tasks: int, task_type: str, params: dict[str, float] | None,
          latency_samples: int) -> tuple[list[dict[str, float]], list[dict[str, float]]]:
    """Runs in the order 1, 4, 4, 1 workers, so a load that rises or falls during the run (this VM is
    shared) weighs on both sides alike; returns the 1-worker and the 4-worker results."""
    results: dict[int, list[dict[str, float]]] = {1: [], 4: []}
    for index, workers in enumerate((1, 4, 4, 1)):
        url = server.create_database()  # type: ignore[attr-defined]
        samples = latency_samples if (workers, index) == (4, 1) else 0
        results[workers].append(asyncio.run(_throughput(url, workers, tasks, tmp, samples, task_type, params)))
    return results[1], results[4]


def _table(title: str, one: list[dict[str, float]], four: list[dict[str, float]], tasks: int) -> None:
    print(title)
    print(f"{'workers':>8} {'seconds (each run)':>22} {'tasks/s':>9} {'steps/s':>9}")
    for count, runs in ((1, one), (4, four)):
        elapsed = sum(r["elapsed"] for r in runs)
        rate = tasks * len(runs) / elapsed
        each = " + ".join(f"{r['elapsed']:.1f}" for r in runs)
        print(f"{count:>8} {each:>22} {rate:>9.1f} {rate * 5:>9.1f}")
    ratio = sum(r["elapsed"] for r in one) / sum(r["elapsed"] for r in four)
    print(f"ratio 4 workers / 1 worker: {ratio:.2f}x\n")


def main() -> None:
    from tests.support.postgres import PostgresServer

    tasks = int(os.environ.get("BENCH_TASKS", "1000"))
    load_before = os.getloadavg()[0]
    base = Path(tempfile.mkdtemp(prefix="shoal-bench-pg-"))
    os.chmod(base, 0o755)
    server = PostgresServer(base)
    server.start()
    try:
        with tempfile.TemporaryDirectory(prefix="shoal-bench-") as tmp:
            one, four = _abba(server, Path(tmp), tasks, TASK_TYPE, None, 40)
            slow_one, slow_four = _abba(server, Path(tmp), SLEEP_TASKS, SLEEP_TYPE, {"sleep": SLEEP_MS / 1000}, 0)
        claims = asyncio.run(_claim_latency(server.create_database(), tasks, min(300, tasks)))
    finally:
        server.stop()
    print(f"machine: {os.cpu_count()} CPUs; 1-minute load average {load_before:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after (figures fall as the load rises: the engine is CPU-bound)")
    print("runs in the order 1, 4, 4, 1 workers; rates over both runs of each\n")
    _table(f"{tasks} tasks x {len(STEPS)} no-op steps on PostgreSQL 15, one slot per worker process",
           one, four, tasks)
    _table(f"{SLEEP_TASKS} tasks x {len(SLEEP_STEPS)} steps that each wait {SLEEP_MS} ms (I/O-bound, like real steps)",
           slow_one, slow_four, SLEEP_TASKS)
    ms = sorted(c * 1000 for c in claims)
    pickup = next(r for r in four if "pickup_p50" in r)
    print(f"claim transaction with {tasks} queued: p50 {statistics.median(ms):.2f} ms, "
          f"p95 {ms[int(len(ms) * 0.95)]:.2f} ms, max {ms[-1]:.2f} ms ({len(ms)} claims)")
    print(f"pickup (enqueue -> first step starts, 4 idle workers, poll {POLL}s): "
          f"p50 {pickup['pickup_p50'] * 1000:.0f} ms, p95 {pickup['pickup_p95'] * 1000:.0f} ms")


if __name__ == "__main__":
    main()
