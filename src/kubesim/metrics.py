"""``metrics.k8s.io/v1beta1``: node and pod usage for ``kubectl top`` and dashboards.

Nothing is measured: each container gets a small, stable usage derived from its
pod's name (so repeated calls agree), and a node's usage is a base load plus the
usage of the pods on it.
"""

from __future__ import annotations

import hashlib
from typing import Any

from kubesim.errors import ApiError, not_found
from kubesim.podutil import NODES, PODS
from kubesim.resources import ResourceType
from kubesim.store import Store, now_iso

JSON = dict[str, Any]

__all__ = ["GROUP", "metrics"]

GROUP = "metrics.k8s.io"


def _container_usage(pod: str, container: str) -> tuple[int, int]:
    """(millicores, MiB) for one container."""
    digest = hashlib.sha256(f"{pod}/{container}".encode()).digest()
    return 1 + digest[0] % 50, 8 + digest[1] % 120


def _pod_metrics(pod: JSON) -> JSON:
    name = pod["metadata"]["name"]
    containers = []
    for c in pod.get("spec", {}).get("containers") or []:
        cpu, mem = _container_usage(name, c.get("name", ""))
        containers.append({"name": c.get("name", ""), "usage": {"cpu": f"{cpu}m", "memory": f"{mem}Mi"}})
    return {"kind": "PodMetrics", "apiVersion": f"{GROUP}/v1beta1",
            "metadata": {"name": name, "namespace": pod["metadata"]["namespace"], "creationTimestamp": now_iso(),
                         "labels": dict(pod["metadata"].get("labels") or {})},
            "timestamp": now_iso(), "window": "10.5s", "containers": containers}


def _node_metrics(store: Store, node: JSON) -> JSON:
    name = node["metadata"]["name"]
    cpu, mem = 150, 900  # system daemons
    pods, _ = store.list(PODS, None, lambda p: p.get("spec", {}).get("nodeName") == name
                         and p.get("status", {}).get("phase") == "Running")
    for p in pods:
        for c in p.get("spec", {}).get("containers") or []:
            c_cpu, c_mem = _container_usage(p["metadata"]["name"], c.get("name", ""))
            cpu, mem = cpu + c_cpu, mem + c_mem
    return {"kind": "NodeMetrics", "apiVersion": f"{GROUP}/v1beta1",
            "metadata": {"name": name, "creationTimestamp": now_iso(),
                         "labels": dict(node["metadata"].get("labels") or {})},
            "timestamp": now_iso(), "window": "20.05s", "usage": {"cpu": f"{cpu}m", "memory": f"{mem}Mi"}}


def metrics(store: Store, rt: ResourceType, namespace: str, name: str, method: str) -> JSON:
    """The NodeMetrics/PodMetrics object or list a GET asks for."""
    if method != "GET":
        raise ApiError(405, "MethodNotAllowed", "the metrics API is read-only")
    if rt.plural == "nodes":
        if name:
            node = store.try_get(NODES, "", name)
            if node is None:
                raise not_found(rt, name)
            return _node_metrics(store, node)
        items = [_node_metrics(store, n) for n in store.list(NODES)[0]]
        return {"kind": "NodeMetricsList", "apiVersion": f"{GROUP}/v1beta1", "metadata": {}, "items": items}
    if name:
        pod = store.try_get(PODS, namespace, name)
        if pod is None:
            raise not_found(rt, name)
        return _pod_metrics(pod)
    pods, _ = store.list(PODS, namespace or None, lambda p: p.get("status", {}).get("phase") == "Running")
    return {"kind": "PodMetricsList", "apiVersion": f"{GROUP}/v1beta1", "metadata": {},
            "items": [_pod_metrics(p) for p in pods]}
