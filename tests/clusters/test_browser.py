"""In headless Chromium against a real server: paste a kubeconfig, see Import disabled, test, import, overview."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from kubesim.runner import Simulator
from tests.browser.conftest import LiveServer, live_server, screenshots  # noqa: F401
from tests.conftest import ADMIN_PASSWORD
from tests.support.chromium import launched_chromium

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """A Chromium of this module's own: the browser package's one lives as long as that package."""
    with launched_chromium() as browser:
        yield browser


def _prepare(url: str) -> None:
    """A business and an enabled project 'ops', through the API."""
    r = httpx.post(url + "/api/v1/auth/token", json={"username": "admin", "password": ADMIN_PASSWORD})
    assert r.status_code in (200, 201), r.text
    headers = {"Authorization": f"Bearer {r.json()['token']}"}
    for path, body in (("/api/v1/businesses", {"id": 300, "name": "Ops Biz", "maintainers": ["admin"]}),
                       ("/api/v1/projects", {"code": "ops", "name": "Ops"}),
                       ("/api/v1/projects/ops/enable", {"business_id": 300})):
        r = httpx.post(url + path, json=body, headers=headers)
        assert r.status_code in (200, 201), r.text


def _shot(page: Page, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def test_paste_test_import_overview(live_server: LiveServer, chromium: Browser, screenshots: Path,  # noqa: F811
                                    shared_sim: Simulator) -> None:
    url = live_server.url
    _prepare(url)
    context = chromium.new_context(viewport={"width": 1360, "height": 900}, locale="en-US")
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto(url + "/login")
    page.fill("#username", "admin")
    page.fill("#password", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    expect(page.get_by_test_id("whoami")).to_have_text("admin")

    page.goto(url + "/projects/ops/clusters")
    page.get_by_test_id("import-cluster").click()
    expect(page).to_have_url(url + "/projects/ops/clusters/import")
    importer = page.get_by_test_id("import-button")
    page.get_by_test_id("cluster-name").fill("kubesim")

    # the viewer's kubeconfig fails the test, naming the missing right; import stays disabled
    page.get_by_test_id("kubeconfig").fill(shared_sim.kubeconfig("viewer"))
    expect(importer).to_be_disabled()
    page.get_by_test_id("test-kubeconfig").click()
    expect(page.locator("[data-check=cluster_admin].failed")).to_contain_text("lacks cluster-admin")
    expect(importer).to_be_disabled()
    _shot(page, screenshots, "clusters-01-test-failed")

    # the admin's passes and enables Import; editing the text disables it again until tested again
    page.get_by_test_id("kubeconfig").fill(shared_sim.kubeconfig("admin"))
    expect(importer).to_be_disabled()
    page.get_by_test_id("test-kubeconfig").click()
    expect(page.get_by_test_id("check-state")).to_have_attribute("data-state", "ok")
    expect(page.locator(".check-item.passed")).to_have_count(9)
    expect(importer).to_be_enabled()
    page.get_by_test_id("kubeconfig").press("End")
    page.get_by_test_id("kubeconfig").type("\n")
    expect(importer).to_be_disabled()
    page.get_by_test_id("test-kubeconfig").click()
    expect(importer).to_be_enabled()
    _shot(page, screenshots, "clusters-02-test-passed")

    importer.click()
    expect(page).to_have_url(url + "/projects/ops/clusters/BCS-K8S-40000")
    expect(page.get_by_test_id("import-log")).to_be_visible()
    for _ in range(60):
        if page.locator('[data-testid=cluster-head] [data-cluster-status="RUNNING"]').count():
            break
        page.wait_for_timeout(500)
        page.reload()
    expect(page.locator('[data-testid=cluster-head] [data-cluster-status="RUNNING"]')).to_be_visible()
    expect(page.get_by_test_id("cluster-version")).to_have_text("v1.37.1")
    expect(page.get_by_test_id("cluster-nodes")).to_contain_text("kubesim-control-plane")
    expect(page.get_by_test_id("overview-nodes")).to_contain_text("2")
    _shot(page, screenshots, "clusters-03-overview")

    page.goto(url + "/projects/ops/clusters")
    expect(page.locator('tr[data-cluster="BCS-K8S-40000"]')).to_contain_text("Running")
    context.close()
