"""The simulated control plane: scheduler, kubelet and workload controllers.

Registered as a store hook, it reacts synchronously to every change, so a test
that creates a Deployment sees its ReplicaSet and Running pods as soon as the
create returns: Deployments → ReplicaSets → Pods, DaemonSets → one pod per eligible
node, a scheduler that honours ``unschedulable``, taints and ``nodeSelector``, a
"kubelet" that marks pods Running with realistic status, and events for all that.
No-op updates do not bump resourceVersions, which is what ends the reconcile loops.
"""

from __future__ import annotations

import copy
import hashlib
import json
import uuid
from typing import TYPE_CHECKING, Any

from kubesim.resources import by_plural
from kubesim.selectors import selector_from_spec
from kubesim.store import Store, WatchEvent, now_iso

if TYPE_CHECKING:
    from kubesim.logs import LogBook

JSON = dict[str, Any]

__all__ = ["Simulation", "defaults_pod", "defaults_pod_admission", "desired_healthy", "pod_is_ready"]

PODS = by_plural("pods")
NODES = by_plural("nodes")
EVENTS = by_plural("events")
DEPLOYMENTS = by_plural("deployments", "apps")
REPLICASETS = by_plural("replicasets", "apps")
DAEMONSETS = by_plural("daemonsets", "apps")
PDBS = by_plural("poddisruptionbudgets", "policy")


