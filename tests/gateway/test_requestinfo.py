"""A Kubernetes request -> verb and the Shoal action it needs (R20's mapping), without a server."""

from __future__ import annotations

import pytest

from shoal.gateway.requestinfo import parse_request
from shoal.iam.authz import Action

VIEW, USE, MANAGE = Action.CLUSTER_VIEW, Action.CLUSTER_USE, Action.CLUSTER_MANAGE

CASES = [
    ("GET", "/version", b"", "get", VIEW),
    ("GET", "/api", b"", "get", VIEW),
    ("GET", "/apis/apps/v1", b"", "get", VIEW),
    ("GET", "/openapi/v3/apis/apps/v1", b"", "get", VIEW),
    ("POST", "/some/path", b"", "create", MANAGE),
    ("GET", "/api/v1/nodes", b"", "list", VIEW),
    ("GET", "/api/v1/pods", b"watch=true&resourceVersion=1", "watch", VIEW),
    ("GET", "/api/v1/namespaces/default/pods/p", b"", "get", VIEW),
    ("GET", "/api/v1/namespaces/default/pods/p/log", b"follow=true", "get", VIEW),
    ("GET", "/api/v1/namespaces/default/secrets", b"", "list", USE),
    ("GET", "/api/v1/secrets", b"", "list", MANAGE),
    ("PATCH", "/api/v1/nodes/n1", b"", "patch", MANAGE),
    ("POST", "/api/v1/namespaces", b"", "create", MANAGE),
    ("DELETE", "/api/v1/namespaces/team", b"", "delete", MANAGE),
    ("POST", "/apis/apps/v1/namespaces/default/deployments", b"", "create", USE),
    ("DELETE", "/api/v1/namespaces/default/pods", b"", "deletecollection", USE),
    ("POST", "/api/v1/namespaces/default/pods/p/eviction", b"", "create", USE),
    ("GET", "/api/v1/namespaces/default/pods/p/exec", b"command=sh&stdin=true", "get", USE),
    ("POST", "/api/v1/namespaces/default/pods/p/attach", b"", "create", USE),
    ("GET", "/api/v1/namespaces/default/pods/p/portforward", b"", "get", USE),
    ("GET", "/api/v1/nodes/n1/proxy/metrics", b"", "get", MANAGE),
    ("GET", "/api/v1/namespaces/default/services/s/proxy/", b"", "get", USE),
    ("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", b"", "create", VIEW),
    ("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", b"", "create", VIEW),
    ("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", b"", "create", MANAGE),
    ("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", b"", "create", MANAGE),
    ("PUT", "/api/v1/namespaces/team/finalize", b"", "update", MANAGE),
    ("GET", "/api/v1/watch/namespaces/default/pods", b"", "watch", VIEW),
    # non-resource reads beyond discovery, version, health and OpenAPI are the cluster's managers' (issue 13)
    ("GET", "/healthz/etcd", b"", "get", VIEW),
    ("GET", "/readyz", b"verbose", "get", VIEW),
    ("GET", "/metrics", b"", "get", MANAGE),
    ("GET", "/debug/pprof/", b"", "get", MANAGE),
    ("GET", "/logs/", b"", "get", MANAGE),
    ("GET", "/", b"", "get", MANAGE),
    ("GET", "/.well-known/openid-configuration", b"", "get", MANAGE),
    # the deprecated /proxy/ verb prefix is read as the API server reads it: a proxy, not a get
    ("GET", "/api/v1/proxy/namespaces/default/pods/p", b"", "proxy", USE),
    ("GET", "/api/v1/proxy/nodes/n1/metrics", b"", "proxy", MANAGE),
]


@pytest.mark.parametrize(("method", "path", "query", "verb", "action"), CASES,
                         ids=[f"{m} {p}?{q.decode()}" for m, p, q, *_ in CASES])
def test_verb_and_action(method: str, path: str, query: bytes, verb: str, action: Action) -> None:
    info = parse_request(method, path, query)
    assert (info.verb, info.action) == (verb, action)


def test_long_running_requests_are_recognised() -> None:
    assert parse_request("GET", "/api/v1/pods", b"watch=1").long_running
    assert parse_request("GET", "/api/v1/namespaces/d/pods/p/log", b"follow=true").long_running
    assert not parse_request("GET", "/api/v1/namespaces/d/pods/p/log", b"").long_running
    assert parse_request("GET", "/api/v1/namespaces/d/pods/p/exec", b"command=ls").long_running
    assert not parse_request("GET", "/api/v1/nodes", b"").long_running


def test_refusals_name_the_resource() -> None:
    info = parse_request("PATCH", "/apis/apps/v1/namespaces/d/deployments/web/scale")
    assert info.kind == "deployments.apps/scale" and info.namespace == "d" and info.name == "web"
