"""A worker process killed with SIGKILL mid-step is replaced; the task completes, finished steps run once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from shoal.context import AppContext
from tests.tasks.helpers import load, log_lines, new_task, wait_for

REPO = Path(__file__).resolve().parents[2]


def start_worker(db_url: str, data_dir: Path, log_file: Path) -> subprocess.Popen[bytes]:
    """``shoal worker`` in its own process, with the test step types and a 2-second lease."""
    env = {
        **os.environ,
        "SHOAL_DATABASE_URL": db_url,
        "SHOAL_DATA_DIR": str(data_dir),
        "SHOAL_SECRET_KEY": "test-secret-key",
        "SHOAL_LOG_JSON": "false",
        "SHOAL_WORKER_LEASE_SECONDS": "2",
        "SHOAL_WORKER_POLL_INTERVAL": "0.1",
    }
    with log_file.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-c", "from shoal.cli import main; main()", "worker", "--concurrency", "1",
             "--import", "tests.tasks.steps"],
            env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
        )


async def test_sigkilled_worker_is_replaced_and_the_task_resumes_at_its_step(
    ctx: AppContext, db_url: str, tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    log_file = tmp_path / "workers.log"
    task_id = await new_task(ctx, "test-Crash", marker=str(marker))
    first = start_worker(db_url, tmp_path / "w1", log_file)
    try:
        async def crashy_running() -> bool:
            return marker.exists() and "testCrashy 1" in marker.read_text()

        await wait_for(crashy_running, within=20, what="the first worker to start the crashy step")
        first.send_signal(signal.SIGKILL)
        assert first.wait(timeout=10) == -signal.SIGKILL
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    task = await load(ctx, task_id)
    assert task.status == "RUNNING" and task.steps[1].status == "RUNNING" and task.lease_token is not None

    second = start_worker(db_url, tmp_path / "w2", log_file)
    try:
        async def ended() -> bool:
            return (await load(ctx, task_id)).is_final

        await wait_for(ended, within=30, what="the replacement worker to finish the task")
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=10)
    task = await load(ctx, task_id)
    assert task.status == "SUCCESS", log_file.read_text()
    assert marker.read_text().splitlines() == ["testRecordA 1", "testCrashy 1", "testCrashy 2", "testRecordC 1"]
    assert [s.attempts for s in task.steps] == [1, 2, 1]
    assert any("lost its lease" in line for line in await log_lines(ctx, task_id))
