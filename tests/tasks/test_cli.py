"""``shoal task …`` against a real Shoal server on loopback, with a worker running beside it."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from typer.testing import CliRunner

from shoal.cli import app as cli
from shoal.tasks.worker import Worker
from tests.conftest import ADMIN_TOKEN


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_task_commands(api_server: str, worker: Worker, monkeypatch: pytest.MonkeyPatch,
                             client: httpx.AsyncClient, admin_headers: dict[str, str]) -> None:
    assert (await client.post("/api/v1/projects", json={"code": "alpha", "name": "Alpha"},
                              headers=admin_headers)).status_code == 201
    for key, value in {"SHOAL_URL": api_server, "SHOAL_TOKEN": ADMIN_TOKEN, "SHOAL_LANG": "en", "COLUMNS": "200",
                       "SHOAL_CONFIG": "/nonexistent/shoal.json"}.items():
        monkeypatch.setenv(key, value)
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(cli, list(args), catch_exceptions=False)
        return result.exit_code, result.output

    code, text = run("task", "demo", "-p", "alpha", "--lines", "3", "--interval", "0.2")
    task_id = text.strip()
    assert code == 0 and len(task_id) == 32
    (code, text), _ = await asyncio.gather(asyncio.to_thread(run, "task", "logs", task_id, "-f"),
                                           worker.drain([task_id]))
    assert code == 0, text
    assert "[runDemoTask] demo line 3 of 3" in text and text.rstrip().endswith("task ended SUCCESS")
    code, text = run("task", "show", task_id)
    assert code == 0 and "runDemoTask" in text and "Write log lines" in text and "SUCCESS" in text
    code, text = run("task", "list", "-p", "alpha", "-o", "json")
    assert code == 0 and [t["id"] for t in json.loads(text)["items"]] == [task_id]
    code, text = run("task", "list", "--status", "SUCCESS")
    assert code == 0 and task_id in text and "1 of 1" in text

    code, text = run("task", "demo", "-p", "alpha", "--lines", "1", "--fail")
    failing = text.strip()
    await worker.drain([failing])
    code, text = run("task", "logs", failing, "-f")
    assert code == 1 and "task ended FAILURE" in text
    code, text = run("task", "retry", failing)
    assert code == 0 and text.strip() == f"task {failing}: RUNNING"
    await worker.drain([failing])
    code, text = run("task", "skip", failing)
    assert code == 0 and "RUNNING" in text
    await worker.drain([failing])
    code, text = run("task", "show", failing, "-o", "json")
    assert [s["status"] for s in json.loads(text)["steps"]] == ["SUCCESS", "SUCCESS", "SKIP", "SUCCESS"]
    code, text = run("task", "retry", failing)
    assert code == 1 and "only a failed or timed-out task" in text

    code, text = run("task", "demo", "-p", "alpha")
    code, text = run("task", "cancel", text.strip())
    assert code == 0 and text.strip().endswith("CANCELLED")
