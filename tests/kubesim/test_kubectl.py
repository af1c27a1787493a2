"""The real kubectl 1.37 against kubesim: each test asserts on kubectl's own output."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable

import yaml

from kubesim.runner import Simulator
from tests.kubesim.conftest import Kubectl
from tests.kubesim.lines import read_until, wait_for_watch

Popen = Callable[..., subprocess.Popen[str]]

MANIFEST = """\
apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: web
  namespace: shop
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: web-view
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects: [{kind: ServiceAccount, name: web, namespace: shop}]
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
  namespace: shop
data:
  color: blue
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels: {app: web}
spec:
  replicas: REPLICAS
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      serviceAccountName: web
      containers:
      - name: web
        image: nginx:1.27
        ports: [{containerPort: 80}]
"""


def _rows(out: str) -> list[list[str]]:
    return [line.split() for line in out.strip().splitlines()[1:]]


def test_version_and_api_resources(kubectl: Kubectl) -> None:
    out = kubectl("version").stdout
    assert "Server Version: v1.37.1" in out
    res = kubectl("api-resources").stdout
    assert any(r[:2] == ["deployments", "deploy"] and "apps/v1" in r for r in _rows(res))
    assert any(r[0] == "poddisruptionbudgets" and "policy/v1" in r for r in _rows(res))


def test_get_nodes_wide(kubectl: Kubectl, sim: Simulator) -> None:
    rows = _rows(kubectl("get", "nodes", "-o", "wide").stdout)
    names = [r[0] for r in rows]
    assert names == sim.cluster().node_names()
    assert all(r[1] == "Ready" for r in rows)
    control = next(r for r in rows if r[0] == "kubesim-control-plane")
    assert control[2] == "control-plane"
    assert control[4] == "v1.37.1" and control[5] == "172.18.0.2"


def test_get_nodes_yaml_is_complete(kubectl: Kubectl) -> None:
    doc = yaml.safe_load(kubectl("get", "nodes", "-o", "yaml").stdout)
    assert doc["kind"] == "List"
    node = doc["items"][0]
    assert node["status"]["nodeInfo"]["kubeletVersion"] == "v1.37.1"
    assert {c["type"] for c in node["status"]["conditions"]} >= {"Ready", "MemoryPressure"}
    assert node["metadata"]["labels"]["kubernetes.io/hostname"] == node["metadata"]["name"]
    assert node["status"]["allocatable"]["pods"] == "110"


def test_get_pods_all_namespaces_and_selector(kubectl: Kubectl) -> None:
    rows = _rows(kubectl("get", "pods", "-A").stdout)
    assert rows and all(r[0] == "kube-system" for r in rows)
    assert all(r[2] == "1/1" and r[3] == "Running" for r in rows)
    coredns = _rows(kubectl("get", "pods", "-A", "-l", "k8s-app=kube-dns").stdout)
    assert len(coredns) == 2 and all(r[1].startswith("coredns-") for r in coredns)
    none = kubectl("get", "pods", "-A", "-l", "app=x")
    assert "No resources found" in none.stderr


def test_get_pods_watch_sees_new_pod(kubectl: Kubectl, kubectl_popen: Popen, sim: Simulator) -> None:
    proc = kubectl_popen("get", "pods", "-A", "-w")
    read_until(proc, lambda line: "kube-proxy" in line)
    wait_for_watch(sim.cluster(), "pods")
    kubectl("run", "watched", "--image=busybox:1.36", "-n", "default")
    lines = read_until(proc, lambda line: line.startswith("default") and "watched" in line and "Running" in line)
    assert any("watched" in line for line in lines)


def test_get_events_watch_streams_new_events(kubectl: Kubectl, kubectl_popen: Popen, sim: Simulator) -> None:
    proc = kubectl_popen("get", "events", "-A", "-w", "--watch-only")
    wait_for_watch(sim.cluster(), "events")
    kubectl("run", "evented", "--image=busybox:1.36", "-n", "default")
    lines = read_until(proc, lambda line: "pod/evented" in line and "Scheduled" in line)
    assert "Successfully assigned default/evented" in lines[-1]


def test_apply_twice_then_change(kubectl: Kubectl) -> None:
    manifest = MANIFEST.replace("REPLICAS", "2")
    first = kubectl("apply", "-f", "-", stdin=manifest).stdout
    assert "namespace/shop created" in first
    assert "clusterrolebinding.rbac.authorization.k8s.io/web-view created" in first
    assert "deployment.apps/web created" in first
    second = kubectl("apply", "-f", "-", stdin=manifest).stdout
    assert "deployment.apps/web unchanged" in second and "configmap/web-config unchanged" in second
    pods = _rows(kubectl("get", "pods", "-n", "shop", "-l", "app=web").stdout)
    assert len(pods) == 2 and all(p[2] == "Running" for p in pods)
    changed = manifest.replace("color: blue", "color: red").replace("replicas: 2", "replicas: 3")
    third = kubectl("apply", "-f", "-", stdin=changed).stdout
    assert "configmap/web-config configured" in third and "deployment.apps/web configured" in third
    assert kubectl("get", "cm", "web-config", "-n", "shop", "-o", "jsonpath={.data.color}").stdout == "red"
    deploy = _rows(kubectl("get", "deploy", "web", "-n", "shop").stdout)
    assert deploy[0][1] == "3/3"
    server_side = kubectl("apply", "--server-side", "-f", "-", stdin=changed).stdout
    assert "deployment.apps/web serverside-applied" in server_side


def test_label_and_taint(kubectl: Kubectl) -> None:
    assert "labeled" in kubectl("label", "node", "kubesim-worker-1", "tier=gold").stdout
    rows = _rows(kubectl("get", "nodes", "-l", "tier=gold").stdout)
    assert [r[0] for r in rows] == ["kubesim-worker-1"]
    kubectl("label", "node", "kubesim-worker-1", "tier-")
    assert "No resources found" in kubectl("get", "nodes", "-l", "tier=gold").stderr
    assert "tainted" in kubectl("taint", "node", "kubesim-worker-2", "dedicated=db:NoSchedule").stdout
    taints = json.loads(kubectl("get", "node", "kubesim-worker-2", "-o", "jsonpath={.spec.taints}").stdout)
    assert taints == [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]
    kubectl("taint", "node", "kubesim-worker-2", "dedicated-")
    assert kubectl("get", "node", "kubesim-worker-2", "-o", "jsonpath={.spec.taints}").stdout == ""


def test_cordon_uncordon(kubectl: Kubectl) -> None:
    assert "node/kubesim-worker-1 cordoned" in kubectl("cordon", "kubesim-worker-1").stdout
    row = _rows(kubectl("get", "node", "kubesim-worker-1").stdout)[0]
    assert row[1] == "Ready,SchedulingDisabled"
    assert "uncordoned" in kubectl("uncordon", "kubesim-worker-1").stdout
    assert _rows(kubectl("get", "node", "kubesim-worker-1").stdout)[0][1] == "Ready"


def test_drain_evicts_and_skips_daemonsets(kubectl: Kubectl, sim: Simulator) -> None:
    node = "kubesim-worker-1"
    kubectl("apply", "-f", "-", stdin=MANIFEST.replace("REPLICAS", "4"))
    out = kubectl("drain", node, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=30s")
    assert f"node/{node} drained" in out.stdout
    assert "ignoring DaemonSet-managed Pods: kube-system/kube-proxy-" in out.stderr
    remaining = _rows(kubectl("get", "pods", "-A", "-o", "wide", "--field-selector", f"spec.nodeName={node}").stdout)
    assert len(remaining) == 1 and remaining[0][1].startswith("kube-proxy-")
    web = _rows(kubectl("get", "pods", "-n", "shop", "-o", "wide").stdout)
    assert len(web) == 4 and all(r[6] != node for r in web)
    assert _rows(kubectl("get", "node", node).stdout)[0][1] == "Ready,SchedulingDisabled"


def test_drain_respects_pod_disruption_budget(kubectl: Kubectl, sim: Simulator) -> None:
    kubectl("apply", "-f", "-", stdin=MANIFEST.replace("REPLICAS", "2"))
    cluster = sim.cluster()
    # keep every web pod on worker-1 so that evicting any breaks the budget
    pods = cluster.store.list(cluster.rt("pods"), "shop")[0]
    target = pods[0]["spec"]["nodeName"]
    kubectl("apply", "-f", "-", stdin="""\
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web, namespace: shop}
spec:
  minAvailable: 2
  selector: {matchLabels: {app: web}}
