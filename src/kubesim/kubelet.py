"""The simulated scheduler and kubelet: pods get a node, an IP, running containers, logs.

The scheduler picks the least-loaded Ready node the pod fits (``unschedulable``,
taints, ``nodeSelector``). The "kubelet" then starts the containers: with a
``command``/``args`` it runs them through the built-in shell at once (sleeps take
no time) so their output becomes the container log; pods whose ``restartPolicy``
is not ``Always`` then terminate — Succeeded or Failed by exit code — which is what
Jobs and ``kubectl run --restart=Never`` need. ``start_delay`` keeps new pods in
ContainerCreating for a while, for tests that want to see that phase.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

from kubesim.logs import LogBook
from kubesim.podutil import EVENTS, NODES, PODS, fits, node_is_ready
from kubesim.shell import run_captured
from kubesim.store import Store, now_iso

JSON = dict[str, Any]

__all__ = ["ControllerBase", "KubeletMixin"]

_CONDITIONS = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")


class ControllerBase:
    """State every simulated controller shares: the store, the logs, events."""

    store: Store
    logs: LogBook

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
            "reason": reason, "message": message, "type": kind, "count": 1, "action": reason,
            "eventTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "source": {"component": component}, "firstTimestamp": now, "lastTimestamp": now,
            "reportingComponent": component, "reportingInstance": "",
        }, ns)


def _container_id(pod: str, container: str) -> str:
    return f"containerd://{hashlib.sha256((pod + '/' + container).encode()).hexdigest()}"


def _image_id(image: str) -> str:
    return f"{image.split(':')[0]}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"


class KubeletMixin(ControllerBase):
    """Scheduling and container life cycle of pods."""

    start_delay: float = 0.0
    termination_delay: float = 0.0

    # --- graceful deletion ---------------------------------------------------------------
    def terminate_pod(self, ns: str, name: str, grace: int | None) -> JSON:
        """Delete a pod: at once, or (with ``termination_delay``) Terminating first, gone later.

        Returns the pod as the DELETE answer shows it: with ``deletionTimestamp`` set.
        """
        if self.termination_delay <= 0 or grace == 0:
            return self.store.delete(PODS, ns, name)
        pod = self.store.get(PODS, ns, name)
        if pod["metadata"].get("deletionTimestamp"):
            return pod
        seconds = grace if grace is not None else int(pod["spec"].get("terminationGracePeriodSeconds", 30))

        def mark(p: JSON) -> None:
            p["metadata"]["deletionTimestamp"] = now_iso()
            p["metadata"]["deletionGracePeriodSeconds"] = seconds
        marked = self.store.mutate(PODS, ns, name, mark, subresource="any")
        names = ", ".join(c.get("name", "") for c in pod["spec"].get("containers") or [])
        self.emit_event(marked, "Killing", f"Stopping container {names}")
        uid = pod["metadata"]["uid"]

        def finish() -> None:
            current = self.store.try_get(PODS, ns, name)
            if current is not None and current["metadata"]["uid"] == uid:
                self.store.delete(PODS, ns, name)
        timer = threading.Timer(min(self.termination_delay, float(seconds)), finish)
        timer.daemon = True
        timer.start()
        return marked

    # --- scheduling ----------------------------------------------------------------
    def start_pod(self, ns: str, name: str) -> None:
        pod = self.store.try_get(PODS, ns, name)
        if pod is None or pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
            return
        node_name = pod.get("spec", {}).get("nodeName")
        if not node_name:
            node_name = self._pick_node(pod)
            if node_name is None:
                self._mark_unschedulable(pod)
                return
        self.bind(ns, name, node_name)

    def _pick_node(self, pod: JSON) -> str | None:
        nodes = [n for n in self.store.list(NODES)[0] if node_is_ready(n) and fits(pod, n)]
        if not nodes:
            return None
        load: dict[str, int] = {n["metadata"]["name"]: 0 for n in nodes}
        for p in self.store.list(PODS)[0]:
            nn = p.get("spec", {}).get("nodeName")
            if nn in load:
                load[nn] += 1
        return min(load, key=lambda n: (load[n], n))

    def _mark_unschedulable(self, pod: JSON) -> None:
        total = len(self.store.list(NODES)[0])

        def change(p: JSON) -> None:
            p["status"] = {"phase": "Pending", "qosClass": "BestEffort", "conditions": [{
                "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                "message": f"0/{total} nodes are available: no node matches the pod's scheduling constraints.",
                "lastProbeTime": None, "lastTransitionTime": now_iso(),
            }]}
        pod = self.store.mutate(PODS, pod["metadata"]["namespace"], pod["metadata"]["name"], change)
        self.emit_event(pod, "FailedScheduling", pod["status"]["conditions"][0]["message"], kind="Warning",
                        component="default-scheduler")

    def schedule_pending(self) -> None:
        pending, _ = self.store.list(PODS, None, lambda p: not p.get("spec", {}).get("nodeName"))
        for p in pending:
            self.start_pod(p["metadata"]["namespace"], p["metadata"]["name"])

    # --- binding and containers --------------------------------------------------------
    def bind(self, ns: str, name: str, node_name: str) -> None:
        """Put a pod on a node, then start its containers (now, or after ``start_delay``)."""
        node = self.store.try_get(NODES, "", node_name)
        host_ip, node_index = "10.0.0.1", 0
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
            waiting = [{"name": c.get("name", ""), "image": c.get("image", ""), "imageID": "", "ready": False,
                        "restartCount": 0, "started": False,
                        "state": {"waiting": {"reason": "ContainerCreating"}}, "lastState": {}}
                       for c in spec.get("containers") or []]
            conditions = [{"type": t, "status": "True" if t in ("Initialized", "PodScheduled") else "False",
                           "lastProbeTime": None, "lastTransitionTime": now} for t in _CONDITIONS]
            p["status"] = {"phase": "Pending", "conditions": conditions, "hostIP": host_ip,
                           "hostIPs": [{"ip": host_ip}], "podIP": pod_ip, "podIPs": [{"ip": pod_ip}],
                           "startTime": now, "qosClass": "BestEffort", "containerStatuses": waiting}

        pod = self.store.mutate(PODS, ns, name, change)
        self.emit_event(pod, "Scheduled", f"Successfully assigned {ns}/{name} to {node_name}",
                        component="default-scheduler")
        uid = pod["metadata"]["uid"]
        if self.start_delay > 0:
            timer = threading.Timer(self.start_delay, self.run_containers, (ns, name, uid))
            timer.daemon = True
            timer.start()
        else:
            self.run_containers(ns, name, uid)

    def run_containers(self, ns: str, name: str, uid: str) -> None:
        """Start the pod's containers; those that run to completion terminate right away."""
        pod = self.store.try_get(PODS, ns, name)
        if pod is None or pod["metadata"]["uid"] != uid:
            return
        spec = pod["spec"]
        node_name = spec.get("nodeName", "")
        restart = spec.get("restartPolicy", "Always")
        env = {"HOSTNAME": name, "HOME": "/root"}
        now = now_iso()
        statuses: list[JSON] = []
        exit_codes: list[int] = []
        for c in spec.get("containers") or []:
            cname, image = c.get("name", ""), c.get("image", "")
            argv = [*(c.get("command") or []), *(c.get("args") or [])]
            self.emit_event(pod, "Pulled", f'Container image "{image}" already present on machine')
            self.emit_event(pod, "Created", f"Created container: {cname}")
            self.emit_event(pod, "Started", f"Started container {cname}")
            self.logs.start_container(ns, name, cname, image, node_name)
            code = 0
            if argv:
                container_env = {**env, **{e["name"]: str(e.get("value", ""))
                                           for e in c.get("env") or [] if "name" in e}}
                code, output = run_captured(argv, container_env)
                if output:
                    self.logs.append(ns, name, cname, output.rstrip("\n"))
            status: JSON = {"name": cname, "image": image, "imageID": _image_id(image),
                            "containerID": _container_id(name, cname), "restartCount": 0, "lastState": {}}
            if restart == "Always":
                status.update(ready=True, started=True, state={"running": {"startedAt": now}})
            else:
                exit_codes.append(code)
                status.update(ready=False, started=False, state={"terminated": {
                    "exitCode": code, "reason": "Completed" if code == 0 else "Error",
                    "startedAt": now, "finishedAt": now, "containerID": _container_id(name, cname)}})
            statuses.append(status)
        finished = restart != "Always"
        phase = "Running" if not finished else ("Succeeded" if not any(exit_codes) else "Failed")

        def change(p: JSON) -> None:
            st = p.setdefault("status", {})
            st["phase"] = phase
            st["containerStatuses"] = statuses
            for cond in st.get("conditions") or []:
                ready = cond["type"] in ("Ready", "ContainersReady")
                cond["status"] = "False" if ready and finished else "True"
                if ready and finished:
                    cond["reason"] = "PodCompleted"
                cond["lastTransitionTime"] = now
        self.store.mutate(PODS, ns, name, change)
