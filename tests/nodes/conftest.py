"""Fixtures of the node tests: kubesim over real HTTPS imported into Shoal, people, a worker, kubectl."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from kubesim.runner import Simulator
from shoal.context import AppContext
from shoal.tasks.worker import Worker, WorkerSettings, load_task_modules
from tests.support.api import enabled_project

load_task_modules(["shoal.nodes.drain"])

KUBECTL = str(Path(sys.executable).with_name("kubectl"))


@pytest.fixture
def sim() -> Iterator[Simulator]:
    simulator = Simulator(nodes=4).start()
    try:
        yield simulator
    finally:
        simulator.stop()


@pytest.fixture
async def people(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> dict[str, dict[str, str]]:
    """Project 'alpha' (enabled) with mona (manager) and vera (viewer); eve has no role."""
    return await enabled_project(client, admin_headers, {"mona": "manager", "vera": "viewer", "eve": None})


@pytest.fixture
def worker(ctx: AppContext) -> Worker:
    return Worker(ctx.db, WorkerSettings(lease_seconds=5, poll_interval=0.05, concurrency=2), app=ctx,
                  name="node-test-worker")


@dataclass
class Kubectl:
    """The real kubectl with its own HOME (discovery cache) and the simulator's admin kubeconfig."""

    home: Path
    kubeconfig: Path

    def __call__(self, *args: str) -> str:
        env = {"HOME": str(self.home), "PATH": os.environ.get("PATH", "")}
        done = subprocess.run([KUBECTL, "--kubeconfig", str(self.kubeconfig), *args], capture_output=True,
                              text=True, env=env, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout


@pytest.fixture
def kubectl(sim: Simulator, tmp_path: Path) -> Kubectl:
    home = tmp_path / "kubectl-home"
    home.mkdir()
    path = home / "kubeconfig"
    path.write_text(sim.kubeconfig("admin"))
    return Kubectl(home, path)


@pytest.fixture
async def cluster(client: httpx.AsyncClient, people: dict[str, dict[str, str]], sim: Simulator,
                  worker: Worker) -> str:
    """The simulator imported into project alpha by mona, RUNNING."""
    r = await client.post("/api/v1/clusters", json={"project": "alpha", "name": "sim", "environment": "prod",
                                                     "kubeconfig": sim.kubeconfig("admin")}, headers=people["mona"])
    assert r.status_code == 201, r.text
    body = r.json()
    await worker.drain([body["import_task_id"]], within=60)
    return str(body["id"])


def node_table(output: str) -> dict[str, str]:
    """``kubectl get nodes`` output as name -> STATUS."""
    rows = [line.split() for line in output.strip().splitlines()[1:]]
    return {row[0]: row[1] for row in rows}


Seed = Callable[..., Any]
