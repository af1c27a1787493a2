"""In headless Chromium, a running demo task's log lines appear live on its page, without a reload."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import LiveServer, chromium, live_server, screenshots  # noqa: F401  (fixtures)
from tests.conftest import ADMIN_PASSWORD

pytestmark = pytest.mark.browser


def test_running_task_log_lines_appear_live(live_server: LiveServer, chromium: Browser,  # noqa: F811
                                            screenshots: Path) -> None:  # noqa: F811
    url = live_server.url
    token = httpx.post(url + "/api/v1/auth/token", json={"username": "admin", "password": ADMIN_PASSWORD,
                                                          "name": "browser-test", "expires": "1d"}).json()["token"]
    api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert api.post("/api/v1/projects", json={"code": "live", "name": "Live"}).status_code == 201

    context = chromium.new_context(viewport={"width": 1360, "height": 860}, locale="en-US")
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto(url + "/login")
    page.fill("#username", "admin")
    page.fill("#password", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    expect(page.get_by_test_id("whoami")).to_have_text("admin")

    task = api.post("/api/v1/tasks", json={"type": "shoal-DemoTask", "project": "live",
                                           "params": {"lines": 8, "interval": 0.6}}).json()
    page.goto(f"{url}/tasks/{task['id']}")
    log = page.get_by_test_id("task-log")
    expect(log).to_contain_text("demo line 1 of 8")
    page.evaluate("window.__notReloaded = true")
    expect(page.locator('[data-step="runDemoTask"]')).to_have_attribute("data-status", "RUNNING")
    page.screenshot(path=str(screenshots / "tasks-01-running.png"), full_page=True)
    expect(log).to_contain_text("demo line 5 of 8")
    expect(log).to_contain_text("task ended SUCCESS")
    expect(page.locator("[data-tv-status] .badge")).to_have_attribute("data-status", "SUCCESS")
    expect(page.locator('[data-step="finishDemoTask"]')).to_have_attribute("data-status", "SUCCESS")
    expect(page.locator("[data-tv-live]")).to_be_hidden()
    assert page.evaluate("window.__notReloaded === true"), "the page was reloaded"
    assert page.locator("[data-tv-log] .tv-line").count() == len(
        api.get(f"/api/v1/tasks/{task['id']}/logs").json()["items"])
    page.screenshot(path=str(screenshots / "tasks-02-done.png"), full_page=True)
    context.close()
