"""API conventions over raw HTTPS: Status errors, resourceVersion, selectors, paging, watch, patch."""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from kubesim.discovery import AGGREGATED_CONTENT_TYPE
from kubesim.runner import Simulator

Http = Callable[..., httpx.Client]


@pytest.fixture
def http(sim: Simulator) -> Iterator[Http]:
    clients: list[httpx.Client] = []
    ctx = ssl.create_default_context(cafile=sim.ca_path)

    def make(identity: str = "admin", **headers: str) -> httpx.Client:
        cluster = sim.cluster()
        token = {"admin": cluster.admin_token, "viewer": cluster.viewer_token}.get(identity, identity)
        c = httpx.Client(base_url=sim.url, verify=ctx, timeout=10,
                         headers={"Authorization": f"Bearer {token}", **headers})
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()


def _cm(name: str, **labels: str) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels},
            "data": {"k": "v"}}


CMS = "/api/v1/namespaces/default/configmaps"


def test_errors_are_status_objects(http: Http) -> None:
    admin = http()
    missing = admin.get(f"{CMS}/nope")
    assert missing.status_code == 404
    body = missing.json()
    assert body["kind"] == "Status" and body["reason"] == "NotFound" and body["code"] == 404
    assert body["message"] == 'configmaps "nope" not found'
    assert body["details"] == {"name": "nope", "kind": "configmaps"}  # group is omitempty (metav1.StatusDetails)
    assert admin.post(CMS, json=_cm("a")).status_code == 201
    dup = admin.post(CMS, json=_cm("a"))
    assert dup.status_code == 409 and dup.json()["reason"] == "AlreadyExists"
    bad = admin.post("/api/v1/namespaces/default/pods", json={"metadata": {"name": "x"}, "spec": {}})
    assert bad.status_code == 422 and bad.json()["reason"] == "Invalid"
    no_ns = admin.post("/api/v1/namespaces/ghost/configmaps", json=_cm("a"))
    assert no_ns.status_code == 404 and no_ns.json()["message"] == 'namespaces "ghost" not found'
    unauth = http("not-a-token").get(CMS)
    assert unauth.status_code == 401 and unauth.json()["reason"] == "Unauthorized"
    denied = http("viewer").post(CMS, json=_cm("b"))
    assert denied.status_code == 403
    assert denied.json()["message"] == ('configmaps is forbidden: User "kubesim-viewer" cannot create resource '
                                        '"configmaps" in API group "" in the namespace "default"')


def test_resource_version_conflict_and_generation(http: Http) -> None:
    admin = http()
    created = admin.post("/apis/apps/v1/namespaces/default/deployments", json={
        "metadata": {"name": "d"}, "spec": {"replicas": 0, "selector": {"matchLabels": {"a": "b"}},
                                            "template": {"metadata": {"labels": {"a": "b"}},
                                                         "spec": {"containers": [{"name": "c", "image": "i"}]}}}})
    assert created.status_code == 201
    obj = created.json()
    assert obj["metadata"]["generation"] == 1
    rv1 = int(obj["metadata"]["resourceVersion"])
    labelled = admin.patch("/apis/apps/v1/namespaces/default/deployments/d",
                           content=json.dumps({"metadata": {"labels": {"x": "y"}}}),
                           headers={"Content-Type": "application/merge-patch+json"}).json()
    assert labelled["metadata"]["generation"] == 1 and int(labelled["metadata"]["resourceVersion"]) > rv1
    obj["spec"]["replicas"] = 2
    stale = admin.put("/apis/apps/v1/namespaces/default/deployments/d", json=obj)
    assert stale.status_code == 409 and stale.json()["reason"] == "Conflict"
    current = admin.get("/apis/apps/v1/namespaces/default/deployments/d").json()
    current["spec"]["replicas"] = 2
    updated = admin.put("/apis/apps/v1/namespaces/default/deployments/d", json=current).json()
    assert updated["metadata"]["generation"] == 2


