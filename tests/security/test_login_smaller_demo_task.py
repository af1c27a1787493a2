"""Finding 7: the demo task type cannot be started on a production server, and its params are capped."""

from __future__ import annotations

import httpx

from shoal.context import AppContext
from shoal.tasks.models import Task
from tests.support.api import make_user

DEMO = {"type": "shoal-DemoTask", "project": "alpha", "params": {"lines": 3, "interval": 0}}


async def _project(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> None:
    r = await client.post("/api/v1/projects", json={"code": "alpha", "name": "Alpha"}, headers=admin_headers)
    assert r.status_code == 201, r.text


async def _tasks(ctx: AppContext) -> int:
    async with ctx.db.session() as session:
        return len((await session.execute(Task.__table__.select())).all())


async def test_demo_task_is_refused_with_default_settings(client: httpx.AsyncClient, ctx: AppContext,
                                                          admin_headers: dict[str, str]) -> None:
    assert ctx.settings.demo is False
    await _project(client, admin_headers)
    r = await client.post("/api/v1/tasks", json=DEMO, headers={**admin_headers, "Accept-Language": "en"})
    assert r.status_code == 409, r.text
    body = r.json()
    assert body["code"] == "error.demo_disabled"
    assert body["message"] == "The demo task type 'shoal-DemoTask' can only be started while the demo runs."
    assert "SHOAL_DEMO=true" in body["hint"]
    r = await client.post("/api/v1/tasks", json=DEMO, headers={**admin_headers, "Accept-Language": "zh-CN"})
    assert r.json()["message"] == "演示任务类型 'shoal-DemoTask' 仅在演示环境中可以启动。"
    assert await _tasks(ctx) == 0


async def test_demo_task_params_are_capped_while_the_demo_runs(client: httpx.AsyncClient, ctx: AppContext,
                                                               admin_headers: dict[str, str]) -> None:
    ctx.settings.demo = True
    await _project(client, admin_headers)
    english = {**admin_headers, "Accept-Language": "en"}
    for params, field in (({"lines": 1000, "interval": 0}, "params.lines"),
                          ({"lines": 3, "interval": 3600}, "params.interval"),
                          ({"lines": 3, "interval": "forever"}, "params.interval"),
                          ({"lines": -1}, "params.lines")):
        r = await client.post("/api/v1/tasks", json={**DEMO, "params": params}, headers=english)
        assert r.status_code == 400, r.text
        assert r.json()["field"] == field and "must be a number from 0 to" in r.json()["message"]
    assert await _tasks(ctx) == 0
    r = await client.post("/api/v1/tasks", json=DEMO, headers=english)
    assert r.status_code == 201, r.text
    # Still only for those who may manage clusters in the project.
    viewer = await make_user(client, admin_headers, "vera")
    await client.post("/api/v1/projects/alpha/members", json={"username": "vera", "role": "viewer"},
                      headers=admin_headers)
    r = await client.post("/api/v1/tasks", json=DEMO, headers=viewer)
    assert r.status_code == 403 and r.json()["code"] == "error.permission_denied"
    assert await _tasks(ctx) == 1
