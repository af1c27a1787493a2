"""The cluster pages over ASGI: list in the project, import form (server-side re-check), cluster page, delete."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from kubesim.runner import Simulator
from shoal.context import AppContext
from shoal.tasks.worker import Worker
from tests.conftest import ADMIN_PASSWORD
from tests.web.helpers import User, browser, login


@pytest.fixture
async def admin(ctx: AppContext, client: httpx.AsyncClient,
                people: dict[str, dict[str, str]]) -> AsyncIterator[User]:
    async with browser(ctx) as web:
        yield User(web, await login(web, "admin", ADMIN_PASSWORD))


async def test_import_through_the_pages_and_see_the_overview(admin: User, shared_sim: Simulator,
                                                             worker: Worker) -> None:
    project = await admin.get("/projects/alpha")
    assert 'href="/projects/alpha/clusters"' in project.text
    empty = await admin.get("/projects/alpha/clusters")
    assert empty.status_code == 200 and 'data-testid="import-cluster"' in empty.text
    form = await admin.get("/projects/alpha/clusters/import")
    assert form.status_code == 200
    assert 'data-testid="import-button"' in form.text and "disabled data-import-button" in form.text
    assert "Test availability" in form.text

    refused = await admin.submit("/projects/alpha/clusters/import", {
        "name": "sim", "environment": "prod", "kubeconfig": shared_sim.kubeconfig("viewer")})
    assert refused.status_code == 422 and "lacks cluster-admin" in refused.text
    assert "kubesim-viewer" in refused.text

    r = await admin.submit("/projects/alpha/clusters/import", {
        "name": "sim", "environment": "debug", "labels": "team=infra, tier=gold",
        "kubeconfig": shared_sim.kubeconfig("admin")})
    assert r.status_code == 303 and r.headers["location"] == "/projects/alpha/clusters/BCS-K8S-25001", r.text
    importing = await admin.get(r.headers["location"])
    assert importing.status_code == 200 and 'data-cluster-status="INITIALIZATION"' in importing.text
    assert 'data-testid="import-log"' in importing.text
    await worker.drain(within=60)

    page = await admin.get("/projects/alpha/clusters/BCS-K8S-25001")
    assert 'data-cluster-status="RUNNING"' in page.text
    assert 'data-testid="cluster-version">v1.37.1' in page.text
    assert "kubesim-control-plane" in page.text and "Usage" in page.text
    assert "synced 3 nodes" in page.text
    assert 'href="/projects/alpha/clusters/BCS-K8S-25001/kubeconfig" data-testid="kubeconfig-button"' in page.text
    listed = await admin.get("/projects/alpha/clusters?q=sim&environment=debug")
    assert 'data-cluster="BCS-K8S-25001"' in listed.text
    failed = await admin.get("/projects/alpha/clusters?status=IMPORT-FAILURE")
    assert 'data-cluster="BCS-K8S-25001"' not in failed.text

    wrong = await admin.submit("/projects/alpha/clusters/BCS-K8S-25001/delete", {"confirm": "nope"})
    assert wrong.status_code == 400
    gone = await admin.submit("/projects/alpha/clusters/BCS-K8S-25001/delete", {"confirm": "BCS-K8S-25001"})
    assert gone.status_code == 303 and gone.headers["location"] == "/projects/alpha/clusters"


async def test_outsider_sees_no_cluster_pages(ctx: AppContext, people: dict[str, dict[str, str]],
                                              client: httpx.AsyncClient) -> None:
    async with browser(ctx) as web:
        eve = User(web, await login(web, "eve", "password-123"))
        assert (await eve.get("/projects/alpha/clusters")).status_code == 403
        assert (await eve.get("/projects/alpha/clusters/import")).status_code == 403
    async with browser(ctx) as web:
        vera = User(web, await login(web, "vera", "password-123"))
        assert (await vera.get("/projects/alpha/clusters")).status_code == 200
        assert (await vera.get("/projects/alpha/clusters/import")).status_code == 403


async def test_replace_the_kubeconfig_on_the_cluster_page(admin: User, shared_sim: Simulator, worker: Worker) -> None:
    r = await admin.submit("/projects/alpha/clusters/import", {
        "name": "sim", "environment": "prod", "kubeconfig": shared_sim.kubeconfig("admin")})
    assert r.status_code == 303, r.text
    await worker.drain(within=60)
    page = await admin.get("/projects/alpha/clusters/BCS-K8S-40000")
    assert 'data-testid="credential-form"' in page.text
    with Simulator(nodes=1, seed_workloads=False) as other:
        refused = await admin.submit("/projects/alpha/clusters/BCS-K8S-40000/credential",
                                     {"kubeconfig": other.kubeconfig("admin")})
    assert refused.status_code == 422 and "for another cluster" in refused.text
    done = await admin.submit("/projects/alpha/clusters/BCS-K8S-40000/credential",
                              {"kubeconfig": shared_sim.kubeconfig("admin-cert")})
    assert done.status_code == 303
    shown = await admin.get(done.headers["location"])
    assert "was replaced" in shown.text
