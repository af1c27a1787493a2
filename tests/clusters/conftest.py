"""Fixtures of the cluster tests: kubesim over real HTTPS, a project to import into, people, a worker."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from kubesim.runner import Simulator
from shoal.context import AppContext
from shoal.tasks.worker import Worker, WorkerSettings, load_task_modules
from tests.support.api import enabled_project

load_task_modules()


@pytest.fixture(scope="session")
def shared_sim() -> Iterator[Simulator]:
    """A kubesim nobody mutates (3 nodes): tests that inject faults or expire tokens use ``sim``."""
    simulator = Simulator(nodes=3).start()
    try:
        yield simulator
    finally:
        simulator.stop()


@pytest.fixture
def sim() -> Iterator[Simulator]:
    simulator = Simulator(nodes=3).start()
    try:
        yield simulator
    finally:
        simulator.stop()


@pytest.fixture
async def people(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> dict[str, dict[str, str]]:
    """Project 'alpha' (enabled) with mona (manager), dave (developer), vera (viewer); eve has no role."""
    roles = {"mona": "manager", "dave": "developer", "vera": "viewer", "eve": None}
    return await enabled_project(client, admin_headers, roles)


@pytest.fixture
def worker(ctx: AppContext) -> Worker:
    return Worker(ctx.db, WorkerSettings(lease_seconds=5, poll_interval=0.05, concurrency=2), app=ctx,
                  name="cluster-test-worker")
