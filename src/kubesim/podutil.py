"""Small facts about pods, nodes and owners shared by the simulated controllers and the API.

Who owns an object, whether a pod is ready, whether it tolerates a node's taints,
and the pod defaults the API server and admission add — kept apart from the
controllers so the API layer can use them without importing the simulation.
"""

from __future__ import annotations

from typing import Any

from kubesim.resources import by_plural

JSON = dict[str, Any]

__all__ = [
    "DAEMONSETS",
    "DEPLOYMENTS",
    "ENDPOINTS",
    "ENDPOINT_SLICES",
    "EVENTS",
    "JOBS",
    "LEASES",
    "NODES",
    "PDBS",
    "PODS",
    "PVCS",
    "PVS",
    "REPLICASETS",
    "REPLICATION_CONTROLLERS",
    "SERVICES",
    "STATEFULSETS",
    "controller_of",
    "defaults_pod",
    "defaults_pod_admission",
    "desired_healthy",
    "fits",
    "node_is_ready",
    "owner_ref",
    "pod_is_ready",
]

PODS = by_plural("pods")
NODES = by_plural("nodes")
EVENTS = by_plural("events")
SERVICES = by_plural("services")
ENDPOINTS = by_plural("endpoints")
ENDPOINT_SLICES = by_plural("endpointslices", "discovery.k8s.io")
LEASES = by_plural("leases", "coordination.k8s.io")
PVCS = by_plural("persistentvolumeclaims")
PVS = by_plural("persistentvolumes")
DEPLOYMENTS = by_plural("deployments", "apps")
REPLICASETS = by_plural("replicasets", "apps")
REPLICATION_CONTROLLERS = by_plural("replicationcontrollers")
DAEMONSETS = by_plural("daemonsets", "apps")
STATEFULSETS = by_plural("statefulsets", "apps")
JOBS = by_plural("jobs", "batch")
PDBS = by_plural("poddisruptionbudgets", "policy")


def pod_is_ready(pod: JSON) -> bool:
    for c in pod.get("status", {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return bool(c.get("status") == "True")
    return False


def node_is_ready(node: JSON) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in node.get("status", {}).get("conditions") or [])


def controller_of(obj: JSON) -> JSON | None:
    """The ownerReference with ``controller: true``, if any."""
    for ref in obj.get("metadata", {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return dict(ref)
    return None


def owner_ref(owner: JSON) -> JSON:
    return {
        "apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True,
    }


def _tolerates(pod: JSON, taint: JSON) -> bool:
    if taint.get("effect") not in ("NoSchedule", "NoExecute"):
        return True
    for t in pod.get("spec", {}).get("tolerations") or []:
        if t.get("operator") == "Exists" and not t.get("key"):
            return True
        if t.get("key") == taint.get("key") and t.get("effect") in (None, "", taint.get("effect")) and (
            t.get("operator") == "Exists" or t.get("value", "") == taint.get("value", "")
        ):
            return True
    return False


def fits(pod: JSON, node: JSON, *, daemon: bool = False) -> bool:
    """Whether the scheduler may put ``pod`` on ``node`` (DaemonSets ignore ``unschedulable``)."""
    spec = node.get("spec", {})
    if spec.get("unschedulable") and not daemon:
        return False
    if not all(_tolerates(pod, t) for t in spec.get("taints") or []):
        return False
    labels = node.get("metadata", {}).get("labels") or {}
    selector = pod.get("spec", {}).get("nodeSelector") or {}
    return all(labels.get(k) == v for k, v in selector.items())


def desired_healthy(pdb: JSON, expected: int) -> int:
    """How many matching pods a PodDisruptionBudget wants healthy (percentages round up)."""
    spec = pdb.get("spec", {})

    def amount(v: Any) -> int:
        if isinstance(v, str) and v.endswith("%"):
            return -(-int(v[:-1]) * expected // 100)
        return int(v)
    if "minAvailable" in spec:
        return amount(spec["minAvailable"])
    if "maxUnavailable" in spec:
        return max(0, expected - amount(spec["maxUnavailable"]))
    return 0


def defaults_pod(pod: JSON) -> JSON:
    """Fill the defaults the API server adds to a pod spec (the strict clients expect them)."""
    spec = pod.setdefault("spec", {})
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("serviceAccountName", spec.get("serviceAccount", "default"))
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    spec.setdefault("securityContext", {})
    spec.setdefault("enableServiceLinks", True)
    for c in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
        image = c.get("image", "")
        c.setdefault("imagePullPolicy", "Always" if image.endswith(":latest") or ":" not in image
                     else "IfNotPresent")
        c.setdefault("terminationMessagePath", "/dev/termination-log")
        c.setdefault("terminationMessagePolicy", "File")
        c.setdefault("resources", {})
        for port in c.get("ports") or []:
            port.setdefault("protocol", "TCP")
    return pod


def defaults_pod_admission(pod: JSON) -> JSON:
    """What admission adds to real pods only (not templates): priority, default tolerations."""
    spec = defaults_pod(pod)["spec"]
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    spec.setdefault("priority", 0)
    tolerations = spec.setdefault("tolerations", [])
    for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
        if not any(t.get("key") == key for t in tolerations):
            tolerations.append({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300})
    return pod
