"""Every cluster route refuses an anonymous caller (401) and people without the right (403)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from kubesim.runner import Simulator

PERMISSION_ROUTES = {
    ("POST", "/api/v1/clusters/check"),
    ("POST", "/api/v1/clusters"),
    ("GET", "/api/v1/clusters"),
    ("GET", "/api/v1/clusters/{cluster_id}"),
    ("GET", "/api/v1/clusters/{cluster_id}/nodes"),
    ("GET", "/api/v1/clusters/{cluster_id}/overview"),
    ("PUT", "/api/v1/clusters/{cluster_id}/credential"),
    ("DELETE", "/api/v1/clusters/{cluster_id}"),
}

CID = "BCS-K8S-40000"
KUBECONFIG = "kubeconfig-placeholder"  # replaced by the simulator's admin kubeconfig

# (method, path, body, who is refused with 403)
CASES: list[tuple[str, str, dict[str, Any] | None, tuple[str, ...]]] = [
    ("POST", "/api/v1/clusters/check", {"project": "alpha", "kubeconfig": KUBECONFIG}, ("eve", "vera", "dave")),
    ("POST", "/api/v1/clusters/check", {"kubeconfig": KUBECONFIG}, ("eve", "vera", "dave")),
    ("POST", "/api/v1/clusters", {"project": "alpha", "name": "x", "kubeconfig": KUBECONFIG}, ("eve", "vera", "dave")),
    ("GET", "/api/v1/clusters?project=alpha", None, ("eve",)),
    ("GET", f"/api/v1/clusters/{CID}", None, ("eve",)),
    ("GET", f"/api/v1/clusters/{CID}/nodes", None, ("eve",)),
    ("GET", f"/api/v1/clusters/{CID}/overview", None, ("eve",)),
    ("PUT", f"/api/v1/clusters/{CID}/credential", {"kubeconfig": KUBECONFIG}, ("eve", "vera", "dave")),
    ("DELETE", f"/api/v1/clusters/{CID}?confirm={CID}", None, ("eve", "vera", "dave")),
]


def _body(body: dict[str, Any] | None, kubeconfig: str) -> dict[str, Any] | None:
    return None if body is None else {k: (kubeconfig if v == KUBECONFIG else v) for k, v in body.items()}


@pytest.fixture
async def cluster(client: httpx.AsyncClient, people: dict[str, dict[str, str]], shared_sim: Simulator) -> str:
    r = await client.post("/api/v1/clusters", headers=people["mona"],
                          json={"project": "alpha", "name": "kubesim", "kubeconfig": shared_sim.kubeconfig("admin")})
    assert r.status_code == 201 and r.json()["id"] == CID, r.text
    return CID


@pytest.mark.parametrize(("method", "path", "body", "refused"), CASES, ids=[f"{c[0]} {c[1]}" for c in CASES])
async def test_refusals(client: httpx.AsyncClient, people: dict[str, dict[str, str]], cluster: str,
                        shared_sim: Simulator, method: str, path: str, body: dict[str, Any] | None,
                        refused: tuple[str, ...]) -> None:
    payload = _body(body, shared_sim.kubeconfig("admin"))
    r = await client.request(method, path, json=payload)
    assert r.status_code == 401 and r.json()["code"] == "error.unauthenticated", r.text
    for who in refused:
        r = await client.request(method, path, json=payload, headers=people[who])
        assert r.status_code == 403, (who, r.text)
        assert r.json()["code"] == "error.permission_denied"
    # the cluster is untouched by all of that
    r = await client.get(f"/api/v1/clusters/{cluster}", headers=people["mona"])
    assert r.status_code == 200 and r.json()["status"] != "DELETED"


async def test_unscoped_list_shows_only_visible_clusters(client: httpx.AsyncClient,
                                                         people: dict[str, dict[str, str]], cluster: str) -> None:
    assert (await client.get("/api/v1/clusters", headers=people["eve"])).json()["total"] == 0
    assert [c["id"] for c in (await client.get("/api/v1/clusters", headers=people["vera"])).json()["items"]] == [
        cluster]
    assert (await client.get("/api/v1/clusters")).status_code == 401
