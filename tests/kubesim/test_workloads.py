"""The simulated control plane: jobs, statefulsets, endpoints, node health, start delay."""

from __future__ import annotations

import json
import time

from kubesim.runner import Simulator
from tests.kubesim.conftest import Kubectl

STS = """\
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: default}
spec:
  replicas: 3
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: db, image: postgres:17, ports: [{containerPort: 5432, name: pg}]}]
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: default}
spec:
  selector: {app: db}
  ports: [{name: pg, port: 5432, targetPort: 5432}]
"""


def test_job_runs_to_completion_with_logs(kubectl: Kubectl) -> None:
    kubectl("create", "job", "hello", "--image=busybox:1.36", "--", "sh", "-c", "echo hello from job; exit 0")
    kubectl("wait", "--for=condition=complete", "job/hello", "--timeout=10s")
    assert kubectl("logs", "job/hello").stdout.splitlines()[-1] == "hello from job"
    rows = kubectl("get", "pods", "-l", "job-name=hello").stdout.splitlines()[1:]
    assert len(rows) == 1 and rows[0].split()[2] == "Completed"
    job = json.loads(kubectl("get", "job", "hello", "-o", "json").stdout)
    assert job["status"]["succeeded"] == 1 and job["status"]["completionTime"]


def test_run_restart_never_reports_exit_code(kubectl: Kubectl) -> None:
    kubectl("run", "once", "--image=busybox:1.36", "--restart=Never", "--", "sh", "-c", "echo bye; exit 2")
    pod = json.loads(kubectl("get", "pod", "once", "-o", "json").stdout)
    assert pod["status"]["phase"] == "Failed"
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 2
    assert kubectl("logs", "once").stdout.splitlines()[-1] == "bye"


def test_statefulset_and_endpoints(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", stdin=STS)
    names = kubectl("get", "pods", "-l", "app=db", "-o", "jsonpath={.items[*].metadata.name}").stdout.split()
    assert names == ["db-0", "db-1", "db-2"]
    sts = kubectl("get", "statefulset", "db").stdout.splitlines()[1].split()
    assert sts[1] == "3/3"
    ep = json.loads(kubectl("get", "endpoints", "db", "-o", "json").stdout)
    assert len(ep["subsets"][0]["addresses"]) == 3 and ep["subsets"][0]["ports"][0]["port"] == 5432
    described = kubectl("describe", "service", "db").stdout
    assert "5432/TCP" in described
    kubectl("scale", "statefulset", "db", "--replicas=1")
    names = kubectl("get", "pods", "-l", "app=db", "-o", "jsonpath={.items[*].metadata.name}").stdout.split()
    assert names == ["db-0"]


def test_rollout_status_restart_and_history(kubectl: Kubectl) -> None:
    kubectl("create", "deployment", "api", "--image=api:1", "--replicas=2")
    assert "successfully rolled out" in kubectl("rollout", "status", "deployment/api", "--timeout=10s").stdout
    kubectl("set", "image", "deployment/api", "api=api:2")
    kubectl("rollout", "status", "deployment/api", "--timeout=10s")
    images = kubectl("get", "pods", "-l", "app=api", "-o", "jsonpath={.items[*].spec.containers[0].image}").stdout
    assert images.split() == ["api:2", "api:2"]
    history = kubectl("rollout", "history", "deployment/api").stdout
    assert "1 " in history and "2 " in history
    kubectl("rollout", "undo", "deployment/api")
    kubectl("rollout", "status", "deployment/api", "--timeout=10s")
    images = kubectl("get", "pods", "-l", "app=api", "-o", "jsonpath={.items[*].spec.containers[0].image}").stdout
    assert images.split() == ["api:1", "api:1"]


def test_node_not_ready_and_leases(kubectl: Kubectl, sim: Simulator) -> None:
    cluster = sim.cluster()
    leases = kubectl("get", "leases", "-n", "kube-node-lease", "-o", "name").stdout.split()
    assert len(leases) == 3
    cluster.set_node_ready("kubesim-worker-2", False)
    row = kubectl("get", "node", "kubesim-worker-2").stdout.splitlines()[1].split()
    assert row[1] == "NotReady"
    kubectl("create", "deployment", "spread", "--image=x:1", "--replicas=4")
    nodes = set(kubectl("get", "pods", "-l", "app=spread", "-o",
                        "jsonpath={.items[*].spec.nodeName}").stdout.split())
    assert nodes == {"kubesim-worker-1"}
    before = kubectl("get", "lease", "kubesim-worker-1", "-n", "kube-node-lease", "-o",
                     "jsonpath={.spec.renewTime}").stdout
    time.sleep(0.01)
    cluster.heartbeat()
    after = kubectl("get", "lease", "kubesim-worker-1", "-n", "kube-node-lease", "-o",
                    "jsonpath={.spec.renewTime}").stdout
    assert after > before
    cluster.set_node_ready("kubesim-worker-2", True)
    assert kubectl("get", "node", "kubesim-worker-2", "-o", "jsonpath={.spec.taints}").stdout == ""


def test_start_delay_shows_container_creating(kubectl: Kubectl, sim: Simulator) -> None:
    # long enough that the get below sees the pod starting even on a loaded machine
    sim.cluster().set_start_delay(4)
    kubectl("run", "slow", "--image=busybox:1.36")
    row = kubectl("get", "pod", "slow").stdout.splitlines()[1].split()
    assert row[1:3] == ["0/1", "ContainerCreating"]
    waiting = kubectl("logs", "slow", check=False)
    assert 'container "slow" in pod "slow" is waiting to start: ContainerCreating' in waiting.stderr
    kubectl("wait", "--for=condition=Ready", "pod/slow", "--timeout=30s")
    assert kubectl("get", "pod", "slow").stdout.splitlines()[1].split()[2] == "Running"


def test_statefulset_volume_claims_are_provisioned(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", stdin="""\
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: kv, namespace: default}
spec:
  replicas: 2
  serviceName: kv
  selector: {matchLabels: {app: kv}}
  template:
    metadata: {labels: {app: kv}}
    spec: {containers: [{name: kv, image: etcd:3.6, volumeMounts: [{name: data, mountPath: /data}]}]}
  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 2Gi}}}
