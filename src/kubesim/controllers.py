"""The simulated control plane of one virtual cluster, driven by store changes.

Registered as a store hook, :class:`Simulation` reacts synchronously to every
change — so a test that creates a Deployment sees its ReplicaSet and Running pods
as soon as the create returns — and dispatches to the scheduler/kubelet
(``kubelet.py``) and the workload controllers (``workloads.py``). It also keeps
node leases renewed (the kubelet heartbeat) and deletes the pods of removed nodes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kubesim.kubelet import KubeletMixin
from kubesim.logs import LogBook
from kubesim.podutil import (
    DAEMONSETS,
    DEPLOYMENTS,
    JOBS,
    LEASES,
    NODES,
    PDBS,
    PODS,
    PVCS,
    REPLICASETS,
    REPLICATION_CONTROLLERS,
    SERVICES,
    STATEFULSETS,
    node_is_ready,
)
from kubesim.store import Store, WatchEvent
from kubesim.workloads import WorkloadsMixin

JSON = dict[str, Any]

__all__ = ["LEASE_SECONDS", "Simulation"]

# kubelets renew their lease every 10 s and declare it valid for 40 s
LEASE_SECONDS = 40


def _micro_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Simulation(KubeletMixin, WorkloadsMixin):
    """Reconciles workloads and pod status of one virtual cluster after every change."""

    def __init__(self, store: Store, logs: LogBook, cluster_name: str) -> None:
        self.store = store
        self.logs = logs
        self.cluster_name = cluster_name
        self.enabled = True
        store.hooks.append(self.on_change)

    def on_change(self, ev: WatchEvent) -> None:
        if not self.enabled:
            return
        meta = ev.obj.get("metadata", {})
        ns, name, uid = meta.get("namespace", ""), meta.get("name", ""), meta.get("uid", "")
        key, kind = ev.key, ev.type
        if key in (PODS.key, PDBS.key):
            self.reconcile_pdbs(ns)
        if key in (PODS.key, SERVICES.key):
            self.reconcile_endpoints(ns)
        if key == PODS.key:
            if kind == "ADDED":
                self.start_pod(ns, name)
            elif kind == "DELETED":
                self.logs.close_pod(ns, name)
            self.reconcile_owner_of(ev.obj)
        elif key == DEPLOYMENTS.key:
            if kind == "DELETED":
                self.delete_owned(REPLICASETS, ns, uid)
            else:
                self.reconcile_deployment(ns, name)
        elif key in (REPLICASETS.key, REPLICATION_CONTROLLERS.key, DAEMONSETS.key, STATEFULSETS.key,
                     JOBS.key) and kind == "DELETED":
            self.delete_owned(PODS, ns, uid)
        elif key == REPLICASETS.key:
            self.reconcile_replicaset(ns, name)
        elif key == REPLICATION_CONTROLLERS.key:
            self.reconcile_replication_controller(ns, name)
        elif key == DAEMONSETS.key:
            self.reconcile_daemonset(ns, name)
        elif key == STATEFULSETS.key:
            self.reconcile_statefulset(ns, name)
        elif key == JOBS.key:
            self.reconcile_job(ns, name)
        elif key == NODES.key:
            self._on_node_change(ev)
        elif key == PVCS.key:
            if kind == "ADDED":
                self.bind_claim(ns, name)
            elif kind == "DELETED":
                self.release_claim(ev.obj)

    def _on_node_change(self, ev: WatchEvent) -> None:
        name = ev.obj["metadata"]["name"]
        if ev.type == "DELETED":
            pods, _ = self.store.list(PODS, None, lambda p: p.get("spec", {}).get("nodeName") == name)
            for p in pods:
                if self.store.try_get(PODS, p["metadata"]["namespace"], p["metadata"]["name"]) is not None:
                    self.store.delete(PODS, p["metadata"]["namespace"], p["metadata"]["name"])
            if self.store.try_get(LEASES, "kube-node-lease", name) is not None:
                self.store.delete(LEASES, "kube-node-lease", name)
        elif ev.type == "ADDED":
            self.renew_lease(ev.obj)
        elif ev.old is not None:
            self._node_transition_events(ev.old, ev.obj)
        for ds in self.store.list(DAEMONSETS)[0]:
            self.reconcile_daemonset(ds["metadata"]["namespace"], ds["metadata"]["name"])
        if ev.type != "DELETED" and not ev.obj.get("spec", {}).get("unschedulable"):
            self.schedule_pending()

    def _node_transition_events(self, old: JSON, new: JSON) -> None:
        name = new["metadata"]["name"]
        was, now = bool(old.get("spec", {}).get("unschedulable")), bool(new.get("spec", {}).get("unschedulable"))
        if was != now:
            state = "NodeNotSchedulable" if now else "NodeSchedulable"
            self.emit_event(new, state, f"Node {name} status is now: {state}")
        if node_is_ready(old) != node_is_ready(new):
            state = "NodeReady" if node_is_ready(new) else "NodeNotReady"
            self.emit_event(new, state, f"Node {name} status is now: {state}", component="node-controller")

    # --- heartbeat -------------------------------------------------------------------
    def renew_lease(self, node: JSON) -> None:
        """What a kubelet does every 10 s: renew its Lease in kube-node-lease."""
        name = node["metadata"]["name"]
        now = _micro_now()
        if self.store.try_get(LEASES, "kube-node-lease", name) is None:
            self.store.create(LEASES, {
                "metadata": {"name": name, "ownerReferences": [{
                    "apiVersion": "v1", "kind": "Node", "name": name, "uid": node["metadata"]["uid"]}]},
                "spec": {"holderIdentity": name, "leaseDurationSeconds": LEASE_SECONDS, "renewTime": now},
            }, "kube-node-lease")
        else:
            self.store.mutate(LEASES, "kube-node-lease", name, lambda lease: lease["spec"].update(renewTime=now))

    def heartbeat(self) -> None:
        """Renew the leases of all Ready nodes (NotReady ones have a silent kubelet)."""
        for node in self.store.list(NODES)[0]:
            if node_is_ready(node):
                self.renew_lease(node)
