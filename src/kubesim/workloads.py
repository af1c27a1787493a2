"""Workload controllers: ReplicaSets, Deployments, DaemonSets, StatefulSets, Jobs, PDBs, Endpoints.

Each ``reconcile_*`` brings the pods of one owner to the wanted count and writes
the owner's status the way its upstream controller does (the fields ``kubectl
rollout status``, ``kubectl wait`` and ``kubectl get`` read). They are idempotent:
a reconcile that changes nothing writes nothing, since no-op updates keep the
resourceVersion and emit no event — that is what ends the chains of reactions.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import uuid
from collections.abc import Callable
from typing import Any

from kubesim.kubelet import ControllerBase
from kubesim.podutil import (
    DAEMONSETS,
    DEPLOYMENTS,
    ENDPOINT_SLICES,
    ENDPOINTS,
    JOBS,
    NODES,
    PDBS,
    PODS,
    PVCS,
    PVS,
    REPLICASETS,
    REPLICATION_CONTROLLERS,
    SERVICES,
    STATEFULSETS,
    controller_of,
    defaults_pod_admission,
    desired_healthy,
    fits,
    owner_ref,
    pod_is_ready,
)
from kubesim.resources import ResourceType
from kubesim.selectors import selector_from_spec
from kubesim.store import now_iso

JSON = dict[str, Any]

__all__ = ["WorkloadsMixin"]

_DONE = ("Succeeded", "Failed")


Reconcile = Callable[[Any, str, str], None]


def guarded(method: Reconcile) -> Reconcile:
    """Make a reconcile non-reentrant per object.

    Creating a pod fires the pod hook, which asks the owner to reconcile again while
    the first pass is still creating; the nested call only marks the owner dirty and
    the outer pass repeats once it is done (bounded, as a safety net).
    """
    @functools.wraps(method)
    def wrapper(self: Any, ns: str, name: str) -> None:
        key = (method.__name__, ns, name)
        running: set[tuple[str, str, str]] = self.__dict__.setdefault("_running", set())
        dirty: set[tuple[str, str, str]] = self.__dict__.setdefault("_dirty", set())
        if key in running:
            dirty.add(key)
            return
        running.add(key)
        try:
            for _ in range(10):
                dirty.discard(key)
                method(self, ns, name)
                if key not in dirty:
                    break
        finally:
            running.discard(key)
            dirty.discard(key)
    return wrapper


def _active(pod: JSON) -> bool:
    """Counted by its controller: neither finished nor terminating."""
    return pod.get("status", {}).get("phase") not in _DONE and not pod["metadata"].get("deletionTimestamp")


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:10]


class WorkloadsMixin(ControllerBase):
    """Owners of pods and the objects derived from pods."""

    # --- shared ----------------------------------------------------------------------
    def owned(self, rt: ResourceType, owner: JSON) -> list[JSON]:
        uid = owner["metadata"]["uid"]
        items, _ = self.store.list(rt, owner["metadata"].get("namespace") or None,
                                   lambda o: (controller_of(o) or {}).get("uid") == uid)
        return items

    def delete_owned(self, rt: ResourceType, ns: str, owner_uid: str) -> None:
        owned, _ = self.store.list(rt, ns, lambda o: any(
            r.get("uid") == owner_uid for r in o.get("metadata", {}).get("ownerReferences") or []))
        for o in owned:
            if self.store.try_get(rt, ns, o["metadata"]["name"]) is not None:
                self.store.delete(rt, ns, o["metadata"]["name"])

    def _create_pod(self, owner: JSON, template: JSON, name: str, labels: dict[str, str],
                    node: str | None = None) -> JSON:
        pod: JSON = {"metadata": copy.deepcopy(template.get("metadata") or {}),
                     "spec": copy.deepcopy(template.get("spec") or {})}
        pod["metadata"]["name"] = name
        pod["metadata"].setdefault("labels", {}).update(labels)
        pod["metadata"]["ownerReferences"] = [owner_ref(owner)]
        if node:
            pod["spec"]["nodeName"] = node
        return self.store.create(PODS, defaults_pod_admission(pod), owner["metadata"]["namespace"])

    def reconcile_owner_of(self, pod: JSON) -> None:
        """A pod changed: let its controller recount."""
        owner = controller_of(pod)
        if owner is None:
            return
        ns = pod["metadata"]["namespace"]
        kind = owner.get("kind")
        if kind == "ReplicaSet":
            self.reconcile_replicaset(ns, owner["name"])
        elif kind == "ReplicationController":
            self.reconcile_replication_controller(ns, owner["name"])
        elif kind == "DaemonSet":
            self.reconcile_daemonset(ns, owner["name"])
        elif kind == "StatefulSet":
            self.reconcile_statefulset(ns, owner["name"])
        elif kind == "Job":
            self.reconcile_job(ns, owner["name"])

    # --- replicasets and deployments ------------------------------------------------------
    @guarded
    def reconcile_replicaset(self, ns: str, name: str) -> None:
        rs = self._reconcile_replicas(REPLICASETS, ns, name, "replicaset-controller")
        owner = controller_of(rs) if rs is not None else None
        if owner and owner.get("kind") == "Deployment":
            self.deployment_status(ns, owner["name"])

    @guarded
    def reconcile_replication_controller(self, ns: str, name: str) -> None:
        """The ReplicationManager (pkg/controller/replication) is the ReplicaSet controller on
        ReplicationControllers: same counting, pods and status, events as replication-controller."""
        self._reconcile_replicas(REPLICATION_CONTROLLERS, ns, name, "replication-controller")

    def _reconcile_replicas(self, rt: ResourceType, ns: str, name: str, component: str) -> JSON | None:
        rs = self.store.try_get(rt, ns, name)
        if rs is None:
            return None
        want = int(rs.get("spec", {}).get("replicas", 1))
        pods = [p for p in self.owned(PODS, rs) if _active(p)]
        template = rs.get("spec", {}).get("template") or {}
        hash_label = (rs["metadata"].get("labels") or {}).get("pod-template-hash")
        extra = {"pod-template-hash": hash_label} if hash_label else {}
        for _ in range(want - len(pods)):
            pod = self._create_pod(rs, template, f"{name}-{uuid.uuid4().hex[:5]}", extra)
            self.emit_event(rs, "SuccessfulCreate", f"Created pod: {pod['metadata']['name']}",
                            component=component)
        surplus = sorted(pods, key=lambda p: (pod_is_ready(p), p["metadata"]["name"]))[:max(0, len(pods) - want)]
        for pod in surplus:
            if self.store.try_get(PODS, ns, pod["metadata"]["name"]) is not None:
                self.store.delete(PODS, ns, pod["metadata"]["name"])
                self.emit_event(rs, "SuccessfulDelete", f"Deleted pod: {pod['metadata']['name']}",
                                component=component)
        pods = [p for p in self.owned(PODS, rs) if _active(p)]
        ready = sum(1 for p in pods if pod_is_ready(p))

        def status(r: JSON) -> None:
            r["status"] = {"replicas": len(pods), "fullyLabeledReplicas": len(pods), "readyReplicas": ready,
                           "availableReplicas": ready, "observedGeneration": r["metadata"]["generation"]}
        return self.store.mutate(rt, ns, name, status)

    @guarded
    def reconcile_deployment(self, ns: str, name: str) -> None:
        dep = self.store.try_get(DEPLOYMENTS, ns, name)
        if dep is None:
            return
        spec = dep.get("spec", {})
        template = spec.get("template") or {}
        tpl_hash = _hash(template)
        rs_name = f"{name}-{tpl_hash}"
        want = int(spec.get("replicas", 1))
        owned = self.owned(REPLICASETS, dep)
        current = self.store.try_get(REPLICASETS, ns, rs_name)
        revision = 1 + max((int((r["metadata"].get("annotations") or {}).get(
            "deployment.kubernetes.io/revision", "0")) for r in owned), default=0)
        if current is None:
            tpl = copy.deepcopy(template)
            tpl.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = tpl_hash
            sel = copy.deepcopy(spec.get("selector") or {})
            sel.setdefault("matchLabels", {})["pod-template-hash"] = tpl_hash
            labels = {**((template.get("metadata") or {}).get("labels") or {}), "pod-template-hash": tpl_hash}
            self.store.create(REPLICASETS, {
                "metadata": {"name": rs_name, "labels": labels, "ownerReferences": [owner_ref(dep)],
                             "annotations": {"deployment.kubernetes.io/revision": str(revision),
                                             "deployment.kubernetes.io/desired-replicas": str(want),
                                             "deployment.kubernetes.io/max-replicas": str(want)}},
                "spec": {"replicas": want, "selector": sel, "template": tpl},
            }, ns)
            self.emit_event(dep, "ScalingReplicaSet", f"Scaled up replica set {rs_name} from 0 to {want}",
                            component="deployment-controller")
        else:
            annotations = current["metadata"].get("annotations") or {}
            newest = max(int((r["metadata"].get("annotations") or {}).get(
                "deployment.kubernetes.io/revision", "0")) for r in owned)
            had = int(current["spec"].get("replicas", 0))
            if had != want:
                self.emit_event(dep, "ScalingReplicaSet", f"Scaled {'up' if want > had else 'down'} replica set "
                                f"{rs_name} from {had} to {want}", component="deployment-controller")
            if had != want or int(annotations.get("deployment.kubernetes.io/revision", "0")) < newest:
                def scale(r: JSON) -> None:
                    r["spec"]["replicas"] = want
                    anns = r["metadata"].setdefault("annotations", {})
                    if int(anns.get("deployment.kubernetes.io/revision", "0")) < newest:
                        anns["deployment.kubernetes.io/revision"] = str(newest + 1)
                    anns["deployment.kubernetes.io/desired-replicas"] = str(want)
                self.store.mutate(REPLICASETS, ns, rs_name, scale)
        for old in self.owned(REPLICASETS, dep):
            if old["metadata"]["name"] != rs_name and int(old["spec"].get("replicas", 0)) != 0:
                self.emit_event(dep, "ScalingReplicaSet", f"Scaled down replica set {old['metadata']['name']} "
                                f"from {old['spec'].get('replicas', 0)} to 0", component="deployment-controller")
                self.store.mutate(REPLICASETS, ns, old["metadata"]["name"],
                                  lambda r: r["spec"].__setitem__("replicas", 0))
        self.deployment_status(ns, name)

    def deployment_status(self, ns: str, name: str) -> None:
        dep = self.store.try_get(DEPLOYMENTS, ns, name)
        if dep is None:
            return
        rs_name = f"{name}-{_hash(dep.get('spec', {}).get('template') or {})}"
        owned = self.owned(REPLICASETS, dep)
        replicas = sum(int(r.get("status", {}).get("replicas", 0)) for r in owned)
        ready = sum(int(r.get("status", {}).get("readyReplicas", 0)) for r in owned)
        want = int(dep.get("spec", {}).get("replicas", 1))
        updated = sum(int(r.get("status", {}).get("replicas", 0)) for r in owned if r["metadata"]["name"] == rs_name)
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
            done = updated == want and ready >= want
            current = next((r for r in owned if r["metadata"]["name"] == rs_name), None)
            if current is not None:  # the controller mirrors the newest revision onto the Deployment
                revision = (current["metadata"].get("annotations") or {}).get("deployment.kubernetes.io/revision")
                if revision:
                    d["metadata"].setdefault("annotations", {})["deployment.kubernetes.io/revision"] = revision
            d["status"] = {
                "observedGeneration": d["metadata"]["generation"], "replicas": replicas,
                "updatedReplicas": updated, "readyReplicas": ready, "availableReplicas": ready,
                "conditions": [
                    cond("Available", available, "MinimumReplicasAvailable" if available
                         else "MinimumReplicasUnavailable", "Deployment has minimum availability." if available
                         else "Deployment does not have minimum availability."),
                    cond("Progressing", True, "NewReplicaSetAvailable" if done else "ReplicaSetUpdated",
                         f'ReplicaSet "{rs_name}" has successfully progressed.' if done
                         else f'ReplicaSet "{rs_name}" is progressing.'),
                ],
            }
            if ready < replicas:
                d["status"]["unavailableReplicas"] = replicas - ready
        self.store.mutate(DEPLOYMENTS, ns, name, status)

    # --- daemonsets and statefulsets --------------------------------------------------------
    @guarded
    def reconcile_daemonset(self, ns: str, name: str) -> None:
        ds = self.store.try_get(DAEMONSETS, ns, name)
        if ds is None:
            return
        template = ds.get("spec", {}).get("template") or {}
        probe: JSON = {"spec": template.get("spec") or {}}
        nodes = [n["metadata"]["name"] for n in self.store.list(NODES)[0] if fits(probe, n, daemon=True)]
        pods = self.owned(PODS, ds)
        placed = {p["spec"].get("nodeName") for p in pods}
        revision = _hash(template)
        for p in pods:
            if p["spec"].get("nodeName") not in nodes and self.store.try_get(PODS, ns, p["metadata"]["name"]):
                self.store.delete(PODS, ns, p["metadata"]["name"])
        for node_name in nodes:
            if node_name not in placed:
                pod = self._create_pod(ds, template, f"{name}-{uuid.uuid4().hex[:5]}",
                                       {"controller-revision-hash": revision, "pod-template-generation": "1"},
                                       node_name)
                self.emit_event(ds, "SuccessfulCreate", f"Created pod: {pod['metadata']['name']}",
                                component="daemonset-controller")
        pods = self.owned(PODS, ds)
        ready = sum(1 for p in pods if pod_is_ready(p))

        def status(d: JSON) -> None:
            d["status"] = {"currentNumberScheduled": len(pods), "desiredNumberScheduled": len(nodes),
                           "numberMisscheduled": 0, "numberReady": ready, "numberAvailable": ready,
                           "updatedNumberScheduled": len(pods), "observedGeneration": d["metadata"]["generation"]}
            if len(nodes) > ready:
                d["status"]["numberUnavailable"] = len(nodes) - ready
        self.store.mutate(DAEMONSETS, ns, name, status)

    @guarded
    def reconcile_statefulset(self, ns: str, name: str) -> None:
        sts = self.store.try_get(STATEFULSETS, ns, name)
        if sts is None:
            return
        spec = sts.get("spec", {})
        want = int(spec.get("replicas", 1))
        template = spec.get("template") or {}
        revision = f"{name}-{_hash(template)}"
        pods = {p["metadata"]["name"]: p for p in self.owned(PODS, sts)}
        for pod_name, pod in pods.items():
            index = int(pod_name.rsplit("-", 1)[-1]) if pod_name.rsplit("-", 1)[-1].isdigit() else want
            stale = (pod["metadata"].get("labels") or {}).get("controller-revision-hash") != revision
            if (index >= want or stale) and self.store.try_get(PODS, ns, pod_name) is not None:
                self.store.delete(PODS, ns, pod_name)
        claims = spec.get("volumeClaimTemplates") or []
        for i in range(want):
            pod_name = f"{name}-{i}"
            if self.store.try_get(PODS, ns, pod_name) is None:
                if claims:
                    template = self._with_claims(sts, template, claims, pod_name, i)
                self._create_pod(sts, template, pod_name, {
                    "controller-revision-hash": revision, "statefulset.kubernetes.io/pod-name": pod_name,
                    "apps.kubernetes.io/pod-index": str(i)})
                self.emit_event(sts, "SuccessfulCreate", f"create Pod {pod_name} in StatefulSet {name} successful",
                                component="statefulset-controller")
        current = self.owned(PODS, sts)
        ready = sum(1 for p in current if pod_is_ready(p))

        def status(s: JSON) -> None:
            s["status"] = {"observedGeneration": s["metadata"]["generation"], "replicas": len(current),
                           "readyReplicas": ready, "currentReplicas": len(current), "updatedReplicas": len(current),
                           "availableReplicas": ready, "currentRevision": revision, "updateRevision": revision,
                           "collisionCount": 0}
        self.store.mutate(STATEFULSETS, ns, name, status)

    def _with_claims(self, sts: JSON, template: JSON, claims: list[JSON], pod_name: str, index: int) -> JSON:
        """A pod template using (and a PVC per) volumeClaimTemplate, named like upstream."""
        ns, name = sts["metadata"]["namespace"], sts["metadata"]["name"]
        tpl = copy.deepcopy(template)
        volumes = tpl.setdefault("spec", {}).setdefault("volumes", [])
        for claim in claims:
            claim_name = f"{claim['metadata']['name']}-{name}-{index}"
            if self.store.try_get(PVCS, ns, claim_name) is None:
                self.store.create(PVCS, {
                    "metadata": {"name": claim_name, "labels": dict((sts["spec"].get("selector") or {}).get(
                        "matchLabels") or {})},
                    "spec": copy.deepcopy(claim.get("spec") or {})}, ns)
            volumes.append({"name": claim["metadata"]["name"], "persistentVolumeClaim": {"claimName": claim_name}})
        return tpl

    # --- volumes -------------------------------------------------------------------------------
    def bind_claim(self, ns: str, name: str) -> None:
        """Provision a PersistentVolume for a new claim and bind both, as a dynamic provisioner does."""
        pvc = self.store.try_get(PVCS, ns, name)
        if pvc is None or pvc.get("spec", {}).get("volumeName"):
            return
        spec = pvc.get("spec", {})
        size = (spec.get("resources", {}).get("requests") or {}).get("storage", "1Gi")
        modes = spec.get("accessModes") or ["ReadWriteOnce"]
        sc = spec.get("storageClassName") or "standard"
        pv_name = f"pvc-{pvc['metadata']['uid']}"
        self.store.create(PVS, {
            "metadata": {"name": pv_name, "annotations": {"pv.kubernetes.io/provisioned-by": "rancher.io/local-path"},
                         "finalizers": ["kubernetes.io/pv-protection"]},
            "spec": {"capacity": {"storage": size}, "accessModes": modes, "persistentVolumeReclaimPolicy": "Delete",
                     "storageClassName": sc, "volumeMode": spec.get("volumeMode", "Filesystem"),
                     "hostPath": {"path": f"/var/local-path-provisioner/{pv_name}_{ns}_{name}", "type": ""},
                     "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": ns,
                                  "name": name, "uid": pvc["metadata"]["uid"],
                                  "resourceVersion": pvc["metadata"]["resourceVersion"]}},
            "status": {"phase": "Bound"},
        })

        def bound(c: JSON) -> None:
            c["spec"]["volumeName"] = pv_name
            c["spec"].setdefault("storageClassName", sc)
            c["spec"].setdefault("volumeMode", "Filesystem")
            c["metadata"].setdefault("annotations", {})["pv.kubernetes.io/bind-completed"] = "yes"
            c["status"] = {"phase": "Bound", "accessModes": modes, "capacity": {"storage": size}}
        self.store.mutate(PVCS, ns, name, bound, subresource="any")

    def release_claim(self, pvc: JSON) -> None:
        volume = pvc.get("spec", {}).get("volumeName")
        if volume and self.store.try_get(PVS, "", volume) is not None:
            self.store.delete(PVS, "", volume)

    # --- jobs --------------------------------------------------------------------------------
    @guarded
    def reconcile_job(self, ns: str, name: str) -> None:
        job = self.store.try_get(JOBS, ns, name)
        if job is None:
            return
        uid = job["metadata"]["uid"]
        if not job.get("spec", {}).get("selector"):
            def select(j: JSON) -> None:
                labels = {"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": name,
                          "controller-uid": uid, "job-name": name}
                j["spec"]["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
                j["spec"].setdefault("template", {}).setdefault("metadata", {}).setdefault("labels", {}).update(labels)
            job = self.store.mutate(JOBS, ns, name, select, subresource="any")
        spec = job["spec"]
        completions = int(spec.get("completions", 1))
        parallelism = int(spec.get("parallelism", 1))
        pods = self.owned(PODS, job)
        succeeded = sum(1 for p in pods if p.get("status", {}).get("phase") == "Succeeded")
        failed = sum(1 for p in pods if p.get("status", {}).get("phase") == "Failed")
        active = [p for p in pods if _active(p)]
        finished = succeeded >= completions or failed > int(spec.get("backoffLimit", 6))
        if not finished and not spec.get("suspend"):
            for _ in range(min(parallelism, completions - succeeded) - len(active)):
                pod = self._create_pod(job, spec.get("template") or {}, f"{name}-{uuid.uuid4().hex[:5]}", {})
                self.emit_event(job, "SuccessfulCreate", f"Created pod: {pod['metadata']['name']}",
                                component="job-controller")
            pods = self.owned(PODS, job)
            succeeded = sum(1 for p in pods if p.get("status", {}).get("phase") == "Succeeded")
            failed = sum(1 for p in pods if p.get("status", {}).get("phase") == "Failed")
            active = [p for p in pods if _active(p)]
        now = now_iso()
        complete = succeeded >= completions
        gave_up = failed > int(spec.get("backoffLimit", 6))

        def status(j: JSON) -> None:
            st = j.setdefault("status", {})
            st.setdefault("startTime", now)
            st.update(active=len(active), succeeded=succeeded, failed=failed, ready=sum(map(pod_is_ready, active)),
                      terminating=0, uncountedTerminatedPods={})
            if (complete or gave_up) and not st.get("conditions"):
                kind, reason = ("Complete", "CompletionsReached") if complete else ("Failed", "BackoffLimitExceeded")
                interim = "SuccessCriteriaMet" if complete else "FailureTarget"
                st["conditions"] = [
                    {"type": t, "status": "True", "reason": reason, "lastProbeTime": now, "lastTransitionTime": now,
                     "message": "Reached expected number of succeeded pods" if complete
                     else "Job has reached the specified backoff limit"} for t in (interim, kind)]
                if complete:
                    st["completionTime"] = now
        before = bool(job.get("status", {}).get("conditions"))
        job = self.store.mutate(JOBS, ns, name, status)
        if not before and job.get("status", {}).get("conditions"):
            self.emit_event(job, "Completed" if complete else "BackoffLimitExceeded",
                            "Job completed" if complete else "Job has reached the specified backoff limit",
                            kind="Normal" if complete else "Warning", component="job-controller")

    # --- disruption budgets and endpoints -------------------------------------------------------
    def reconcile_pdbs(self, ns: str) -> None:
        for pdb in self.store.list(PDBS, ns)[0]:
            matches = selector_from_spec(pdb.get("spec", {}).get("selector"))
            pods = [p for p in self.store.list(PODS, ns)[0] if matches(p)]
            healthy = sum(1 for p in pods if pod_is_ready(p) and not p["metadata"].get("deletionTimestamp"))
            desired = desired_healthy(pdb, len(pods))

            def status(p: JSON, healthy: int = healthy, desired: int = desired, expected: int = len(pods)) -> None:
                p["status"] = {"currentHealthy": healthy, "desiredHealthy": desired, "expectedPods": expected,
                               "disruptionsAllowed": max(0, healthy - desired),
                               "observedGeneration": p["metadata"].get("generation", 1)}
            self.store.mutate(PDBS, ns, pdb["metadata"]["name"], status)

    def reconcile_endpoints(self, ns: str) -> None:
        """Endpoints and EndpointSlices for every Service with a selector in ``ns``."""
        pods = self.store.list(PODS, ns)[0]
        for svc in self.store.list(SERVICES, ns)[0]:
            selector = svc.get("spec", {}).get("selector")
            if not selector:
                continue
            name = svc["metadata"]["name"]
            chosen = [p for p in pods if all((p["metadata"].get("labels") or {}).get(k) == v
                                             for k, v in selector.items()) and p.get("status", {}).get("podIP")]
            ports = [{"name": sp.get("name", ""), "port": sp.get("targetPort") if isinstance(sp.get("targetPort"), int)
                      else sp.get("port"), "protocol": sp.get("protocol", "TCP")}
                     for sp in svc["spec"].get("ports") or []]
            for port in ports:
                if not port["name"]:
                    del port["name"]

            def address(p: JSON) -> JSON:
                return {"ip": p["status"]["podIP"], "nodeName": p["spec"].get("nodeName", ""),
                        "targetRef": {"kind": "Pod", "namespace": ns, "name": p["metadata"]["name"],
                                      "uid": p["metadata"]["uid"]}}
            ready = [address(p) for p in chosen if pod_is_ready(p)]
            not_ready = [address(p) for p in chosen if not pod_is_ready(p)]
            subset: JSON = {"ports": ports}
            if ready:
                subset["addresses"] = ready
            if not_ready:
                subset["notReadyAddresses"] = not_ready
            endpoints = {"metadata": {"name": name, "labels": dict(svc["metadata"].get("labels") or {})},
                         "subsets": [subset] if chosen else []}
            self._upsert(ENDPOINTS, ns, name, endpoints)
            slice_obj = {
                "metadata": {"name": f"{name}-kubesim", "labels": {"kubernetes.io/service-name": name,
                                                                   "endpointslice.kubernetes.io/managed-by":
                                                                   "endpointslice-controller.k8s.io"},
                             "ownerReferences": [owner_ref(svc)]},
                "addressType": "IPv4",
                "endpoints": [{"addresses": [p["status"]["podIP"]], "nodeName": p["spec"].get("nodeName", ""),
                               "conditions": {"ready": pod_is_ready(p), "serving": pod_is_ready(p),
                                              "terminating": False},
                               "targetRef": {"kind": "Pod", "namespace": ns, "name": p["metadata"]["name"],
                                             "uid": p["metadata"]["uid"]}} for p in chosen],
                "ports": ports,
            }
            self._upsert(ENDPOINT_SLICES, ns, f"{name}-kubesim", slice_obj)

    def _upsert(self, rt: ResourceType, ns: str, name: str, obj: JSON) -> None:
        current = self.store.try_get(rt, ns, name)
        if current is None:
            self.store.create(rt, obj, ns)
            return

        def replace(o: JSON) -> None:
            for k in [k for k in o if k not in ("metadata", "kind", "apiVersion")]:
                del o[k]
            o.update({k: v for k, v in obj.items() if k != "metadata"})
            o["metadata"]["labels"] = obj["metadata"].get("labels", {})
        self.store.mutate(rt, ns, name, replace)