def pod_is_ready(pod: JSON) -> bool:
    for c in pod.get("status", {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return bool(c.get("status") == "True")
    return False


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


def _controller_of(obj: JSON) -> JSON | None:
    for ref in obj.get("metadata", {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return dict(ref)
    return None


def _owner_ref(owner: JSON) -> JSON:
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


def node_is_ready(node: JSON) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in node.get("status", {}).get("conditions") or [])


def _fits(pod: JSON, node: JSON, *, daemon: bool = False) -> bool:
    spec = node.get("spec", {})
    if spec.get("unschedulable") and not daemon:
        return False
    if not all(_tolerates(pod, t) for t in spec.get("taints") or []):
        return False
    labels = node.get("metadata", {}).get("labels") or {}
    selector = pod.get("spec", {}).get("nodeSelector") or {}
    return all(labels.get(k) == v for k, v in selector.items())


class Simulation:
    """Reconciles workloads and pod status of one virtual cluster after every change."""

    def __init__(self, store: Store, logs: LogBook, cluster_name: str) -> None:
        self.store = store
        self.logs = logs
        self.cluster_name = cluster_name
        self.enabled = True
        store.hooks.append(self.on_change)

    # --- dispatch --------------------------------------------------------------
    def on_change(self, ev: WatchEvent) -> None:
        if not self.enabled:
            return
        meta = ev.obj.get("metadata", {})
        ns, name = meta.get("namespace", ""), meta.get("name", "")
        if ev.key in (PODS.key, PDBS.key):
            self.reconcile_pdbs(ns)
        if ev.key == PODS.key:
            if ev.type == "ADDED":
                self._start_pod(ns, name)
            elif ev.type == "DELETED":
                self._on_pod_deleted(ev.obj)
        elif ev.key == DEPLOYMENTS.key and ev.type != "DELETED":
            self.reconcile_deployment(ns, name)
        elif ev.key == DEPLOYMENTS.key:
            self._delete_owned(REPLICASETS, ns, meta.get("uid", ""))
        elif ev.key == REPLICASETS.key and ev.type != "DELETED":
            self.reconcile_replicaset(ns, name)
            self._reconcile_owner_deployment(ev.obj)
        elif ev.key in (REPLICASETS.key, DAEMONSETS.key) and ev.type == "DELETED":
            self._delete_owned(PODS, ns, meta.get("uid", ""))
        elif ev.key == DAEMONSETS.key:
            self.reconcile_daemonset(ns, name)
        elif ev.key == NODES.key:
            self._on_node_change(ev)

    def _on_node_change(self, ev: WatchEvent) -> None:
        if ev.type == "DELETED":
            name = ev.obj["metadata"]["name"]
            pods, _ = self.store.list(PODS, None, lambda p: p.get("spec", {}).get("nodeName") == name)
            for p in pods:
                self.store.delete(PODS, p["metadata"]["namespace"], p["metadata"]["name"])
        if ev.type in ("ADDED", "DELETED") or ev.type == "MODIFIED":
            for ds in self.store.list(DAEMONSETS)[0]:
                self.reconcile_daemonset(ds["metadata"]["namespace"], ds["metadata"]["name"])
            if ev.type != "DELETED" and not ev.obj.get("spec", {}).get("unschedulable"):
                self._schedule_pending()

    # --- events ----------------------------------------------------------------
    def emit_event(self, obj: JSON, reason: str, message: str, *, kind: str = "Normal",
                   component: str = "kubelet") -> None:
        meta = obj["metadata"]
        ns = meta.get("namespace") or "default"
        now = now_iso()
        self.store.create(EVENTS, {
            "metadata": {"name": f"{meta['name']}.{uuid.uuid4().hex[:16]}", "namespace": ns},
            "involvedObject": {
                "kind": obj["kind"], "namespace": meta.get("namespace", ""), "name": meta["name"],
                "uid": meta.get("uid", ""), "apiVersion": obj["apiVersion"],
                "resourceVersion": meta.get("resourceVersion", ""),
            },
            "reason": reason, "message": message, "type": kind, "count": 1,
            "source": {"component": component}, "firstTimestamp": now, "lastTimestamp": now,
            "reportingComponent": component, "reportingInstance": "",
        }, ns)

    # --- pods ------------------------------------------------------------------
    def _start_pod(self, ns: str, name: str) -> None:
        pod = self.store.try_get(PODS, ns, name)
        if pod is None:
            return
        node_name = pod.get("spec", {}).get("nodeName")
        if not node_name:
            node_name = self._pick_node(pod)
            if node_name is None:
                self._mark_unschedulable(pod)
                return
        self.bind(ns, name, node_name)

    def _pick_node(self, pod: JSON) -> str | None:
        nodes = [n for n in self.store.list(NODES)[0] if node_is_ready(n) and _fits(pod, n)]
        if not nodes:
            return None
        load: dict[str, int] = {n["metadata"]["name"]: 0 for n in nodes}
        for p in self.store.list(PODS)[0]:
            nn = p.get("spec", {}).get("nodeName")
            if nn in load:
                load[nn] += 1
        return min(load, key=lambda n: (load[n], n))

    def _mark_unschedulable(self, pod: JSON) -> None:
        def change(p: JSON) -> None:
            p["status"] = {"phase": "Pending", "qosClass": "BestEffort", "conditions": [{
                "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                "message": "0/N nodes are available: no node fits the pod.",
                "lastProbeTime": None, "lastTransitionTime": now_iso(),
            }]}
        self.store.mutate(PODS, pod["metadata"]["namespace"], pod["metadata"]["name"], change)

    def _schedule_pending(self) -> None:
        pending, _ = self.store.list(PODS, None, lambda p: not p.get("spec", {}).get("nodeName"))
        for p in pending:
            self._start_pod(p["metadata"]["namespace"], p["metadata"]["name"])

    def bind(self, ns: str, name: str, node_name: str) -> None:
        """Put a pod on a node and make it Running, as scheduler and kubelet would."""
        node = self.store.try_get(NODES, "", node_name)
        host_ip = "10.0.0.1"
        node_index = 0
        if node is not None:
            host_ip = next((a["address"] for a in node["status"].get("addresses", [])
                            if a.get("type") == "InternalIP"), host_ip)
            node_index = int(node["spec"].get("podCIDR", "10.244.0.0/24").split(".")[2])
        now = now_iso()
        digest = hashlib.sha256(f"{ns}/{name}".encode()).digest()
        pod_ip = f"10.244.{node_index}.{2 + digest[0] % 250}"

        def change(p: JSON) -> None:
            spec = p.setdefault("spec", {})
            spec["nodeName"] = node_name
            statuses = []
            for c in spec.get("containers") or []:
                image = c.get("image", "")
                statuses.append({
                    "name": c.get("name", ""), "image": image,
                    "imageID": f"{image.split(':')[0]}@sha256:{hashlib.sha256(image.encode()).hexdigest()}",
                    "containerID": f"containerd://{hashlib.sha256((name + c.get('name', '')).encode()).hexdigest()}",
                    "ready": True, "restartCount": 0, "started": True,
                    "state": {"running": {"startedAt": now}}, "lastState": {},
                })
            conditions = [
                {"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": now}
                for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")
            ]
            p["status"] = {
                "phase": "Running", "conditions": conditions, "hostIP": host_ip, "hostIPs": [{"ip": host_ip}],
                "podIP": pod_ip, "podIPs": [{"ip": pod_ip}], "startTime": now, "qosClass": "BestEffort",
                "containerStatuses": statuses,
            }

        pod = self.store.mutate(PODS, ns, name, change)
        self.emit_event(pod, "Scheduled", f"Successfully assigned {ns}/{name} to {node_name}",
                        component="default-scheduler")
        for c in pod["spec"].get("containers") or []:
            self.emit_event(pod, "Started", f"Started container {c.get('name', '')}")
            self.logs.start_container(ns, name, c.get("name", ""), c.get("image", ""), node_name)

    def _on_pod_deleted(self, pod: JSON) -> None:
        meta = pod["metadata"]
        self.logs.close_pod(meta["namespace"], meta["name"])
        owner = _controller_of(pod)
        if owner and owner.get("kind") == "ReplicaSet":
            self.reconcile_replicaset(meta["namespace"], owner["name"])
        elif owner and owner.get("kind") == "DaemonSet":
            self.reconcile_daemonset(meta["namespace"], owner["name"])

    def _delete_owned(self, rt: Any, ns: str, owner_uid: str) -> None:
        owned, _ = self.store.list(rt, ns, lambda o: any(
            r.get("uid") == owner_uid for r in o.get("metadata", {}).get("ownerReferences") or []))
        for o in owned:
            if self.store.try_get(rt, ns, o["metadata"]["name"]) is not None:
                self.store.delete(rt, ns, o["metadata"]["name"])

    def _owned_pods(self, owner: JSON) -> list[JSON]:
        uid = owner["metadata"]["uid"]
        pods, _ = self.store.list(PODS, owner["metadata"]["namespace"], lambda p: (
            (_controller_of(p) or {}).get("uid") == uid))
        return pods

    def _new_pod(self, owner: JSON, template: JSON, name: str, extra_labels: dict[str, str]) -> JSON:
        pod: JSON = {"metadata": copy.deepcopy(template.get("metadata") or {}),
                     "spec": copy.deepcopy(template.get("spec") or {})}
        pod["metadata"]["name"] = name
        pod["metadata"].setdefault("labels", {}).update(extra_labels)
        pod["metadata"]["ownerReferences"] = [_owner_ref(owner)]
        return pod

    # --- replicasets -------------------------------------------------------------
    def reconcile_replicaset(self, ns: str, name: str) -> None:
        rs = self.store.try_get(REPLICASETS, ns, name)
        if rs is None:
            return
        want = int(rs.get("spec", {}).get("replicas", 1))
        pods = self._owned_pods(rs)
        template = rs.get("spec", {}).get("template") or {}
        hash_label = (rs["metadata"].get("labels") or {}).get("pod-template-hash")
        extra = {"pod-template-hash": hash_label} if hash_label else {}
        while len(pods) < want:
            pod = self._new_pod(rs, template, f"{name}-{uuid.uuid4().hex[:5]}", extra)
            pods.append(self.store.create(PODS, defaults_pod_admission(pod), ns))
        for extra_pod in sorted(pods, key=lambda p: p["metadata"]["name"])[want:]:
            self.store.delete(PODS, ns, extra_pod["metadata"]["name"])
        pods = self._owned_pods(rs)
        ready = sum(1 for p in pods if pod_is_ready(p))

        def status(r: JSON) -> None:
            r["status"] = {"replicas": len(pods), "fullyLabeledReplicas": len(pods), "readyReplicas": ready,
                           "availableReplicas": ready, "observedGeneration": r["metadata"]["generation"]}
        self.store.mutate(REPLICASETS, ns, name, status)

    # --- deployments -------------------------------------------------------------
    def reconcile_deployment(self, ns: str, name: str) -> None:
        dep = self.store.try_get(DEPLOYMENTS, ns, name)
        if dep is None:
            return
        spec = dep.get("spec", {})
        template = spec.get("template") or {}
        tpl_hash = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]
        rs_name = f"{name}-{tpl_hash}"
        want = int(spec.get("replicas", 1))
        owned, _ = self.store.list(REPLICASETS, ns, lambda r: (
            (_controller_of(r) or {}).get("uid") == dep["metadata"]["uid"]))
        current = self.store.try_get(REPLICASETS, ns, rs_name)
        if current is None:
            tpl = copy.deepcopy(template)
            tpl.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = tpl_hash
            sel = copy.deepcopy(spec.get("selector") or {})
            sel.setdefault("matchLabels", {})["pod-template-hash"] = tpl_hash
            labels = dict((template.get("metadata") or {}).get("labels") or {})
            labels["pod-template-hash"] = tpl_hash
            revision = 1 + max((int((r["metadata"].get("annotations") or {}).get(
                "deployment.kubernetes.io/revision", "0")) for r in owned), default=0)
            self.store.create(REPLICASETS, {
                "metadata": {"name": rs_name, "labels": labels, "ownerReferences": [_owner_ref(dep)],
                             "annotations": {"deployment.kubernetes.io/revision": str(revision),
                                             "deployment.kubernetes.io/desired-replicas": str(want)}},
                "spec": {"replicas": want, "selector": sel, "template": tpl},
            }, ns)
        elif int(current["spec"].get("replicas", 0)) != want:
            self.store.mutate(REPLICASETS, ns, rs_name, lambda r: r["spec"].__setitem__("replicas", want))
        for old in owned:
            if old["metadata"]["name"] != rs_name and int(old["spec"].get("replicas", 0)) != 0:
                self.store.mutate(REPLICASETS, ns, old["metadata"]["name"],
                                  lambda r: r["spec"].__setitem__("replicas", 0))
        self._deployment_status(ns, name, rs_name)

    def _reconcile_owner_deployment(self, rs: JSON) -> None:
        owner = _controller_of(rs)
        if owner and owner.get("kind") == "Deployment":
            dep = self.store.try_get(DEPLOYMENTS, rs["metadata"]["namespace"], owner["name"])
            if dep is not None:
                self._deployment_status(rs["metadata"]["namespace"], owner["name"], None)

    def _deployment_status(self, ns: str, name: str, rs_name: str | None) -> None:
        dep = self.store.try_get(DEPLOYMENTS, ns, name)
        if dep is None:
            return
        owned, _ = self.store.list(REPLICASETS, ns, lambda r: (
            (_controller_of(r) or {}).get("uid") == dep["metadata"]["uid"]))
        replicas = sum(int(r.get("status", {}).get("replicas", 0)) for r in owned)
        ready = sum(int(r.get("status", {}).get("readyReplicas", 0)) for r in owned)
        want = int(dep.get("spec", {}).get("replicas", 1))
        newest = [r for r in owned if rs_name is None or r["metadata"]["name"] == rs_name]
        updated = max((int(r.get("status", {}).get("replicas", 0)) for r in newest), default=0)
        now = now_iso()

        def status(d: JSON) -> None:
            old_conditions = {c["type"]: c for c in d.get("status", {}).get("conditions") or []}
            available = ready >= want

            def cond(ctype: str, ok: bool, reason: str, message: str) -> JSON:
                prev = old_conditions.get(ctype)
                stat = "True" if ok else "False"
                if prev and prev.get("status") == stat and prev.get("reason") == reason:
                    return dict(prev)
                return {"type": ctype, "status": stat, "reason": reason, "message": message,
                        "lastUpdateTime": now, "lastTransitionTime": now}
            d["status"] = {
                "observedGeneration": d["metadata"]["generation"], "replicas": replicas,
                "updatedReplicas": updated, "readyReplicas": ready, "availableReplicas": ready,
                "conditions": [
                    cond("Available", available, "MinimumReplicasAvailable" if available
                         else "MinimumReplicasUnavailable", "Deployment has minimum availability."),
                    cond("Progressing", True, "NewReplicaSetAvailable",
                         f'ReplicaSet "{rs_name or name}" has successfully progressed.'),
                ],
            }
            if ready < replicas:
                d["status"]["unavailableReplicas"] = replicas - ready
        self.store.mutate(DEPLOYMENTS, ns, name, status)

    # --- disruption budgets ---------------------------------------------------------
    def reconcile_pdbs(self, ns: str) -> None:
        for pdb in self.store.list(PDBS, ns)[0]:
            matches = selector_from_spec(pdb.get("spec", {}).get("selector"))
            pods = [p for p in self.store.list(PODS, ns)[0] if matches(p)]
            healthy = sum(1 for p in pods if pod_is_ready(p))
            desired = desired_healthy(pdb, len(pods))

            def status(p: JSON, healthy: int = healthy, desired: int = desired, expected: int = len(pods)) -> None:
                p["status"] = {"currentHealthy": healthy, "desiredHealthy": desired, "expectedPods": expected,
                               "disruptionsAllowed": max(0, healthy - desired),
                               "observedGeneration": p["metadata"].get("generation", 1)}
            self.store.mutate(PDBS, ns, pdb["metadata"]["name"], status)

    # --- daemonsets ----------------------------------------------------------------
    def reconcile_daemonset(self, ns: str, name: str) -> None:
        ds = self.store.try_get(DAEMONSETS, ns, name)
        if ds is None:
            return
        template = ds.get("spec", {}).get("template") or {}
        probe: JSON = {"spec": template.get("spec") or {}}
        nodes = {n["metadata"]["name"]: n for n in self.store.list(NODES)[0] if _fits(probe, n, daemon=True)}
        pods = self._owned_pods(ds)
        placed = {p["spec"].get("nodeName"): p for p in pods}
        for p in pods:
            if p["spec"].get("nodeName") not in nodes:
                self.store.delete(PODS, ns, p["metadata"]["name"])
        for node_name in nodes:
            if node_name not in placed:
                pod = self._new_pod(ds, template, f"{name}-{uuid.uuid4().hex[:5]}", {})
                pod["spec"]["nodeName"] = node_name
                self.store.create(PODS, defaults_pod_admission(pod), ns)
        pods = self._owned_pods(ds)
        ready = sum(1 for p in pods if pod_is_ready(p))

        def status(d: JSON) -> None:
            d["status"] = {"currentNumberScheduled": len(pods), "desiredNumberScheduled": len(nodes),
                           "numberMisscheduled": 0, "numberReady": ready, "numberAvailable": ready,
                           "updatedNumberScheduled": len(pods), "observedGeneration": d["metadata"]["generation"]}
        self.store.mutate(DAEMONSETS, ns, name, status)


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