""")
    assert _rows(kubectl("get", "pdb", "-n", "shop").stdout)[0][3] == "0"
    out = kubectl("drain", target, "--ignore-daemonsets", "--timeout=2s", check=False, timeout=60)
    assert out.returncode != 0
    assert "Cannot evict pod as it would violate the pod's disruption budget" in out.stderr


def test_logs_and_follow(kubectl: Kubectl, kubectl_popen: Popen, sim: Simulator) -> None:
    kubectl("run", "talker", "--image=busybox:1.36", "-n", "default")
    out = kubectl("logs", "talker", "-n", "default").stdout
    assert "container talker started" in out
    sim.cluster().append_log("default", "talker", "talker", "first line")
    proc = kubectl_popen("logs", "-f", "talker", "-n", "default")
    read_until(proc, lambda line: "first line" in line)
    sim.cluster().append_log("default", "talker", "talker", "second line")
    read_until(proc, lambda line: "second line" in line)


def test_exec_echo_and_exit_code(kubectl: Kubectl) -> None:
    kubectl("run", "shell", "--image=busybox:1.36", "-n", "default")
    assert kubectl("exec", "shell", "-n", "default", "--", "echo", "hi").stdout == "hi\n"
    failed = kubectl("exec", "shell", "-n", "default", "--", "sh", "-c", "echo out; echo err >&2; exit 3",
                     check=False)
    assert failed.returncode == 3
    assert failed.stdout == "out\n" and "err" in failed.stderr
    piped = kubectl("exec", "-i", "shell", "-n", "default", "--", "cat", stdin="from stdin\n")
    assert piped.stdout == "from stdin\n"


def test_auth_can_i(kubectl: Kubectl) -> None:
    assert kubectl("auth", "can-i", "*", "*", "-A").stdout.strip() == "yes"
    viewer = kubectl("auth", "can-i", "*", "*", "-A", identity="viewer", check=False)
    assert viewer.returncode == 1 and viewer.stdout.strip() == "no"
    assert kubectl("auth", "can-i", "list", "pods", "-A", identity="viewer").stdout.strip() == "yes"
    assert kubectl("auth", "can-i", "create", "pods/eviction", "-n", "default", identity="viewer",
                   check=False).stdout.strip() == "no"


def test_viewer_cannot_cordon(kubectl: Kubectl) -> None:
    out = kubectl("cordon", "kubesim-worker-1", identity="viewer", check=False)
    assert 'nodes "kubesim-worker-1" is forbidden: User "kubesim-viewer" cannot patch resource "nodes"' in out.stderr
    assert _rows(kubectl("get", "node", "kubesim-worker-1").stdout)[0][1] == "Ready"


def test_client_certificate_identity(kubectl: Kubectl) -> None:
    rows = _rows(kubectl("get", "nodes", identity="admin-cert").stdout)
    assert len(rows) == 3
    assert kubectl("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}",
                   identity="admin-cert").stdout == "kubesim-admin"


def test_top_nodes_and_pods(kubectl: Kubectl) -> None:
    nodes = _rows(kubectl("top", "nodes").stdout)
    assert len(nodes) == 3 and all(r[1].endswith("m") and r[3].endswith("Mi") for r in nodes)
    pods = _rows(kubectl("top", "pods", "-n", "kube-system").stdout)
    assert len(pods) == 5
