"""The task API: filters, pagination, detail, logs with a cursor, SSE stream, operations and refusals."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from shoal.context import AppContext
from shoal.tasks.worker import Worker
from tests.support.api import make_user

DEMO = {"type": "shoal-DemoTask", "project": "alpha", "params": {"lines": 3, "interval": 0}}


@pytest.fixture
async def people(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> dict[str, dict[str, str]]:
    """Project 'alpha' with mona (manager) and vera (viewer); eve has no role anywhere."""
    r = await client.post("/api/v1/projects", json={"code": "alpha", "name": "Alpha"}, headers=admin_headers)
    assert r.status_code == 201, r.text
    users = {name: await make_user(client, admin_headers, name) for name in ("mona", "vera", "eve")}
    for name, role in (("mona", "manager"), ("vera", "viewer")):
        r = await client.post("/api/v1/projects/alpha/members", json={"username": name, "role": role},
                              headers=admin_headers)
        assert r.status_code in (200, 201), r.text
    return {"admin": admin_headers, **users}


async def start(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    body = {**DEMO, "params": {**DEMO["params"], **params}}
    r = await client.post("/api/v1/tasks", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


def parse_sse(text: str) -> list[tuple[str, Any]]:
    events = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":"))
        if "event" in fields:
            events.append((fields["event"], json.loads(fields["data"])))
    return events


async def test_start_follow_and_read_a_task(client: httpx.AsyncClient, people: dict[str, dict[str, str]],
                                            worker: Worker) -> None:
    mona, vera = people["mona"], people["vera"]
    task = await start(client, mona)
    assert task["status"] == "INITIALIZING" and task["steps_total"] == 4 and task["can_manage"] is True
    assert [s["name"] for s in task["steps"]] == ["prepareDemoTask", "runDemoTask", "checkDemoTask",
                                                  "finishDemoTask"]
    await worker.drain([task["id"]])
    r = await client.get(f"/api/v1/tasks/{task['id']}", headers={**vera, "Accept-Language": "en"})
    detail = r.json()
    assert r.status_code == 200 and detail["status"] == "SUCCESS" and detail["can_manage"] is False
    assert detail["title"] == "Demo task" and detail["steps"][1]["title"] == "Write log lines"
    assert all(s["status"] == "SUCCESS" and s["duration_seconds"] is not None for s in detail["steps"])
    zh = (await client.get(f"/api/v1/tasks/{task['id']}", headers={**vera, "Accept-Language": "zh-CN"})).json()
    assert zh["title"] == "演示任务"

    r = await client.get(f"/api/v1/tasks/{task['id']}/logs", params={"limit": 4}, headers=vera)
    first = r.json()
    assert len(first["items"]) == 4 and first["final"] is True and first["task_status"] == "SUCCESS"
    rest = (await client.get(f"/api/v1/tasks/{task['id']}/logs", params={"after": first["next_cursor"]},
                             headers=vera)).json()
    messages = [x["message"] for x in first["items"] + rest["items"]]
    assert [m for m in messages if m.startswith("demo line")] == ["demo line 1 of 3", "demo line 2 of 3",
                                                                  "demo line 3 of 3"]
    assert messages[-1] == "task ended SUCCESS"
    assert len({x["id"] for x in first["items"] + rest["items"]}) == len(messages)
    assert (await client.get(f"/api/v1/tasks/{task['id']}/logs", params={"after": rest["next_cursor"]},
                             headers=vera)).json()["items"] == []

    r = await client.get(f"/api/v1/tasks/{task['id']}/stream", headers=vera)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(r.text)
    assert events[0][0] == "task" and events[0][1]["status"] == "SUCCESS"
    assert [d["message"] for e, d in events if e == "log"] == messages
    assert events[-1] == ("end", {"status": "SUCCESS"})
    r = await client.get(f"/api/v1/tasks/{task['id']}/stream", headers={**vera, "Last-Event-ID": str(
        first["next_cursor"])})
    assert [d["message"] for e, d in parse_sse(r.text) if e == "log"] == [x["message"] for x in rest["items"]]


async def test_list_filters_and_pagination(client: httpx.AsyncClient, people: dict[str, dict[str, str]],
                                           worker: Worker, admin_headers: dict[str, str]) -> None:
    mona = people["mona"]
    ok = [await start(client, mona) for _ in range(3)]
    bad = await start(client, mona, fail=True)
    await worker.drain([t["id"] for t in [*ok, bad]])
    page = (await client.get("/api/v1/tasks", params={"project": "alpha", "limit": 2}, headers=mona)).json()
    assert page["total"] == 4 and len(page["items"]) == 2 and page["items"][0]["id"] == bad["id"]
    page2 = (await client.get("/api/v1/tasks", params={"project": "alpha", "limit": 2, "offset": 2},
                              headers=mona)).json()
    assert {t["id"] for t in page["items"] + page2["items"]} == {t["id"] for t in [*ok, bad]}
    failed = (await client.get("/api/v1/tasks", params={"status": "FAILURE"}, headers=mona)).json()
    assert [t["id"] for t in failed["items"]] == [bad["id"]]
    assert "the demo was asked to fail" in failed["items"][0]["message"]
    typed = (await client.get("/api/v1/tasks", params={"type": "shoal-DemoTask"}, headers=mona)).json()
    assert typed["total"] == 4
    assert (await client.get("/api/v1/tasks", params={"type": "other"}, headers=mona)).json()["total"] == 0
    assert (await client.get("/api/v1/tasks", params={"cluster": "BCS-K8S-1"}, headers=mona)).json()["total"] == 0
    assert (await client.get("/api/v1/tasks", headers=people["eve"])).json()["total"] == 0


async def test_manager_retries_skips_and_cancels(client: httpx.AsyncClient, people: dict[str, dict[str, str]],
                                                 worker: Worker, admin_headers: dict[str, str]) -> None:
    mona = people["mona"]
    task = await start(client, mona, fail=True)
    await worker.drain([task["id"]])
    r = await client.post(f"/api/v1/tasks/{task['id']}/retry", headers=mona)
    assert r.status_code == 200 and r.json()["status"] == "RUNNING"
    await worker.drain([task["id"]])
    r = await client.post(f"/api/v1/tasks/{task['id']}/skip", headers=mona)
    assert r.status_code == 200, r.text
    assert r.json()["steps"][2]["status"] == "SKIP"
    await worker.drain([task["id"]])
    detail = (await client.get(f"/api/v1/tasks/{task['id']}", headers=mona)).json()
    assert detail["status"] == "SUCCESS"
    assert [s["status"] for s in detail["steps"]] == ["SUCCESS", "SUCCESS", "SKIP", "SUCCESS"]
    r = await client.post(f"/api/v1/tasks/{task['id']}/retry", headers={**mona, "Accept-Language": "en"})
    assert r.status_code == 409 and "only a failed or timed-out task" in r.json()["message"]

    other = await start(client, mona)
    r = await client.post(f"/api/v1/tasks/{other['id']}/cancel", headers=mona)
    assert r.status_code == 200 and r.json()["status"] == "CANCELLED"
    assert (await client.post(f"/api/v1/tasks/{other['id']}/cancel", headers=mona)).status_code == 409
    audit = (await client.get("/api/v1/audit", params={"action": "task."}, headers=admin_headers)).json()
    assert sorted(e["action"] for e in audit["items"]) == [
        "task.cancel", "task.retry", "task.skip", "task.start", "task.start"]


ROUTES = [
    ("GET", "/api/v1/tasks?project=alpha", None),
    ("POST", "/api/v1/tasks", DEMO),
    ("GET", "/api/v1/tasks/{id}", None),
    ("GET", "/api/v1/tasks/{id}/logs", None),
    ("GET", "/api/v1/tasks/{id}/stream", None),
    ("POST", "/api/v1/tasks/{id}/retry", None),
    ("POST", "/api/v1/tasks/{id}/skip", None),
    ("POST", "/api/v1/tasks/{id}/cancel", None),
]
# Read by tests/integration/test_route_permissions.py: these routes' refusals are tested here.
PERMISSION_ROUTES = {(method, path.partition("?")[0].replace("{id}", "{task_id}")) for method, path, _ in ROUTES}


async def test_every_route_refuses_outsiders_and_anonymous(
    client: httpx.AsyncClient, people: dict[str, dict[str, str]], ctx: AppContext
) -> None:
    task = await start(client, people["mona"], fail=True)
    for method, path, body in ROUTES:
        url = path.format(id=task["id"])
        r = await client.request(method, url, json=body, headers=people["eve"])
        assert r.status_code == 403, (method, path, r.text)
        assert r.json()["code"] == "error.permission_denied"
        r = await client.request(method, url, json=body)
        assert r.status_code == 401, (method, path, r.text)
        assert r.json()["code"] == "error.unauthenticated"
        if method == "POST":  # a viewer may read but not steer or start
            r = await client.request(method, url, json=body, headers=people["vera"])
            assert r.status_code == 403, (method, path, r.text)


async def test_unknown_task_and_type(client: httpx.AsyncClient, people: dict[str, dict[str, str]]) -> None:
    mona = people["mona"]
    assert (await client.get("/api/v1/tasks/" + "f" * 32, headers=mona)).status_code == 404
    r = await client.post("/api/v1/tasks", json={**DEMO, "type": "test-Ordered"}, headers=mona)
    assert r.status_code == 400 and r.json()["code"] == "error.task_type_unknown"
