"""Issue 14, API coverage: what the real kubectl 1.37 and the official Python client see.

Each test names the upstream source file or documentation page that defines the
behaviour it checks; kubesim is right only where it matches those.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator

import pytest
import yaml
from kubernetes import client, config, utils
from kubernetes.client.rest import ApiException

from kubesim.runner import Simulator
from kubesim.server import GZIP_THRESHOLD_BYTES
from tests.kubesim.conftest import Kubectl

API_AUDIENCE = "https://kubernetes.default.svc.cluster.local"


@pytest.fixture
def api(sim: Simulator) -> Iterator[client.ApiClient]:
    api_client = config.new_client_from_config(config_file=sim.kubeconfig_path("admin"))
    try:
        yield api_client
    finally:
        api_client.close()


def _logged_status(stderr: str) -> dict[str, object]:
    """The Status body kubectl -v=8 logs (`"Response Body" body="<Go-quoted JSON>"`), key order kept."""
    for line in stderr.splitlines():
        if '"Response Body" body="' in line and '\\"kind\\":\\"Status' in line:
            return json.loads(json.loads(line.split(" body=", 1)[1]))  # type: ignore[no-any-return]
    raise AssertionError(f"no Status logged:\n{stderr[-2000:]}")


def _claims(token: str) -> dict[str, object]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))  # type: ignore[no-any-return]


# --- multi-document create with an existing object ---------------------------------------------

MULTI_DOC = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: first}
data: {a: "1"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: x}
data: {b: "2"}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx:1.27}]}
"""


def test_create_multi_document_with_one_existing(kubectl: Kubectl, sim: Simulator) -> None:
    """kubectl create -f - keeps going past an AlreadyExists and prints the server's Status message.

    Sources: staging/src/k8s.io/kubectl/pkg/cmd/create/create.go (RunCreate visits every object and
    aggregates the errors, wrapped by cmdutil.AddSourceToErr as `error when creating "STDIN"`);
    staging/src/k8s.io/apimachinery/pkg/api/errors/errors.go NewAlreadyExists; the field order of
    metav1.Status / metav1.StatusDetails in staging/src/k8s.io/apimachinery/pkg/apis/meta/v1/types.go.
    """
    kubectl("create", "configmap", "x", "--from-literal=old=yes")
    proc = kubectl("create", "-f", "-", stdin=MULTI_DOC, check=False)
    assert proc.returncode == 1
    assert proc.stdout.splitlines() == ["configmap/first created", "deployment.apps/web created"]
    assert proc.stderr.strip() == \
        'Error from server (AlreadyExists): error when creating "STDIN": configmaps "x" already exists'
    assert kubectl("get", "configmap", "x", "-o", "jsonpath={.data}").stdout == '{"old":"yes"}'
    # the raw Status, byte for byte in the Go struct's key order (core group is omitempty)
    raw = kubectl("create", "-f", "-", "-v=8", stdin=MULTI_DOC.split("---")[1], check=False).stderr
    body = _logged_status(raw)
    assert body == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                "message": 'configmaps "x" already exists', "reason": "AlreadyExists",
                                "details": {"name": "x", "kind": "configmaps"}, "code": 409}
    assert list(body) == ["kind", "apiVersion", "metadata", "status", "message", "reason", "details",
                                      "code"]
    # a named group keeps `group`, and a 422 carries causes — in StatusDetails' field order
    again = kubectl("create", "-f", "-", "-v=8", stdin=MULTI_DOC.split("---")[2], check=False).stderr
    assert 'deployments.apps "web" already exists' in again
    gd = _logged_status(again)["details"]
    assert isinstance(gd, dict)
    assert list(gd.items()) == [("name", "web"), ("group", "apps"), ("kind", "deployments")]
    # a delete answers a success Status without a code (registry/generic/registry/store.go finalizeDelete)
    uid = kubectl("get", "deployment", "web", "-o", "jsonpath={.metadata.uid}").stdout
    deleted = _logged_status(kubectl("delete", "deployment", "web", "-v=8").stderr)
    assert deleted == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                       "details": {"name": "web", "group": "apps", "kind": "deployments", "uid": uid}}


