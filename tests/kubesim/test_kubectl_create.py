"""``kubectl create …`` posts protobuf bodies: each kind must arrive intact."""

from __future__ import annotations

import base64
import json

from kubesim.runner import Simulator
from tests.kubesim.conftest import Kubectl


def _get(kubectl: Kubectl, *args: str) -> dict[str, object]:
    return json.loads(kubectl("get", *args, "-o", "json").stdout)  # type: ignore[no-any-return]


def test_create_namespace_deployment_and_friends(kubectl: Kubectl, sim: Simulator) -> None:
    assert kubectl("create", "namespace", "team").stdout.strip() == "namespace/team created"
    kubectl("create", "deployment", "web", "--image=nginx:1.27", "--replicas=3", "--port=80", "-n", "team")
    dep = _get(kubectl, "deployment", "web", "-n", "team")
    spec = dep["spec"]
    assert isinstance(spec, dict)
    assert spec["replicas"] == 3 and spec["selector"] == {"matchLabels": {"app": "web"}}
    container = spec["template"]["spec"]["containers"][0]
    assert container["image"] == "nginx:1.27" and container["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert spec["strategy"]["type"] == "RollingUpdate"
    pods = kubectl("get", "pods", "-n", "team", "-l", "app=web", "-o", "name").stdout.split()
    assert len(pods) == 3
    kubectl("create", "configmap", "settings", "--from-literal=mode=fast", "-n", "team")
    assert _get(kubectl, "configmap", "settings", "-n", "team")["data"] == {"mode": "fast"}
    kubectl("create", "secret", "generic", "creds", "--from-literal=password=s3cret", "-n", "team")
    secret = _get(kubectl, "secret", "creds", "-n", "team")
    assert secret["type"] == "Opaque"
    assert base64.b64decode(secret["data"]["password"]) == b"s3cret"  # type: ignore[index]
    kubectl("create", "service", "clusterip", "web", "--tcp=80:8080", "-n", "team")
    svc = _get(kubectl, "service", "web", "-n", "team")["spec"]
    assert svc["ports"][0]["port"] == 80 and svc["ports"][0]["targetPort"] == 8080  # type: ignore[index]
    assert svc["clusterIP"].startswith("10.96.")  # type: ignore[index]


def test_create_rbac_serviceaccount_token(kubectl: Kubectl, sim: Simulator) -> None:
    kubectl("create", "serviceaccount", "robot", "-n", "default")
    kubectl("create", "role", "pod-reader", "--verb=get,list", "--resource=pods", "-n", "default")
    kubectl("create", "rolebinding", "robot-reads", "--role=pod-reader", "--serviceaccount=default:robot",
            "-n", "default")
    role = _get(kubectl, "role", "pod-reader", "-n", "default")
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]
    binding = _get(kubectl, "rolebinding", "robot-reads", "-n", "default")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "robot", "namespace": "default"}]
    token = kubectl("create", "token", "robot", "-n", "default", "--duration=10m").stdout.strip()
    assert token
    kubectl("create", "pdb", "web", "--selector=app=web", "--min-available=1", "-n", "default")
    assert _get(kubectl, "pdb", "web", "-n", "default")["spec"]["minAvailable"] == 1  # type: ignore[index]


def test_rbac_bindings_take_effect(kubectl: Kubectl) -> None:
    sa = "system:serviceaccount:default:robot"
    kubectl("create", "serviceaccount", "robot", "-n", "default")
    assert kubectl("auth", "can-i", "list", "pods", "-n", "default", f"--as={sa}", check=False).stdout.strip() == "no"
    kubectl("create", "role", "pod-reader", "--verb=get,list", "--resource=pods", "-n", "default")
    kubectl("create", "rolebinding", "robot-reads", "--role=pod-reader", "--serviceaccount=default:robot",
            "-n", "default")
    assert kubectl("auth", "can-i", "list", "pods", "-n", "default", f"--as={sa}").stdout.strip() == "yes"
    assert kubectl("auth", "can-i", "list", "pods", "-n", "kube-system", f"--as={sa}",
                   check=False).stdout.strip() == "no"
    token = kubectl("create", "token", "robot", "-n", "default").stdout.strip()
    listed = kubectl("get", "pods", "-n", "default", f"--token={token}", identity="viewer")
    assert "No resources found" in listed.stderr
    denied = kubectl("get", "pods", "-n", "kube-system", f"--token={token}", identity="viewer", check=False)
    assert f'User "{sa}" cannot list resource "pods"' in denied.stderr
    kubectl("create", "clusterrolebinding", "robot-view", "--clusterrole=view", "--serviceaccount=default:robot")
    assert "coredns" in kubectl("get", "pods", "-n", "kube-system", f"--token={token}", identity="viewer").stdout
    assert kubectl("auth", "can-i", "delete", "pods", "-A", f"--as={sa}", check=False).stdout.strip() == "no"
    view = kubectl("get", "clusterrole", "view", "-o", "name").stdout.strip()
    assert view == "clusterrole.rbac.authorization.k8s.io/view"


def test_create_cronjob_quota_priorityclass(kubectl: Kubectl) -> None:
    kubectl("create", "cronjob", "tick", "--image=busybox:1.36", "--schedule=*/5 * * * *", "--", "echo", "tick")
    cj = _get(kubectl, "cronjob", "tick")["spec"]
    assert cj["schedule"] == "*/5 * * * *"  # type: ignore[index]
    container = cj["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]  # type: ignore[index]
    assert container["command"] == ["echo", "tick"] and container["image"] == "busybox:1.36"
    kubectl("create", "quota", "small", "--hard=pods=10,requests.cpu=2")
    assert _get(kubectl, "resourcequota", "small")["spec"] == {"hard": {"pods": "10", "requests.cpu": "2"}}
    kubectl("create", "priorityclass", "high", "--value=1000", "--description=important")
    pc = _get(kubectl, "priorityclass", "high")
    assert pc["value"] == 1000 and pc["description"] == "important"


def test_autoscale_creates_hpa(kubectl: Kubectl) -> None:
    kubectl("create", "deployment", "web", "--image=nginx:1.27")
    kubectl("autoscale", "deployment", "web", "--min=2", "--max=5", "--cpu=80%")
    spec = _get(kubectl, "hpa", "web")["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}  # type: ignore[index]
    assert (spec["minReplicas"], spec["maxReplicas"]) == (2, 5)  # type: ignore[index]
    target = spec["metrics"][0]["resource"]  # type: ignore[index]
    assert target == {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}


def test_create_ingress(kubectl: Kubectl) -> None:
    kubectl("create", "ingress", "web", "--class=nginx", "--rule=shop.example.com/api*=api:8080,tls=shop-tls")
    spec = _get(kubectl, "ingress", "web")["spec"]
    assert spec["ingressClassName"] == "nginx"  # type: ignore[index]
    assert spec["tls"] == [{"hosts": ["shop.example.com"], "secretName": "shop-tls"}]  # type: ignore[index]
    rule = spec["rules"][0]  # type: ignore[index]
    assert rule["host"] == "shop.example.com"
    assert rule["http"]["paths"] == [{"path": "/api", "pathType": "Prefix", "backend": {
        "service": {"name": "api", "port": {"number": 8080}}}}]
    row = kubectl("get", "ingress", "web").stdout.splitlines()[1].split()
    assert row[:3] == ["web", "nginx", "shop.example.com"]
