"""The task viewer pages over ASGI: list, detail with steps and log, actions with CSRF, refusals."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from shoal.context import AppContext
from shoal.tasks.worker import Worker
from tests.conftest import ADMIN_PASSWORD
from tests.tasks.helpers import new_task
from tests.web.helpers import User, browser, login, make_user


@pytest.fixture
async def admin(ctx: AppContext) -> AsyncIterator[User]:
    async with browser(ctx) as client:
        yield User(client, await login(client, "admin", ADMIN_PASSWORD))


async def test_task_pages_show_steps_logs_and_actions(ctx: AppContext, admin: User, worker: Worker) -> None:
    task_id = await new_task(ctx, "shoal-DemoTask", lines=2, interval=0, fail=True)
    await worker.drain([task_id])
    listing = await admin.get("/tasks?status=FAILURE")
    assert listing.status_code == 200 and f'data-task="{task_id}"' in listing.text
    assert 'data-task="' not in (await admin.get("/tasks?status=SUCCESS")).text

    page = await admin.get(f"/tasks/{task_id}")
    assert page.status_code == 200
    html = page.text
    for name in ("prepareDemoTask", "runDemoTask", "checkDemoTask", "finishDemoTask"):
        assert f'data-step="{name}"' in html
    assert "demo line 2 of 2" in html and "the demo was asked to fail" in html
    assert 'data-tv-action="retry" hidden' not in html and 'data-tv-action="cancel"' in html
    assert 'data-final="1"' in html and "/static/js/tasks.js" in html

    r = await admin.submit(f"/tasks/{task_id}/retry")
    assert r.status_code == 303 and r.headers["location"] == f"/tasks/{task_id}"
    html = (await admin.get(f"/tasks/{task_id}")).text
    assert 'data-status="RUNNING"' in html and 'data-final=""' in html
    r = await admin.submit(f"/tasks/{task_id}/retry")  # refused: not failed now; shown on the page
    assert r.status_code == 409 and 'data-error-code="error.task_not_retryable"' in r.text
    assert (await admin.get(f"/tasks/{task_id}/panel")).status_code == 200


async def test_outsiders_and_anonymous_are_refused(ctx: AppContext, admin: User) -> None:
    task_id = await new_task(ctx, "shoal-DemoTask")
    await make_user(admin.client, admin.csrf, "eve")
    async with browser(ctx) as client:
        eve = User(client, await login(client, "eve", "password-123"))
        assert (await eve.get(f"/tasks/{task_id}")).status_code == 403
        assert (await eve.submit(f"/tasks/{task_id}/cancel")).status_code == 403
        assert f'data-task="{task_id}"' not in (await eve.get("/tasks")).text
    async with browser(ctx) as anonymous:
        r = await anonymous.get(f"/tasks/{task_id}")
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