def test_selectors_and_pagination(http: Http) -> None:
    admin = http()
    for n in range(5):
        admin.post(CMS, json=_cm(f"cm-{n}", tier="a" if n % 2 else "b", idx=str(n)))
    names = [i["metadata"]["name"] for i in admin.get(CMS, params={"labelSelector": "tier in (a)"}).json()["items"]]
    assert names == ["cm-1", "cm-3"]
    names = [i["metadata"]["name"] for i in admin.get(CMS, params={"labelSelector": "tier!=a,idx"}).json()["items"]]
    assert names == ["cm-0", "cm-2", "cm-4"]
    by_name = admin.get(CMS, params={"fieldSelector": "metadata.name=cm-2"}).json()["items"]
    assert [i["metadata"]["name"] for i in by_name] == ["cm-2"]
    seen: list[str] = []
    params = {"limit": "2", "labelSelector": "idx"}
    while True:
        page = admin.get(CMS, params=params).json()
        seen += [i["metadata"]["name"] for i in page["items"]]
        token = page["metadata"].get("continue")
        if not token:
            break
        params["continue"] = token
    assert seen == [f"cm-{n}" for n in range(5)]
    running = admin.get("/api/v1/pods", params={"fieldSelector": "status.phase=Running"}).json()["items"]
    node = running[0]["spec"]["nodeName"]
    on_node = admin.get("/api/v1/pods", params={"fieldSelector": f"spec.nodeName={node}"}).json()["items"]
    assert on_node and all(p["spec"]["nodeName"] == node for p in on_node)


def test_patch_flavours(http: Http) -> None:
    admin = http()
    admin.post(CMS, json=_cm("p", keep="1", drop="1"))
    url = f"{CMS}/p"
    merged = admin.patch(url, content=json.dumps({"metadata": {"labels": {"drop": None}}}),
                         headers={"Content-Type": "application/merge-patch+json"}).json()
    assert merged["metadata"]["labels"] == {"keep": "1"}
    jp = admin.patch(url, content=json.dumps([{"op": "add", "path": "/data/extra", "value": "e"},
                                              {"op": "remove", "path": "/data/k"}]),
                     headers={"Content-Type": "application/json-patch+json"}).json()
    assert jp["data"] == {"extra": "e"}
    failed = admin.patch(url, content=json.dumps([{"op": "test", "path": "/data/extra", "value": "no"}]),
                         headers={"Content-Type": "application/json-patch+json"})
    assert failed.status_code == 422
    applied = admin.patch(f"{CMS}/ssa", params={"fieldManager": "me"},
                          content="apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ssa}\ndata: {a: b}\n",
                          headers={"Content-Type": "application/apply-patch+yaml"})
    assert applied.status_code == 201 and applied.json()["data"] == {"a": "b"}


def _watch_lines(client: httpx.Client, url: str, params: dict[str, str], count: int) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    with client.stream("GET", url, params={"watch": "true", **params}) as resp:
        assert resp.status_code == 200
        for line in resp.iter_lines():
            if line:
                out.append(json.loads(line))
            if len(out) >= count:
                break
    return out


def test_watch_semantics(http: Http, sim: Simulator) -> None:
    admin = http()
    listed = admin.get(CMS).json()
    rv = listed["metadata"]["resourceVersion"]
    admin.post(CMS, json=_cm("w1"))
    admin.delete(f"{CMS}/w1")
    events = _watch_lines(admin, CMS, {"resourceVersion": rv, "timeoutSeconds": "5"}, 2)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [  # type: ignore[index]
        ("ADDED", "w1"), ("DELETED", "w1")]
    # a stream with timeoutSeconds ends by itself; initial state then bookmark when asked for
    initial = _watch_lines(admin, "/api/v1/namespaces", {"allowWatchBookmarks": "true",
                                                         "sendInitialEvents": "true",
                                                         "resourceVersionMatch": "NotOlderThan",
                                                         "timeoutSeconds": "2"}, 5)
    assert {e["type"] for e in initial[:4]} == {"ADDED"}
    assert initial[4]["type"] == "BOOKMARK"
    # a compacted resourceVersion answers an ERROR event with a 410 Status
    for n in range(sim.cluster().store._history.maxlen or 0):
        sim.cluster().create("configmaps", _cm(f"churn-{n}"), "default")
    gone = _watch_lines(admin, CMS, {"resourceVersion": rv}, 1)
    assert gone[0]["type"] == "ERROR" and gone[0]["object"]["code"] == 410  # type: ignore[index]


