"""The real kubectl 1.37 through Shoal's gateway (HTTPS, a real server process) against kubesim (R20).

A project manager does everything the issue names; a viewer reads but is refused
a cordon with Shoal's own message; a user of another project is refused
everything; a revoked gateway token is refused as unauthenticated. The cluster
sees the Shoal user (impersonation), not Shoal's credential.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from kubesim.podutil import PODS as PODS_RT
from shoal.demo import grant_shoal_groups
from tests.gateway.conftest import KUBECTL, Kubectl, World
from tests.kubesim.lines import read_until, wait_for_watch
from tests.kubesim.streams_support import (
    PODS,
    PROTOCOLS,
    VERBOSE,
    assert_protocol_used,
    echo_through,
    http_through,
    port_forward,
    split_log,
)

Popen = Callable[..., subprocess.Popen[str]]
SHOAL = str(Path(sys.executable).parent / "shoal")

MANIFEST = """\
apiVersion: v1
kind: Namespace
metadata:
  name: shop
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
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
"""


def _rows(out: str) -> list[list[str]]:
    return [line.split() for line in out.strip().splitlines()[1:]]


def test_manager_reads_nodes_and_is_impersonated(kubectl: Kubectl, world: World) -> None:
    rows = _rows(kubectl("get", "nodes").stdout)
    assert [r[0] for r in rows] == world.sim.cluster().node_names()
    who = json.loads(kubectl("auth", "whoami", "-o", "json").stdout)
    assert who["status"]["userInfo"]["username"] == "shoal:mona"
    assert {"shoal:role:manager", "shoal:project:alpha"} <= set(who["status"]["userInfo"]["groups"])


def test_manager_watches_pods_across_namespaces(kubectl: Kubectl, kubectl_popen: Popen, world: World) -> None:
    proc = kubectl_popen("get", "pods", "-A", "-w")
    read_until(proc, lambda line: "kube-proxy" in line)
    wait_for_watch(world.sim.cluster(), "pods")
    world.sim.cluster().create("pods", {"metadata": {"name": "watched"},
                                        "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}}, "default")
    read_until(proc, lambda line: line.startswith("default") and "watched" in line)
    proc.kill()  # the client goes away: the gateway ends its watch on the cluster too
    proc.wait()
    cluster, deadline = world.sim.cluster(), time.monotonic() + 10
    while cluster.store.watch_count(cluster.rt("pods")) > 0:
        assert time.monotonic() < deadline, "the upstream watch outlived its client"
        time.sleep(0.05)


def test_manager_applies_cordons_and_drains(kubectl: Kubectl, world: World) -> None:
    out = kubectl("apply", "-f", "-", stdin=MANIFEST).stdout
    assert "deployment.apps/web created" in out and "namespace/shop created" in out
    assert kubectl("get", "configmap", "web-config", "-n", "shop", "-o", "jsonpath={.data.color}").stdout == "blue"
    again = kubectl("apply", "-f", "-", stdin=MANIFEST.replace("color: blue", "color: green")).stdout
    assert "configmap/web-config configured" in again
    node = "kubesim-worker-2"
    assert f"node/{node} cordoned" in kubectl("cordon", node).stdout
    assert _rows(kubectl("get", "node", node).stdout)[0][1] == "Ready,SchedulingDisabled"
    kubectl("uncordon", node)
    drained = kubectl("drain", node, "--ignore-daemonsets", "--delete-emptydir-data", "--force", "--timeout=30s")
    assert f"node/{node} drained" in drained.stdout
    remaining = _rows(kubectl("get", "pods", "-A", "--field-selector", f"spec.nodeName={node}").stdout)
    assert all(r[1].startswith("kube-proxy-") for r in remaining)
    kubectl("uncordon", node)


def test_manager_follows_logs_and_execs(kubectl: Kubectl, kubectl_popen: Popen, world: World) -> None:
    kubectl("run", "talker", "--image=busybox:1.36", "-n", "default")
    cluster = world.sim.cluster()
    cluster.append_log("default", "talker", "talker", "first line")
    proc = kubectl_popen("logs", "-f", "talker", "-n", "default")
    read_until(proc, lambda line: "first line" in line)
    cluster.append_log("default", "talker", "talker", "second line")
    read_until(proc, lambda line: "second line" in line)
    assert kubectl("exec", "talker", "-n", "default", "--", "echo", "hi").stdout == "hi\n"
    failed = kubectl("exec", "talker", "-n", "default", "--", "sh", "-c", "echo out; exit 3", check=False)
    assert failed.returncode == 3 and failed.stdout == "out\n"
    piped = kubectl("exec", "-i", "talker", "-n", "default", "--", "cat", stdin="from stdin\n")
    assert piped.stdout == "from stdin\n"


def test_auth_can_i_answers_with_the_users_rights(kubectl: Kubectl) -> None:
    assert kubectl("auth", "can-i", "*", "*", "-A").stdout.strip() == "yes"
    assert kubectl("auth", "can-i", "list", "pods", "-A", user="vera").stdout.strip() == "yes"
    no = kubectl("auth", "can-i", "patch", "nodes", user="vera", check=False)
    assert no.returncode == 1 and no.stdout.strip() == "no"
    assert kubectl("auth", "can-i", "create", "deployments", "-n", "default", user="dave").stdout.strip() == "yes"


def test_viewer_reads_but_cordon_is_refused_readably(kubectl: Kubectl) -> None:
    assert _rows(kubectl("get", "pods", "-n", "kube-system", user="vera").stdout)
    out = kubectl("cordon", "kubesim-worker-1", user="vera", check=False)  # kubectl cordon exits 0 anyway
    assert 'unable to cordon node "kubesim-worker-1"' in out.stderr
    assert ('shoal: user "vera" (viewer of project alpha) may not patch nodes on cluster' in out.stderr
            and "cluster_manage" in out.stderr), out.stderr
    assert _rows(kubectl("get", "node", "kubesim-worker-1").stdout)[0][1] == "Ready"
    # exec needs cluster_use: a viewer is refused before anything reaches the cluster
    kubectl("run", "quiet", "--image=busybox:1.36", "-n", "default")
    refused = kubectl("exec", "quiet", "-n", "default", "--", "echo", "hi", user="vera", check=False)
    assert refused.returncode != 0 and "cluster_use" in refused.stderr, refused.stderr


def test_viewer_has_the_real_view_plus_shoals_cluster_reads(kubectl: Kubectl, world: World) -> None:
    """kubesim's ``view`` is the upstream one (bootstrappolicy/policy.go: no Secrets, no Nodes), so a viewer
    reads nodes only through Shoal's own ``shoal:cluster-reader`` binding (shoal.kube.access, issue 15)."""
    assert _rows(kubectl("get", "nodes", user="vera").stdout)
    assert _rows(kubectl("get", "storageclasses", user="vera").stdout)
    secrets = kubectl("get", "secrets", "-n", "default", user="vera", check=False)
    assert secrets.returncode != 0 and "secrets is forbidden" in secrets.stderr, secrets.stderr  # Shoal refuses first
    cluster = world.sim.cluster()
    cluster.delete("clusterrolebindings", "shoal:cluster-reader", group="rbac.authorization.k8s.io")
    try:  # bound to view alone, as on a real cluster nobody prepared: no nodes
        nodes = kubectl("get", "nodes", user="vera", check=False)
        assert nodes.returncode != 0 and 'cannot list resource "nodes"' in nodes.stderr, nodes.stderr
        assert _rows(kubectl("get", "pods", "-n", "kube-system", user="vera").stdout)
    finally:
        grant_shoal_groups(world.sim)
    assert _rows(kubectl("get", "nodes", user="vera").stdout)