""")
    pvcs = [line.split() for line in kubectl("get", "pvc").stdout.splitlines()[1:]]
    assert [(r[0], r[1], r[3], r[4], r[5]) for r in pvcs] == [
        ("data-kv-0", "Bound", "2Gi", "RWO", "standard"), ("data-kv-1", "Bound", "2Gi", "RWO", "standard")]
    pvs = kubectl("get", "pv", "-o", "jsonpath={.items[*].spec.claimRef.name}").stdout.split()
    assert sorted(pvs) == ["data-kv-0", "data-kv-1"]
    volume = kubectl("get", "pod", "kv-0", "-o", "jsonpath={.spec.volumes[0].persistentVolumeClaim.claimName}")
    assert volume.stdout == "data-kv-0"
    assert "standard (default)" in kubectl("get", "storageclass").stdout
    kubectl("delete", "pvc", "data-kv-1")
    assert kubectl("get", "pv", "-o", "jsonpath={.items[*].spec.claimRef.name}").stdout.split() == ["data-kv-0"]


def test_graceful_pod_termination(kubectl: Kubectl, sim: Simulator) -> None:
    sim.cluster().set_termination_delay(3)
    kubectl("create", "deployment", "slowstop", "--image=x:1", "--replicas=1")
    old = kubectl("get", "pods", "-l", "app=slowstop", "-o", "jsonpath={.items[0].metadata.name}").stdout
    kubectl("delete", "pod", old, "--wait=false")
    rows = {r.split()[0]: r.split()[2] for r in kubectl("get", "pods", "-l", "app=slowstop").stdout.splitlines()[1:]}
    assert rows[old] == "Terminating" and sorted(rows.values()) == ["Running", "Terminating"]
    kubectl("wait", "--for=delete", f"pod/{old}", "--timeout=30s")
    assert len(kubectl("get", "pods", "-l", "app=slowstop", "-o", "name").stdout.split()) == 1