def test_table_and_discovery(http: Http) -> None:
    admin = http()
    table = admin.get("/api/v1/nodes", headers={
        "Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"}).json()
    assert table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"]][:5] == ["Name", "Status", "Roles", "Age", "Version"]
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    agg = admin.get("/apis", headers={"Accept": f"{AGGREGATED_CONTENT_TYPE},application/json"})
    assert agg.headers["content-type"] == AGGREGATED_CONTENT_TYPE
    groups = {i["metadata"]["name"] for i in agg.json()["items"]}
    assert {"apps", "policy", "rbac.authorization.k8s.io", "authorization.k8s.io"} <= groups
    legacy = admin.get("/api/v1").json()
    eviction = next(r for r in legacy["resources"] if r["name"] == "pods/eviction")
    assert (eviction["group"], eviction["version"], eviction["kind"]) == ("policy", "v1", "Eviction")
    index = admin.get("/openapi/v3").json()
    doc = admin.get(index["paths"]["apis/apps/v1"]["serverRelativeURL"]).json()
    patch_op = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert any(p["name"] == "fieldValidation" for p in patch_op["parameters"])


def test_impersonation(http: Http, sim: Simulator) -> None:
    from kubesim.authz import ROLE_EDIT, ROLE_VIEW

    cluster = sim.cluster()
    cluster.grant_group("auditors", ROLE_VIEW)
    cluster.grant_group("team-a", ROLE_EDIT, namespaces=["default"])
    auditor = http("admin", **{"Impersonate-User": "alice", "Impersonate-Group": "auditors"})
    assert auditor.get("/api/v1/pods").status_code == 200
    denied = auditor.post(CMS, json=_cm("x"))
    assert denied.status_code == 403 and 'User "alice"' in denied.json()["message"]
    editor = http("admin", **{"Impersonate-User": "bob", "Impersonate-Group": "team-a"})
    assert editor.post(CMS, json=_cm("x")).status_code == 201
    assert editor.post("/api/v1/namespaces/kube-system/configmaps", json=_cm("x")).status_code == 403
    who = editor.post("/apis/authentication.k8s.io/v1/selfsubjectreviews",
                      json={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}).json()
    assert who["status"]["userInfo"]["username"] == "bob"
    assert "team-a" in who["status"]["userInfo"]["groups"]
    cluster.grant_user("carol", ROLE_VIEW)
    assert http("admin", **{"Impersonate-User": "carol"}).get(CMS).status_code == 200
    refused = http("viewer", **{"Impersonate-User": "alice"}).get(CMS)
    assert refused.status_code == 403 and "cannot impersonate" in refused.json()["message"]


def test_faults_and_token_expiry(http: Http, sim: Simulator) -> None:
    cluster = sim.cluster()
    admin = http()
    cluster.fail_requests(503, seconds=30)
    assert admin.get(CMS).status_code == 503
    cluster.clear_faults()
    assert admin.get(CMS).status_code == 200
    cluster.expire_token(cluster.viewer_token)
    assert http("viewer").get(CMS).status_code == 401
    from kubesim.authz import Identity

    short = cluster.add_token(Identity("temp", ("system:masters",)), expires_in=0.3)
    assert http(short).get(CMS).status_code == 200
    time.sleep(0.35)
    assert http(short).get(CMS).status_code == 401