def test_developer_writes_in_namespaces_but_not_cluster_wide(kubectl: Kubectl) -> None:
    kubectl("create", "configmap", "dev-config", "-n", "default", "--from-literal=a=b", user="dave")
    out = kubectl("create", "namespace", "dev-space", user="dave", check=False)
    assert out.returncode != 0 and "cluster_manage" in out.stderr, out.stderr


def test_other_project_is_refused_everything(kubectl: Kubectl) -> None:
    for args in (("get", "nodes"), ("get", "pods", "-A"), ("auth", "can-i", "get", "pods"), ("version",),
                 ("cordon", "kubesim-worker-1")):
        out = kubectl(*args, user="eve", check=False)
        assert out.returncode != 0, args
        assert "has no role in project alpha" in out.stderr or "Forbidden" in out.stderr, (args, out.stderr)


def test_cli_kubeconfig_works_until_revoked(kubectl: Kubectl, world: World, tmp_path: Path) -> None:
    env = {**os.environ, "SHOAL_URL": world.shoal.url, "SHOAL_TOKEN": world.tokens["dave"],
           "SSL_CERT_FILE": world.shoal.ca, "SHOAL_CONFIG": str(tmp_path / "none.json"), "SHOAL_LANG": "en"}
    path = tmp_path / "dave.kubeconfig"
    made = subprocess.run([SHOAL, "kubeconfig", world.cluster_id, "--expires", "1h", "-o", str(path)], env=env,
                          capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    assert path.stat().st_mode & 0o777 == 0o600
    token_id = re.search(r"kubeconfig-revoke (\d+)", made.stdout)
    assert token_id is not None, made.stdout
    assert _rows(kubectl("get", "nodes", kubeconfig=str(path), user="dave").stdout)
    revoked = subprocess.run([SHOAL, "kubeconfig-revoke", token_id.group(1)], env=env, capture_output=True,
                             text=True, timeout=60)
    assert revoked.returncode == 0, revoked.stderr
    out = kubectl("get", "nodes", kubeconfig=str(path), user="dave", check=False)
    assert out.returncode != 0
    assert "Unauthorized" in out.stderr or "logged in" in out.stderr, out.stderr


def test_requests_are_audited_without_secrets(kubectl: Kubectl, world: World) -> None:
    kubectl("cordon", "kubesim-worker-1", user="vera", check=False)
    kubectl("label", "node", "kubesim-worker-1", "audited=yes")
    deadline = time.monotonic() + 10
    with world.api() as admin:
        while True:
            entries = admin.get("/api/v1/audit", params={"action": "gateway.", "limit": 200}).json()["items"]
            denied = [e for e in entries if e["username"] == "vera" and e["outcome"] == "denied"]
            patched = [e for e in entries if e["username"] == "mona" and e["action"] == "gateway.patch"
                       and e["detail"].get("name") == "kubesim-worker-1"]
            if (denied and patched) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert denied and denied[0]["target_id"] == world.cluster_id, entries
    entry = patched[0]
    assert entry["project_code"] == "alpha" and entry["detail"]["status"] == 200
    assert entry["detail"]["path"] == "/clusters/" + world.cluster_id + "/api/v1/nodes/kubesim-worker-1"
    assert entry["detail"]["duration_ms"] >= 0
    text = json.dumps(entries)
    assert "shoal_" not in text and "Bearer" not in text
    assert world.sim.cluster().get("nodes", "kubesim-worker-1")["metadata"]["labels"]["audited"] == "yes"


def test_kubeconfig_embeds_the_gateway_and_its_ca(world: World) -> None:
    doc = yaml.safe_load(Path(world.kubeconfigs["mona"]).read_text())
    cluster = doc["clusters"][0]["cluster"]
    assert cluster["server"] == f"{world.shoal.url}/clusters/{world.cluster_id}"
    assert cluster["certificate-authority-data"]
    assert doc["users"][0]["user"]["token"].startswith("shoal_")


def test_port_forward_websocket_is_relayed(world: World) -> None:
    """The websocket form of port-forward (``v4.channel.k8s.io``) passes through with the cluster's subprotocol."""
    import asyncio
    import ssl

    from websockets.asyncio.client import connect

    cluster = world.sim.cluster()
    cluster.create("pods", {"metadata": {"name": "web-pf"}, "spec": {"containers": [
        {"name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 8080}]}]}}, "default")
    token = yaml.safe_load(Path(world.kubeconfigs["dave"]).read_text())["users"][0]["user"]["token"]
    url = (world.shoal.url.replace("https://", "wss://")
           + f"/clusters/{world.cluster_id}/api/v1/namespaces/default/pods/web-pf/portforward?ports=8080")

    async def forward() -> bytes:
        context = ssl.create_default_context(cafile=world.shoal.ca)
        async with connect(url, ssl=context, subprotocols=["v4.channel.k8s.io"],  # type: ignore[list-item]
                           additional_headers={"Authorization": f"Bearer {token}"}) as socket:
            assert socket.subprotocol == "v4.channel.k8s.io"
            opened = {(await socket.recv())[0] for _ in range(2)}
            assert opened == {0, 1}
            await socket.send(b"\x00GET / HTTP/1.1\r\nHost: web\r\n\r\n")
            reply = b""
            while b"port 8080" not in reply:
                frame = await asyncio.wait_for(socket.recv(), 10)
                assert isinstance(frame, bytes) and frame[0] == 0
                reply += frame[1:]
            return reply

    assert asyncio.run(forward()).startswith(b"HTTP/1.1 200 OK")


def _stream_pods(world: World) -> None:
    """The streaming tests' pods (tests/kubesim/streams_support.py), created once per world."""
    cluster = world.sim.cluster()
    for pod in PODS:
        if pod["metadata"]["name"] not in {p["metadata"]["name"] for p in cluster.store.list(PODS_RT)[0]}:
            cluster.create("pods", pod, "default")


@pytest.mark.parametrize("protocol", ["websocket", "spdy"])
def test_exec_attach_and_port_forward_over_both_protocols(kubectl: Kubectl, kubectl_env: dict[str, str],
                                                         world: World, protocol: str) -> None:
    """kubectl's websocket (v5.channel.k8s.io; SPDY tunnelled in a websocket for port-forward) and SPDY/3.1
    streams pass through the gateway, which relays the upgrade and becomes a byte tunnel after the cluster's
    101 (pkg/kubelet/cri/streaming/remotecommand/httpstream.go, portforward/httpstream.go on the far end)."""
    _stream_pods(world)
    kubectl_env.update(PROTOCOLS[protocol])
    failed = kubectl(VERBOSE, "exec", "stream-shell", "-n", "default", "--", "sh", "-c",
                     "echo out; echo err >&2; exit 3", check=False)
    stderr, log = split_log(failed.stderr)
    assert (failed.returncode, failed.stdout) == (3, "out\n") and stderr.startswith("err\n")
    assert_protocol_used(protocol, log)
    piped = kubectl(VERBOSE, "exec", "-i", "stream-shell", "-n", "default", "--", "sh", stdin="echo $GREETING\n")
    assert piped.stdout == "hello\n"
    assert_protocol_used(protocol, split_log(piped.stderr)[1])
    attached = kubectl(VERBOSE, "attach", "-i", "stream-cat", "-n", "default", stdin="attached\n")
    assert attached.stdout == "attached\n"
    assert_protocol_used(protocol, split_log(attached.stderr)[1])

    def start() -> subprocess.Popen[str]:
        return subprocess.Popen([KUBECTL, "--kubeconfig", world.kubeconfigs["mona"], VERBOSE, "port-forward", "-n",
                                 "default", "pod/stream-web", ":8080"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=kubectl_env)

    with port_forward(start) as (port, proc):
        assert http_through(port).endswith(b"kubesim: pod stream-web port 8080\n")
        assert echo_through(port, b"through the gateway") == b"through the gateway"
        proc.terminate()
        log = split_log(proc.communicate(timeout=10)[1])[1]
    assert_protocol_used(protocol, log)
    assert ('"Negotiation complete" protocol="portforward.k8s.io"' in log) == (protocol == "websocket"), log
