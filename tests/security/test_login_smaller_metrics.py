"""Finding 7: ``/metrics`` is closed unless a token is configured, and then needs that token."""

from __future__ import annotations

import httpx

from shoal.context import AppContext

TOKEN = "metrics-token-5f2c9a7e31d04b8c"


async def test_metrics_closed_by_default(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> None:
    r = await client.get("/metrics", headers={"Accept-Language": "en"})
    assert r.status_code == 403, r.text
    assert r.json()["code"] == "metrics_closed" and "SHOAL_METRICS_TOKEN" in r.json()["hint"]
    assert "shoal_http_requests_total" not in r.text
    # Not even an admin's API token opens it: metrics have their own credential.
    r = await client.get("/metrics", headers=admin_headers)
    assert r.status_code == 403 and "shoal_http" not in r.text


async def test_metrics_need_the_configured_token(client: httpx.AsyncClient, ctx: AppContext) -> None:
    ctx.settings.metrics_token = TOKEN
    for headers in ({}, {"Authorization": "Bearer wrong-token"}, {"Authorization": f"Basic {TOKEN}"},
                    {"Authorization": f"Bearer {TOKEN}x"}):
        r = await client.get("/metrics", headers={**headers, "Accept-Language": "zh-CN"})
        assert r.status_code == 401, (headers, r.text)
        assert r.headers["www-authenticate"] == "Bearer"
        assert r.json()["message"] == "监控指标令牌缺失或不正确。" and "shoal_http" not in r.text
    r = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    assert "shoal_http_requests_total" in r.text
    # Health checks stay open for load balancers and kubelets.
    assert (await client.get("/healthz")).status_code == 200
    assert (await client.get("/readyz")).status_code == 200
