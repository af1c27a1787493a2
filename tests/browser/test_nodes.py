"""The node tab in headless Chromium against a real ``shoal server``: cordon two nodes in a batch (R16).

The kubesim cluster is imported through the API (the server's in-process worker
runs the import task); the browser then selects two nodes, presses Cordon
(停止调度) and sees both turn ``Ready,SchedulingDisabled`` — which the real
kubectl confirms.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect

from kubesim.runner import Simulator
from tests.browser.conftest import LiveServer
from tests.conftest import ADMIN_PASSWORD

pytestmark = pytest.mark.browser
W1, W2, W3 = "kubesim-worker-1", "kubesim-worker-2", "kubesim-worker-3"


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    simulator = Simulator(nodes=4).start()
    try:
        yield simulator
    finally:
        simulator.stop()


def _import(url: str, sim: Simulator) -> str:
    r = httpx.post(url + "/api/v1/auth/token", json={"username": "admin", "password": ADMIN_PASSWORD,
                                                     "name": "browser-nodes", "expires": "1d"})
    assert r.status_code in (200, 201), r.text
    headers = {"Authorization": f"Bearer {r.json()['token']}"}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as api:
        for path, body in (("/api/v1/businesses", {"id": 700, "name": "Nodes", "maintainers": ["admin"]}),
                           ("/api/v1/projects", {"code": "nodes", "name": "Nodes"}),
                           ("/api/v1/projects/nodes/enable", {"business_id": 700})):
            r = api.post(path, json=body)
            assert r.status_code in (200, 201), r.text
        r = api.post("/api/v1/clusters", json={"project": "nodes", "name": "sim", "kubeconfig": sim.kubeconfig()})
        assert r.status_code == 201, r.text
        cluster = str(r.json()["id"])
        deadline = time.monotonic() + 60
        while api.get(f"/api/v1/clusters/{cluster}").json()["status"] != "RUNNING":
            assert time.monotonic() < deadline, "the import did not finish"
            time.sleep(0.2)
    return cluster


def _kubectl_status(sim: Simulator, home: Path) -> dict[str, str]:
    kubeconfig = home / "kubeconfig"
    kubeconfig.write_text(sim.kubeconfig())
    done = subprocess.run([str(Path(sys.executable).with_name("kubectl")), "--kubeconfig", str(kubeconfig),
                           "get", "nodes", "--no-headers"], capture_output=True, text=True, check=True,
                          env={"HOME": str(home), "PATH": os.environ.get("PATH", "")}, timeout=60)
    return {line.split()[0]: line.split()[1] for line in done.stdout.splitlines()}


def test_cordon_two_nodes_in_a_batch(shared_server: LiveServer, chromium: Browser, sim: Simulator, screenshots: Path,
                                     tmp_path: Path) -> None:
    url = shared_server.url
    cluster = _import(url, sim)
    context = chromium.new_context(viewport={"width": 1440, "height": 900}, locale="en-US")
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto(url + "/login")
    page.fill("#username", "admin")
    page.fill("#password", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    expect(page.get_by_test_id("whoami")).to_have_text("admin")

    page.goto(f"{url}/projects/nodes/clusters/{cluster}/nodes")
    for name in (W1, W2, W3):
        expect(page.get_by_test_id(f"status-{name}")).to_contain_text("Ready")
        expect(page.get_by_test_id(f"status-{name}")).not_to_contain_text("SchedulingDisabled")
    page.get_by_test_id(f"select-{W1}").check()
    page.get_by_test_id(f"select-{W2}").check()
    page.get_by_test_id("action-cordon").click()
    expect(page.get_by_test_id(f"status-{W1}")).to_contain_text("Ready,SchedulingDisabled")
    expect(page.get_by_test_id(f"status-{W2}")).to_contain_text("Ready,SchedulingDisabled")
    expect(page.get_by_test_id(f"status-{W3}")).not_to_contain_text("SchedulingDisabled")
    page.screenshot(path=str(screenshots / "nodes-cordoned.png"), full_page=True)
    shown = _kubectl_status(sim, tmp_path)
    assert shown[W1] == shown[W2] == "Ready,SchedulingDisabled" and shown[W3] == "Ready"
    context.close()
