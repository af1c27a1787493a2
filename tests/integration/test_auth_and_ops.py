"""Login sessions, CSRF, token expiry, problem+json rendering, health and metrics."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import update

from shoal.context import AppContext
from shoal.store.models import ApiToken
from shoal.store.types import utcnow
from tests.conftest import ADMIN_PASSWORD


async def test_cookie_session_needs_csrf_on_unsafe_requests(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    assert r.status_code == 200
    csrf = r.json()["csrf_token"]
    cookie = r.headers.get_list("set-cookie")
    assert any("shoal_session=" in c and "HttpOnly" in c and "SameSite=lax" in c for c in cookie)
    assert (await client.get("/api/v1/auth/me")).json()["username"] == "admin"
    refused = await client.post("/api/v1/projects", json={"code": "web", "name": "Web"})
    assert refused.status_code == 403 and refused.json()["code"] == "csrf_failed"
    forged = await client.post("/api/v1/projects", json={"code": "web", "name": "Web"},
                               headers={"X-CSRF-Token": "0" * 40})
    assert forged.status_code == 403
    ok = await client.post("/api/v1/projects", json={"code": "web", "name": "Web"}, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 201
    assert (await client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf})).status_code == 204
    assert (await client.get("/api/v1/auth/me")).status_code == 401


async def test_bad_login_is_refused_and_audited(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> None:
    r = await client.post("/api/v1/auth/login", json={"username": "admin", "password": "nope-nope"},
                          headers={"Accept-Language": "zh-CN"})
    assert r.status_code == 401 and r.json()["message"] == "用户名或密码错误。"
    r = await client.post("/api/v1/auth/login", json={"username": "ghost", "password": "nope-nope"},
                          headers={"Accept-Language": "en"})
    assert r.json()["message"] == "Wrong username or password."
    audit = (await client.get("/api/v1/audit?action=auth.login&outcome=failure", headers=admin_headers)).json()
    assert {e["target_id"] for e in audit["items"]} == {"admin", "ghost"}


async def test_expired_token_is_refused(client: httpx.AsyncClient, ctx: AppContext,
                                        admin_headers: dict[str, str]) -> None:
    r = await client.post("/api/v1/tokens", json={"name": "short", "expires": "1h"}, headers=admin_headers)
    token, token_id = r.json()["token"], r.json()["id"]
    assert (await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})).status_code == 200
    async with ctx.db.session() as session:
        await session.execute(update(ApiToken).where(ApiToken.id == token_id)
                              .values(expires_at=utcnow() - timedelta(seconds=1)))
    r = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}", "Accept-Language": "en"})
    assert r.status_code == 401 and r.json()["message"] == "The token has expired."
    assert r.headers["www-authenticate"] == "Bearer"


async def test_bad_duration_and_validation_errors_are_4xx_with_hints(client: httpx.AsyncClient,
                                                                     admin_headers: dict[str, str]) -> None:
    english = {**admin_headers, "Accept-Language": "en"}
    r = await client.post("/api/v1/tokens", json={"expires": "soon"}, headers=english)
    assert r.status_code == 400 and "12h" in r.json()["hint"]
    r = await client.post("/api/v1/projects", json={"code": "x"}, headers=english)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "name"
    r = await client.post("/api/v1/projects", content=b"{not json", headers={**admin_headers,
                                                                          "Content-Type": "application/json"})
    assert r.status_code == 422
    r = await client.post("/api/v1/projects", json={"code": "Bad Code!", "name": "ok name"}, headers=admin_headers)
    assert r.status_code == 400 and r.json()["field"] == "code"
    r = await client.get("/api/v1/nope", headers=admin_headers)
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"


async def test_health_readiness_and_metrics(client: httpx.AsyncClient, ctx: AppContext,
                                            admin_headers: dict[str, str]) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).json()["database"] == "ok"
    await client.get("/api/v1/projects", headers=admin_headers)
    ctx.settings.metrics_token = "scrape-token-0123456789"
    metrics = (await client.get("/metrics", headers={"Authorization": "Bearer scrape-token-0123456789"})).text
    assert 'shoal_http_requests_total{method="GET",route="/api/v1/projects",status="200"}' in metrics
    assert "shoal_http_request_duration_seconds_bucket" in metrics
    r = await client.get("/healthz", headers={"X-Request-ID": "abc123"})
    assert r.headers["x-request-id"] == "abc123"


async def test_audit_time_filters_accept_times_without_a_zone(client: httpx.AsyncClient,
                                                              admin_headers: dict[str, str]) -> None:
    await client.post("/api/v1/projects", json={"code": "tz", "name": "Zones"}, headers=admin_headers)
    now = utcnow()
    naive_past = (now - timedelta(hours=1)).replace(tzinfo=None).isoformat()
    naive_future = (now + timedelta(hours=1)).replace(tzinfo=None).isoformat()
    r = await client.get("/api/v1/audit", params={"since": naive_past, "action": "project.create"},
                         headers=admin_headers)
    assert r.status_code == 200 and r.json()["total"] == 1
    r = await client.get("/api/v1/audit", params={"since": naive_future}, headers=admin_headers)
    assert r.status_code == 200 and r.json()["total"] == 0