def test_python_client_create_from_yaml_collects_already_exists(api: client.ApiClient) -> None:
    """kubernetes.utils.create_from_yaml creates every document and raises one FailToCreateError
    holding the 409s (kubernetes/utils/create_from_yaml.py), each body the server's Status."""
    client.CoreV1Api(api).create_namespaced_config_map("default", client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="x"), data={"old": "yes"}))
    with pytest.raises(utils.FailToCreateError) as err:
        utils.create_from_yaml(api, yaml_objects=list(yaml.safe_load_all(MULTI_DOC)))
    [failure] = err.value.api_exceptions
    assert failure.status == 409 and failure.reason == "Conflict"
    assert json.loads(failure.body) == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": 'configmaps "x" already exists', "reason": "AlreadyExists",
        "details": {"name": "x", "kind": "configmaps"}, "code": 409}
    assert client.CoreV1Api(api).read_namespaced_config_map("first", "default").data == {"a": "1"}
    assert client.AppsV1Api(api).read_namespaced_deployment("web", "default").spec.replicas == 1


def test_invalid_status_carries_causes(api: client.ApiClient) -> None:
    """422 Invalid: details name, group, kind, causes (errors.NewInvalid in
    staging/src/k8s.io/apimachinery/pkg/api/errors/errors.go); read by the official client."""
    v1 = client.CoreV1Api(api)
    with pytest.raises(ApiException) as err:
        v1.create_namespaced_service_account_token("default", "default", client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=60)))
    assert err.value.status == 422
    status = json.loads(err.value.body)
    assert list(status) == ["kind", "apiVersion", "metadata", "status", "message", "reason", "details", "code"]
    assert list(status["details"]) == ["group", "kind", "causes"]
    assert status["details"]["causes"] == [{
        "reason": "FieldValueInvalid", "field": "spec.expirationSeconds",
        "message": "Invalid value: 60: may not specify a duration less than 10 minutes"}]


# --- ServiceAccount tokens ----------------------------------------------------------------------

def test_create_token_audience_duration_and_use(kubectl: Kubectl, sim: Simulator) -> None:
    """kubectl create token --audience/--duration; the token authenticates as the ServiceAccount.

    Sources: https://kubernetes.io/docs/reference/access-authn-authz/service-accounts-admin/#bound-service-account-tokens,
    pkg/registry/core/serviceaccount/storage/token.go (defaults, audiences), pkg/serviceaccount/claims.go
    (the claims and their validation: audience, expiry, bound object), and
    https://kubernetes.io/docs/reference/access-authn-authz/authentication/#service-account-tokens
    (user `system:serviceaccount:<ns>:<name>`, groups `system:serviceaccounts` and `…:<ns>`).
    """
    kubectl("create", "serviceaccount", "robot")
    both = kubectl("create", "token", "robot", f"--audience={API_AUDIENCE}", "--audience=x",
                   "--duration=1h").stdout.strip()
    claims = _claims(both)
    assert claims["aud"] == [API_AUDIENCE, "x"] and claims["sub"] == "system:serviceaccount:default:robot"
    assert 3590 <= int(claims["exp"]) - int(time.time()) <= 3600  # type: ignore[call-overload]
    who = json.loads(kubectl("auth", "whoami", f"--token={both}", "-o", "json", identity="viewer").stdout)
    assert who["status"]["userInfo"]["username"] == "system:serviceaccount:default:robot"
    assert who["status"]["userInfo"]["groups"] == ["system:serviceaccounts", "system:serviceaccounts:default",
                                                   "system:authenticated"]
    sa_uid = kubectl("get", "sa", "robot", "-o", "jsonpath={.metadata.uid}").stdout
    assert who["status"]["userInfo"]["uid"] == sa_uid
    # no RBAC for robot yet: authenticated (403, not 401)
    denied = kubectl("get", "pods", f"--token={both}", identity="viewer", check=False)
    assert "Forbidden" in denied.stderr and "system:serviceaccount:default:robot" in denied.stderr
    # a token only for audience "x" is not for the API server: 401, as the real apiserver refuses it
    only_x = kubectl("create", "token", "robot", "--audience=x").stdout.strip()
    refused = kubectl("get", "pods", f"--token={only_x}", identity="viewer", check=False)
    assert refused.returncode == 1
    assert "You must be logged in to the server (Unauthorized)" in refused.stderr
    # the default audience is the API server's, and the default lifetime one hour
    plain = _claims(kubectl("create", "token", "robot").stdout.strip())
    assert plain["aud"] == [API_AUDIENCE]
    assert 3590 <= int(plain["exp"]) - int(plain["iat"]) <= 3600  # type: ignore[call-overload]
    # too short: the API server's validation message, through kubectl
    short = kubectl("create", "token", "robot", "--duration=5m", check=False)
    assert short.returncode == 1
    assert ('TokenRequest.authentication.k8s.io "" is invalid: spec.expirationSeconds: Invalid value: 300: '
            "may not specify a duration less than 10 minutes") in short.stderr
    # an hour later the 1h token is refused (claims.go: exp), a fresh one works
    sim.cluster().advance_token_clock(3601)
    expired = kubectl("get", "pods", f"--token={both}", identity="viewer", check=False)
    assert "You must be logged in to the server (Unauthorized)" in expired.stderr
    fresh = kubectl("create", "token", "robot").stdout.strip()
    assert "system:serviceaccount:default:robot" in kubectl("auth", "whoami", f"--token={fresh}",
                                                            identity="viewer").stdout
    # a deleted ServiceAccount takes its tokens with it
    kubectl("delete", "sa", "robot")
    gone = kubectl("auth", "whoami", f"--token={fresh}", identity="viewer", check=False)
    assert "You must be logged in to the server (Unauthorized)" in gone.stderr