def test_service_account_token_and_eviction_429(http: Http) -> None:
    admin = http()
    token = admin.post("/api/v1/namespaces/default/serviceaccounts/default/token",
                       json={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}}).json()
    sa = http(token["status"]["token"])
    who = sa.post("/apis/authentication.k8s.io/v1/selfsubjectreviews", json={}).json()
    assert who["status"]["userInfo"]["username"] == "system:serviceaccount:default:default"
    assert sa.get(CMS).status_code == 403
    admin.post("/api/v1/namespaces/default/pods", json={
        "metadata": {"name": "solo", "labels": {"app": "solo"}},
        "spec": {"containers": [{"name": "c", "image": "i"}]}})
    admin.post("/apis/policy/v1/namespaces/default/poddisruptionbudgets", json={
        "metadata": {"name": "solo"}, "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "solo"}}}})
    blocked = admin.post("/api/v1/namespaces/default/pods/solo/eviction", json={
        "apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "solo", "namespace": "default"}})
    assert blocked.status_code == 429
    assert blocked.json()["details"]["causes"][0]["reason"] == "DisruptionBudget"
    admin.delete("/apis/policy/v1/namespaces/default/poddisruptionbudgets/solo")
    ok = admin.post("/api/v1/namespaces/default/pods/solo/eviction", json={
        "apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "solo", "namespace": "default"}})
    assert ok.status_code == 201
    assert admin.get("/api/v1/namespaces/default/pods/solo").status_code == 404


def test_namespace_delete_cascades(http: Http) -> None:
    admin = http()
    admin.post("/api/v1/namespaces", json={"metadata": {"name": "tmp"}})
    admin.post("/api/v1/namespaces/tmp/configmaps", json=_cm("c"))
    assert admin.delete("/api/v1/namespaces/tmp").status_code == 200
    assert admin.get("/api/v1/namespaces/tmp/configmaps/c").status_code == 404


def test_filtered_watch_sees_objects_enter_and_leave(http: Http) -> None:
    admin = http()
    admin.post(CMS, json=_cm("moving", tier="a"))
    rv = admin.get(CMS).json()["metadata"]["resourceVersion"]
    merge = {"Content-Type": "application/merge-patch+json"}
    admin.patch(f"{CMS}/moving", content=json.dumps({"metadata": {"labels": {"tier": "b"}}}), headers=merge)
    admin.patch(f"{CMS}/moving", content=json.dumps({"metadata": {"labels": {"tier": "a"}}}), headers=merge)
    events = _watch_lines(admin, CMS, {"resourceVersion": rv, "labelSelector": "tier=b", "timeoutSeconds": "3"}, 2)
    assert [e["type"] for e in events] == ["ADDED", "DELETED"]


def test_unreachable_and_latency_faults(http: Http, sim: Simulator) -> None:
    cluster = sim.cluster()
    cluster.set_unreachable(30, mode="reset")
    with pytest.raises(httpx.TransportError):
        http().get(CMS)
    cluster.set_unreachable(0.3, mode="hang")
    started = time.monotonic()
    assert http().get(CMS).status_code == 200
    assert time.monotonic() - started >= 0.25
    cluster.clear_faults()
    cluster.set_latency(0.2)
    started = time.monotonic()
    assert http().get(CMS).status_code == 200
    assert time.monotonic() - started >= 0.2


def test_anonymous_requests(sim: Simulator) -> None:
    ctx = ssl.create_default_context(cafile=sim.ca_path)
    with httpx.Client(base_url=sim.url, verify=ctx, timeout=10) as anon:
        assert anon.get("/version").json()["gitVersion"] == "v1.37.1"
        assert anon.get("/healthz").text == "ok"
        denied = anon.get("/api/v1/pods")
        assert denied.status_code == 403
        assert 'User "system:anonymous" cannot list resource "pods"' in denied.json()["message"]


def test_subject_access_and_token_reviews(http: Http, sim: Simulator) -> None:
    from kubesim.authz import ROLE_EDIT

    sim.cluster().grant_group("devs", ROLE_EDIT, namespaces=["default"])
    admin = http()
    sar = admin.post("/apis/authorization.k8s.io/v1/subjectaccessreviews", json={
        "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
        "spec": {"user": "dana", "groups": ["devs"],
                 "resourceAttributes": {"verb": "create", "resource": "pods", "namespace": "default"}}})
    assert sar.status_code == 201 and sar.json()["status"]["allowed"] is True
    local = admin.post("/apis/authorization.k8s.io/v1/namespaces/kube-system/localsubjectaccessreviews", json={
        "spec": {"user": "dana", "groups": ["devs"], "resourceAttributes": {"verb": "create", "resource": "pods"}}})
    assert local.json()["status"]["allowed"] is False
    review = admin.post("/apis/authentication.k8s.io/v1/tokenreviews", json={
        "spec": {"token": sim.cluster().viewer_token}}).json()["status"]
    assert review["authenticated"] is True and review["user"]["username"] == "kubesim-viewer"
    bogus = admin.post("/apis/authentication.k8s.io/v1/tokenreviews", json={"spec": {"token": "nope"}})
    assert bogus.json()["status"]["authenticated"] is False
    assert http("viewer").post("/apis/authentication.k8s.io/v1/tokenreviews",
                               json={"spec": {"token": "x"}}).status_code == 403
