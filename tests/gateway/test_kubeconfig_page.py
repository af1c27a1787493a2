"""The kubeconfig page of a cluster: download (a token bound to the cluster), list, revoke; outsiders refused."""

from __future__ import annotations

import httpx
import yaml

from shoal.clusters.models import Cluster, ClusterStatus
from shoal.context import AppContext
from shoal.kube import Credential
from tests.conftest import ADMIN_PASSWORD
from tests.web.helpers import browser, hidden, login

CLUSTER = "BCS-K8S-40000"
PAGE = f"/projects/alpha/clusters/{CLUSTER}/kubeconfig"


async def _seed(ctx: AppContext, client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    await client.post("/api/v1/projects", json={"code": "alpha", "name": "Alpha"}, headers=admin)
    r = await client.post("/api/v1/users", json={"username": "eve", "password": "password-123"}, headers=admin)
    assert r.status_code == 201, r.text
    credential = Credential(server="https://127.0.0.1:1", token="t")
    async with ctx.db.session() as session:
        session.add(Cluster(id=CLUSTER, project_code="alpha", name="kubesim", environment="prod",
                            status=ClusterStatus.RUNNING.value, kube_system_uid="uid", server_url=credential.server,
                            credential=ctx.secrets.encrypt(credential.to_json())))


async def test_download_list_and_revoke(ctx: AppContext, client: httpx.AsyncClient,
                                        admin_headers: dict[str, str]) -> None:
    await _seed(ctx, client, admin_headers)
    async with browser(ctx) as web:
        csrf = await login(web, "admin", ADMIN_PASSWORD)
        page = await web.get(PAGE)
        assert page.status_code == 200, page.text
        assert f"/clusters/{CLUSTER}" in page.text and "plain HTTP" in page.text
        download = await web.post(PAGE, data={"expires": "8h", "namespace": "team", "csrf_token": csrf})
        assert download.status_code == 200, download.text
        assert download.headers["content-disposition"] == f'attachment; filename="{CLUSTER}.kubeconfig"'
        doc = yaml.safe_load(download.text)
        assert doc["clusters"][0]["cluster"]["server"] == f"http://shoal.test/clusters/{CLUSTER}"
        assert doc["contexts"][0]["context"]["namespace"] == "team"
        listed = await web.get(PAGE)
        token_id = (await client.get("/api/v1/gateway/tokens", headers=admin_headers)).json()[0]["id"]
        assert f'data-token="{token_id}"' in listed.text
        revoked = await web.post(f"{PAGE}/tokens/{token_id}/revoke", data={"csrf_token": hidden(listed.text,
                                                                                                  "csrf_token")})
        assert revoked.status_code == 303
        after = await web.get(PAGE)
        assert f"Token #{token_id} revoked" in after.text
        bad = await web.post(PAGE, data={"expires": "never", "csrf_token": csrf})
        assert bad.status_code == 400 and "never unlimited" in bad.text


async def test_outsider_sees_no_kubeconfig_page(ctx: AppContext, client: httpx.AsyncClient,
                                                admin_headers: dict[str, str]) -> None:
    await _seed(ctx, client, admin_headers)
    async with browser(ctx) as web:
        csrf = await login(web, "eve", "password-123")
        assert (await web.get(PAGE)).status_code == 403
        assert (await web.post(PAGE, data={"csrf_token": csrf})).status_code == 403
        assert (await web.post(PAGE, data={})).status_code == 403  # no CSRF token