def test_bound_tokens_die_with_their_object(kubectl: Kubectl, sim: Simulator) -> None:
    """--bound-object-kind Pod/Secret: checked on issue, and refused (401) once the object is gone.

    Source: pkg/registry/core/serviceaccount/storage/token.go (boundObjectRef: Pod must run as the
    ServiceAccount, UID must match — 409 Conflict otherwise; other kinds are a BadRequest) and
    pkg/serviceaccount/claims.go (a token whose bound object is deleted no longer validates).
    """
    kubectl("create", "serviceaccount", "robot")
    kubectl("run", "worker", "--image=busybox:1.36", "--overrides",
            json.dumps({"spec": {"serviceAccountName": "robot"}}))
    kubectl("run", "stranger", "--image=busybox:1.36")
    kubectl("create", "secret", "generic", "anchor", "--from-literal=k=v")
    pod_token = kubectl("create", "token", "robot", "--bound-object-kind=Pod", "--bound-object-name=worker",
                        "--duration=10m").stdout.strip()
    pod_uid = kubectl("get", "pod", "worker", "-o", "jsonpath={.metadata.uid}").stdout
    assert _claims(pod_token)["kubernetes.io"] == {
        "namespace": "default", "pod": {"name": "worker", "uid": pod_uid},
        "serviceaccount": {"name": "robot",
                           "uid": kubectl("get", "sa", "robot", "-o", "jsonpath={.metadata.uid}").stdout}}
    secret_token = kubectl("create", "token", "robot", "--bound-object-kind=Secret",
                           "--bound-object-name=anchor").stdout.strip()
    for token in (pod_token, secret_token):
        ok = kubectl("auth", "whoami", f"--token={token}", identity="viewer")
        assert "system:serviceaccount:default:robot" in ok.stdout
    wrong_sa = kubectl("create", "token", "robot", "--bound-object-kind=Pod", "--bound-object-name=stranger",
                       check=False)
    assert ('cannot bind token for serviceaccount "robot" to pod running with different serviceaccount name.'
            in wrong_sa.stderr)
    missing = kubectl("create", "token", "robot", "--bound-object-kind=Secret", "--bound-object-name=nope",
                      check=False)
    assert 'secrets "nope" not found' in missing.stderr
    stale = kubectl("create", "token", "robot", "--bound-object-kind=Secret", "--bound-object-name=anchor",
                    "--bound-object-uid=0d4691ed-659b-4935-a832-355f77ee47cc", check=False)
    assert ('Operation cannot be fulfilled on Secret "anchor": the UID in the bound object reference '
            "(0d4691ed-659b-4935-a832-355f77ee47cc) does not match the UID in record") in stale.stderr
    kubectl("delete", "pod", "worker", "--wait=false")
    kubectl("delete", "secret", "anchor")
    for token in (pod_token, secret_token):
        dead = kubectl("get", "pods", f"--token={token}", identity="viewer", check=False)
        assert "You must be logged in to the server (Unauthorized)" in dead.stderr


