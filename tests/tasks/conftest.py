"""Fixtures of the task-engine tests: a worker with a short lease, and helpers to make and read tasks."""

from __future__ import annotations

import pytest

from shoal.context import AppContext
from shoal.core.config import Settings
from shoal.iam.authz import Principal
from shoal.tasks.worker import Worker, WorkerSettings
from tests.tasks import steps  # noqa: F401  (registers the test step and task types)

ADMIN = Principal(user_id=1, username="admin", is_admin=True)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """These tests start the demo task type through the API: enable it as 'make demo' does (SHOAL_DEMO=true)."""
    settings.demo = True
    return settings


@pytest.fixture
def worker_settings() -> WorkerSettings:
    return WorkerSettings(lease_seconds=2, poll_interval=0.05, concurrency=1, max_backoff=1)


@pytest.fixture
def worker(ctx: AppContext, worker_settings: WorkerSettings) -> Worker:
    return Worker(ctx.db, worker_settings, app=ctx, name="test-worker")
