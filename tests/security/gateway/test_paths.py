"""Issue 13: what Shoal authorises must be what the API server serves, and non-resource reads are not all views.

* The API server splits a path on '/' keeping empty segments (``splitPath``): to it
  ``/api/v1/namespaces//secrets`` is the list of every secret, where Shoal dropped the empty
  segment and saw "get the namespace called secrets", which a viewer may do. Empty segments, an
  encoded '/' (``%2F``, which the API server decodes into a separator) and ``.``/``..`` (also
  encoded) are refused with a 400 ``Status``.
* Every non-resource GET counted as a view: ``/metrics``, ``/debug/pprof``, ``/logs`` (the
  control plane's log files) for a viewer. Only discovery, ``/version``, health and OpenAPI
  remain views (Kubernetes' own ``system:discovery``/``system:public-info-viewer``); the rest
  needs ``cluster_manage``.

Both fronts, against the strict stand-in cluster, which records every request it served.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.strict_cluster import CLUSTER_ID, StrictCluster

BASE = f"/clusters/{CLUSTER_ID}"


async def _get(gw: dict[str, Any], user: str, path: str, language: str = "en") -> httpx.Response:
    return await gw["client"].get(BASE + path, headers={"Authorization": gw[user], "Accept-Language": language})


async def test_paths_the_api_server_reads_otherwise_are_refused(gw: dict[str, Any]) -> None:
    cluster: StrictCluster = gw["cluster"]
    refused = {
        "/api/v1/namespaces//secrets": "empty segment",  # a cluster-wide list of secrets to the API server
        "//api/v1/namespaces/default/pods": "empty segment",
        "/api/v1/namespaces/default/pods//": "empty segment",
        "/api/v1/namespaces/%2Fsecrets": "encoded '/'",
        "/api/v1/namespaces/default%2Fsecrets": "encoded '/'",
        "/api/v1/namespaces/default%2fsecrets": "encoded '/'",
        "/api/v1/namespaces/default/pods/%2e%2e/secrets": "'.' or '..'",
        "/api/v1/namespaces/default/pods/%2E/x": "'.' or '..'",
    }
    for user in ("vera", "mona"):  # refused before anyone's rights are weighed
        for path, text in refused.items():
            r = await _get(gw, user, path)
            assert r.status_code == 400, (user, path, r.text)
            body = r.json()
            assert (body["kind"], body["reason"], body["code"]) == ("Status", "BadRequest", 400)
            assert text in body["message"], (path, body["message"])
    assert cluster.requests == []
    zh = await _get(gw, "vera", "/api/v1/namespaces//secrets", "zh-CN")
    assert zh.status_code == 400 and "空段" in zh.json()["message"]
    # a single trailing slash is not an empty segment (the API server trims it as well)
    assert (await _get(gw, "vera", "/api/v1/namespaces/default/pods/")).status_code == 200
    assert [r.target for r in cluster.requests] == ["/api/v1/namespaces/default/pods/"]


async def test_non_resource_reads_beyond_discovery_need_cluster_manage(gw: dict[str, Any]) -> None:
    cluster: StrictCluster = gw["cluster"]
    views = ["/version", "/api", "/api/v1", "/apis", "/apis/apps", "/apis/apps/v1", "/openapi/v2",
             "/openapi/v3/apis/apps/v1?hash=abc", "/healthz", "/readyz/ping", "/livez"]
    managed = ["/metrics", "/debug/pprof/", "/debug/pprof/profile?seconds=1", "/logs/", "/logs/kube-apiserver.log",
               "/"]
    for path in views:
        r = await _get(gw, "vera", path)
        assert r.status_code == 200, (path, r.text)
    for path in managed:
        r = await _get(gw, "vera", path)
        assert r.status_code == 403, (path, r.text)
        body = r.json()
        assert body["reason"] == "Forbidden" and "cluster_manage" in body["message"], body["message"]
    assert (await _get(gw, "dave", "/metrics")).status_code == 403  # a developer neither
    served = len(cluster.requests)
    assert served == len(views)
    for path in managed:
        r = await _get(gw, "mona", path)  # the project's manager
        assert r.status_code == 200, (path, r.text)
    assert [r.target for r in cluster.requests[served:]] == managed
    assert all(r.values("impersonate-user") == ["shoal:mona"] for r in cluster.requests[served:])