def test_token_review_and_expiry(api: client.ApiClient, sim: Simulator) -> None:
    """TokenReview with spec.audiences (staging/src/k8s.io/api/authentication/v1/types.go TokenReviewStatus
    .Audiences); an expired token is refused with 401 (pkg/serviceaccount/claims.go: exp)."""
    v1, auth = client.CoreV1Api(api), client.AuthenticationV1Api(api)
    tr = v1.create_namespaced_service_account_token("default", "default", client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=["vault"], expiration_seconds=600)))
    assert tr.spec.audiences == ["vault"] and tr.spec.expiration_seconds == 600
    token = tr.status.token
    review = auth.create_token_review(client.V1TokenReview(spec=client.V1TokenReviewSpec(
        token=token, audiences=["vault"])))
    assert review.status.authenticated is True and review.status.audiences == ["vault"]
    assert review.status.user.username == "system:serviceaccount:default:default"
    assert review.status.user.groups == ["system:serviceaccounts", "system:serviceaccounts:default",
                                         "system:authenticated"]
    other = auth.create_token_review(client.V1TokenReview(spec=client.V1TokenReviewSpec(token=token)))
    assert not other.status.authenticated  # the API server's own audience is not "vault"
    # expiry: the minimum lifetime is 10 minutes, so the test moves the token clock past it
    api_token = v1.create_namespaced_service_account_token("default", "default", client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=600))).status.token
    assert int(_claims(api_token)["exp"]) - int(_claims(api_token)["iat"]) == 600  # type: ignore[call-overload]
    sim.cluster().advance_token_clock(590)
    assert client.AuthenticationV1Api(api).create_token_review(client.V1TokenReview(
        spec=client.V1TokenReviewSpec(token=api_token))).status.authenticated is True
    sim.cluster().advance_token_clock(11)
    cfg = client.Configuration()
    cfg.host, cfg.ssl_ca_cert = sim.url, sim.ca_path
    cfg.api_key = {"authorization": f"Bearer {api_token}"}
    with client.ApiClient(cfg) as as_sa, pytest.raises(ApiException) as err:
        client.CoreV1Api(as_sa).list_namespaced_pod("default")
    assert err.value.status == 401 and json.loads(err.value.body)["reason"] == "Unauthorized"


# --- gzip -----------------------------------------------------------------------------------------

def test_gzip_over_threshold_only(api: client.ApiClient, sim: Simulator, kubectl: Kubectl) -> None:
    """Accept-Encoding: gzip compresses responses over 128 KiB, never smaller ones nor watches.

    Source: staging/src/k8s.io/apiserver/pkg/endpoints/handlers/responsewriters/writers.go
    (defaultGzipThresholdBytes = 128 * 1024; deferredResponseWriter) and
    staging/src/k8s.io/apiserver/pkg/endpoints/handlers/watch.go (newWatchResponseWriter: a plain watch
    is written uncompressed; only watch-list requests behind the WatchListCompression gate are gzipped).
    """
    assert GZIP_THRESHOLD_BYTES == 128 * 1024
    v1 = client.CoreV1Api(api)
    blob = "x" * 40_000
    for i in range(4):
        v1.create_namespaced_config_map("default", client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name=f"big-{i}"), data={"blob": blob}))
    api.set_default_header("Accept-Encoding", "gzip")
    small = v1.read_namespaced_config_map("big-0", "default", _preload_content=False)
    assert "Content-Encoding" not in small.headers and len(small.data) > 40_000
    big = v1.list_namespaced_config_map("default", _preload_content=False)
    assert big.headers["Content-Encoding"] == "gzip" and big.headers["Vary"] == "Accept-Encoding"
    assert int(big.headers["Content-Length"]) < 10_000  # 160 KiB of 'x' compress to a few KiB
    assert len(json.loads(big.data)["items"]) == 4  # urllib3 inflated it
    models = v1.list_namespaced_config_map("default")  # the client's own deserialisation still works
    assert sorted(c.metadata.name for c in models.items if c.metadata.name.startswith("big-")) == \
        [f"big-{i}" for i in range(4)]
    table = api.call_api("GET", f"{sim.url}/api/v1/namespaces/default/configmaps", header_params={
        "Accept": "application/json;as=Table;v=v1;g=meta.k8s.io", "Accept-Encoding": "gzip",
        "Authorization": f"Bearer {sim.cluster().admin_token}"})
    table.read()
    assert table.getheader("Content-Encoding") is None  # a Table of names is small: under the threshold
    full = api.call_api("GET", f"{sim.url}/api/v1/namespaces/default/configmaps?includeObject=Object",
                        header_params={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io",
                                       "Accept-Encoding": "gzip",
                                       "Authorization": f"Bearer {sim.cluster().admin_token}"})
    full.read()
    assert full.getheader("Content-Encoding") == "gzip"
    assert json.loads(full.data)["kind"] == "Table"
    # negotiateContentEncoding matches the bare token only: "gzip;q=1" is not gzip upstream
    qualified = api.call_api("GET", f"{sim.url}/api/v1/namespaces/default/configmaps", header_params={
        "Accept-Encoding": "deflate, gzip;q=1", "Authorization": f"Bearer {sim.cluster().admin_token}"})
    qualified.read()
    assert qualified.getheader("Content-Encoding") is None and len(qualified.data) > GZIP_THRESHOLD_BYTES
    watch = v1.list_namespaced_config_map("default", watch=True, timeout_seconds=1, _preload_content=False)
    assert "Content-Encoding" not in watch.headers
    assert sum(1 for line in watch.data.splitlines() if line.strip()) == 4  # one ADDED per configmap
    # the real kubectl (client-go asks for gzip itself and inflates transparently) reads it all
    names = kubectl("get", "configmaps", "-o", "name").stdout.split()
    assert [n for n in names if n.startswith("configmap/big-")] == [f"configmap/big-{i}" for i in range(4)]
    blobs = kubectl("get", "configmaps", "-o", "jsonpath={.items[*].data.blob}").stdout.split()
    assert blobs == [blob] * 4


