"""R1–R4 end to end over the API: create, bind a business, apply, approve."""

from __future__ import annotations

import httpx

from tests.support.api import make_user


async def test_enable_flow_admin_binds_business(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> None:
    r = await client.post("/api/v1/projects", json={"code": "demo", "name": "Demo"}, headers=admin_headers)
    assert r.status_code == 201, r.text
    assert r.json()["enabled"] is False
    r = await client.post("/api/v1/businesses", json={"id": 100, "name": "Demo Biz", "maintainers": ["admin"]},
                          headers=admin_headers)
    assert r.status_code == 201, r.text
    r = await client.get("/api/v1/projects/demo/businesses", headers=admin_headers)
    assert [b["id"] for b in r.json()["items"]] == [100]
    r = await client.post("/api/v1/projects/demo/enable", json={"business_id": 100}, headers=admin_headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["enabled"] is True
    assert (body["business_id"], body["business_name"]) == (100, "Demo Biz")
    assert body["my_role"] == "manager"


async def test_non_maintainer_is_refused_then_applies_and_is_approved(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    bob = await make_user(client, admin_headers, "bob")
    await client.post("/api/v1/businesses", json={"id": 200, "name": "Biz 200", "maintainers": ["admin"]},
                      headers=admin_headers)
    r = await client.post("/api/v1/projects", json={"code": "bobs", "name": "Bob's"}, headers=bob)
    assert r.status_code == 201
    r = await client.get("/api/v1/projects/bobs/businesses", headers=bob)
    assert r.json()["items"] == []
    r = await client.post("/api/v1/projects/bobs/enable", json={"business_id": 200},
                          headers={**bob, "Accept-Language": "en"})
    assert r.status_code == 403
    problem = r.json()
    assert problem["code"] == "error.not_maintainer"
    assert "200" in problem["message"] and problem["hint"]
    r = await client.post("/api/v1/permission-requests", headers=bob,
                          json={"kind": "business", "business_id": 200, "project_code": "bobs",
                                "reason": "need it for bobs"})
    assert r.status_code == 201, r.text
    request_id = r.json()["id"]
    # a second identical request is refused while the first is pending
    r = await client.post("/api/v1/permission-requests", headers=bob,
                          json={"kind": "business", "business_id": 200, "reason": "again please"})
    assert r.status_code == 409
    # bob cannot approve himself
    r = await client.post(f"/api/v1/permission-requests/{request_id}/approve", json={}, headers=bob)
    assert r.status_code == 403
    r = await client.post(f"/api/v1/permission-requests/{request_id}/approve", json={"note": "ok"},
                          headers=admin_headers)
    assert r.status_code == 200 and r.json()["status"] == "approved"
    r = await client.get("/api/v1/permission-requests?mine=true", headers=bob)
    assert r.json()[0]["status"] == "approved"
    r = await client.post("/api/v1/projects/bobs/enable", json={"business_id": 200}, headers=bob)
    assert r.status_code == 200, r.text
    assert r.json()["business_id"] == 200


async def test_project_role_request_decided_by_project_manager(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    carol = await make_user(client, admin_headers, "carol")
    dave = await make_user(client, admin_headers, "dave")
    await client.post("/api/v1/projects", json={"code": "cp", "name": "Carol's"}, headers=carol)
    r = await client.get("/api/v1/projects/cp", headers=dave)
    assert r.status_code == 403
    r = await client.post("/api/v1/permission-requests", headers=dave,
                          json={"kind": "project_role", "project_code": "cp", "role": "viewer", "reason": "read"})
    assert r.status_code == 201
    rid = r.json()["id"]
    r = await client.get("/api/v1/permission-requests?status=pending", headers=carol)
    assert [x["id"] for x in r.json()] == [rid]
    r = await client.post(f"/api/v1/permission-requests/{rid}/reject", json={"note": "no"}, headers=carol)
    assert r.json()["status"] == "rejected"
    r = await client.post(f"/api/v1/permission-requests/{rid}/approve", json={}, headers=carol)
    assert r.status_code == 409
    r = await client.post("/api/v1/permission-requests", headers=dave,
                          json={"kind": "project_role", "project_code": "cp", "role": "viewer", "reason": "please"})
    rid = r.json()["id"]
    r = await client.post(f"/api/v1/permission-requests/{rid}/approve", json={}, headers=carol)
    assert r.status_code == 200
    r = await client.get("/api/v1/projects/cp", headers=dave)
    assert r.status_code == 200 and r.json()["my_role"] == "viewer"


async def test_rebind_refused_when_project_has_clusters(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    from shoal.projects import service

    for biz in (1, 2):
        await client.post("/api/v1/businesses", json={"id": biz, "name": f"B{biz}", "maintainers": []},
                          headers=admin_headers)
    await client.post("/api/v1/projects", json={"code": "rb", "name": "Rebind"}, headers=admin_headers)
    assert (await client.post("/api/v1/projects/rb/enable", json={"business_id": 1},
                              headers=admin_headers)).status_code == 200

    async def two_clusters(_session: object, code: str) -> int:
        return 2 if code == "rb" else 0

    service.CLUSTER_COUNTERS.append(two_clusters)
    try:
        r = await client.post("/api/v1/projects/rb/enable", json={"business_id": 2},
                              headers={**admin_headers, "Accept-Language": "zh-CN"})
    finally:
        service.CLUSTER_COUNTERS.remove(two_clusters)
    assert r.status_code == 409
    assert "2 个集群" in r.json()["message"]