# --- ReplicationControllers -----------------------------------------------------------------------

RC = """\
apiVersion: v1
kind: ReplicationController
metadata: {name: nginx}
spec:
  replicas: 3
  template:
    metadata: {labels: {app: nginx}}
    spec: {containers: [{name: nginx, image: nginx:1.27}]}
"""


def test_replication_controller_scale_and_pods(kubectl: Kubectl, api: client.ApiClient) -> None:
    """An RC keeps `replicas` pods; kubectl scale and the client's scale subresource change it.

    Sources: https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller/ (the
    selector defaults to the template's labels; deleting the RC deletes its pods),
    pkg/apis/core/v1/defaults.go SetDefaults_ReplicationController, pkg/controller/replication
    (events from `replication-controller`), pkg/registry/core/replicationcontroller/storage/storage.go
    (ScaleREST: autoscaling/v1 Scale, status.selector as a label string) and
    pkg/printers/internalversion/printers.go printReplicationController (the columns).
    """
    assert kubectl("create", "-f", "-", stdin=RC).stdout.strip() == "replicationcontroller/nginx created"
    rc = json.loads(kubectl("get", "rc", "nginx", "-o", "json").stdout)
    assert rc["spec"]["selector"] == {"app": "nginx"} and rc["metadata"]["labels"] == {"app": "nginx"}
    assert rc["status"]["replicas"] == 3 and rc["status"]["readyReplicas"] == 3
    pods = json.loads(kubectl("get", "pods", "-l", "app=nginx", "-o", "json").stdout)["items"]
    assert len(pods) == 3 and all(p["metadata"]["ownerReferences"][0] == {
        "apiVersion": "v1", "kind": "ReplicationController", "name": "nginx", "uid": rc["metadata"]["uid"],
        "controller": True, "blockOwnerDeletion": True} for p in pods)
    wide = kubectl("get", "rc", "-o", "wide").stdout.splitlines()
    assert wide[0].split() == ["NAME", "DESIRED", "CURRENT", "READY", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"]
    assert wide[1].split()[:4] == ["nginx", "3", "3", "3"] and wide[1].split()[5:] == ["nginx", "nginx:1.27",
                                                                                       "app=nginx"]
    assert kubectl("scale", "rc", "nginx", "--replicas=1").stdout.strip() == "replicationcontroller/nginx scaled"
    assert len(kubectl("get", "pods", "-l", "app=nginx", "-o", "name").stdout.split()) == 1
    v1 = client.CoreV1Api(api)
    scale = v1.read_namespaced_replication_controller_scale("nginx", "default")
    assert scale.spec.replicas == 1 and scale.status.selector == "app=nginx" and scale.status.replicas == 1
    v1.patch_namespaced_replication_controller_scale("nginx", "default", {"spec": {"replicas": 2}})
    assert v1.read_namespaced_replication_controller("nginx", "default").status.ready_replicas == 2
    events = kubectl("get", "events", "--field-selector", "involvedObject.kind=ReplicationController",
                     "-o", "jsonpath={range .items[*]}{.source.component} {.reason}{'\\n'}{end}").stdout.splitlines()
    assert events.count("replication-controller SuccessfulCreate") == 4
    assert events.count("replication-controller SuccessfulDelete") == 2
    # selector and template labels must agree (pkg/apis/core/validation ValidateReplicationControllerSpec)
    bad = RC.replace("replicas: 3", "replicas: 1\n  selector: {app: other}").replace("name: nginx}", "name: bad}")
    refused = kubectl("create", "-f", "-", stdin=bad, check=False)
    assert ('The ReplicationController "bad" is invalid: spec.template.metadata.labels: Invalid value: '
            '{"app":"nginx"}: `selector` does not match template `labels`') in refused.stderr
    kubectl("delete", "rc", "nginx")
    assert kubectl("get", "pods", "-l", "app=nginx", "-o", "name").stdout.strip() == ""


# --- APIServices ----------------------------------------------------------------------------------

CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  names: {kind: Widget, plural: widgets, singular: widget}
  scope: Namespaced
  versions:
  - {name: v1, served: true, storage: true,
     schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}
"""


def test_apiservices_list_builtin_crd_and_metrics(kubectl: Kubectl, api: client.ApiClient) -> None:
    """`kubectl get apiservices` lists one APIService per served group version, as kube-aggregator keeps them.

    Sources: https://kubernetes.io/docs/concepts/extend-kubernetes/api-extension/apiserver-aggregation/,
    pkg/controlplane/apiserver/aggregator.go (DefaultGenericAPIServicePriorities, the `onstart`
    automanaged label), staging/src/k8s.io/kube-aggregator/pkg/controllers/autoregister and
    crdregistration (CRD versions at groupPriorityMinimum 1000 / versionPriority 100), and
    staging/src/k8s.io/kube-aggregator/pkg/registry/apiservice/etcd/etcd.go (NAME SERVICE AVAILABLE AGE).
    """
    lines = kubectl("get", "apiservices").stdout.splitlines()
    assert lines[0].split() == ["NAME", "SERVICE", "AVAILABLE", "AGE"]
    rows = {line.split()[0]: line.split()[1:3] for line in lines[1:]}
    discovered = {gv for gv in kubectl("api-versions").stdout.split()}
    expected = {f"{gv.split('/')[1]}.{gv.split('/')[0]}" if "/" in gv else f"{gv}." for gv in discovered}
    assert set(rows) == expected  # exactly the served group versions
    assert rows["v1."] == ["Local", "True"] and rows["v1.apps"] == ["Local", "True"]
    assert rows["v1beta1.metrics.k8s.io"] == ["kube-system/metrics-server", "True"]
    reg = client.ApiregistrationV1Api(api)
    apps = reg.read_api_service("v1.apps")
    assert (apps.spec.group, apps.spec.version, apps.spec.group_priority_minimum, apps.spec.version_priority) == \
        ("apps", "v1", 17800, 15)
    assert apps.metadata.labels == {"kube-aggregator.kubernetes.io/automanaged": "onstart"}
    cond = apps.status.conditions[0]
    assert (cond.type, cond.status, cond.reason) == ("Available", "True", "Local")
    core = reg.read_api_service("v1.")
    assert core.spec.group is None and core.spec.group_priority_minimum == 18000 and core.spec.version_priority == 1
    kubectl("create", "-f", "-", stdin=CRD)
    crd_service = reg.read_api_service("v1.example.com")
    assert (crd_service.spec.group_priority_minimum, crd_service.spec.version_priority) == (1000, 100)
    assert crd_service.metadata.labels == {"kube-aggregator.kubernetes.io/automanaged": "true"}
    kubectl("delete", "crd", "widgets.example.com")
    with pytest.raises(ApiException) as err:
        reg.read_api_service("v1.example.com")
    assert err.value.status == 404
