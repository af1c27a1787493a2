"""Node, pod, eviction and disruption-budget calls into a managed cluster (R16).

Who uses it: ``shoal.nodes`` (service and drain task steps). Like the rest of
``shoal.kube`` it speaks raw Kubernetes JSON over :class:`KubeClient` and lets
errors leave as ``shoal.core.errors`` classes; the one answer it interprets
itself is the Eviction API's ``429 Too Many Requests``, which means a
PodDisruptionBudget forbids the eviction *now* and becomes
:class:`EvictionBlocked` naming the budgets that match the pod (the API's own
message does not name them reliably).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from shoal.core.errors import ClusterUnreachable, Conflict, NotFound
from shoal.kube.client import JSON, KubeClient

__all__ = [
    "EvictionBlocked",
    "budgets_for",
    "delete_node",
    "evict_pod",
    "get_node",
    "get_pod",
    "list_node_events",
    "list_nodes",
    "list_pods",
    "list_pods_on",
    "matches_selector",
    "patch_node",
]

_MERGE = "application/merge-patch+json"
_ACTIVE = "status.phase!=Succeeded,status.phase!=Failed"


class EvictionBlocked(Conflict):
    """A PodDisruptionBudget forbids evicting the pod now (the API answered 429); retry later."""


def _q(value: str) -> str:
    return quote(value, safe="")


async def list_nodes(kube: KubeClient) -> list[JSON]:
    return await kube.list_all("/api/v1/nodes")


async def get_node(kube: KubeClient, name: str) -> JSON:
    node: JSON = await kube.get(f"/api/v1/nodes/{_q(name)}")
    return node


async def patch_node(kube: KubeClient, name: str, patch: JSON) -> JSON:
    """A JSON merge patch; put ``metadata.resourceVersion`` in it to fail (409) on a concurrent change."""
    node: JSON = await kube.request("PATCH", f"/api/v1/nodes/{_q(name)}", json=patch, content_type=_MERGE)
    return node


async def delete_node(kube: KubeClient, name: str) -> None:
    await kube.request("DELETE", f"/api/v1/nodes/{_q(name)}")


async def list_pods(kube: KubeClient, *, active_only: bool = True) -> list[JSON]:
    """Pods of every namespace (by default those not Succeeded/Failed, which hold no resources)."""
    return await kube.list_all("/api/v1/pods", fieldSelector=_ACTIVE if active_only else None)


async def list_pods_on(kube: KubeClient, node: str) -> list[JSON]:
    """Every pod bound to ``node`` (finished ones too: a drain deletes them)."""
    return await kube.list_all("/api/v1/pods", fieldSelector=f"spec.nodeName={node}")


async def get_pod(kube: KubeClient, namespace: str, name: str) -> JSON | None:
    try:
        pod: JSON = await kube.get(f"/api/v1/namespaces/{_q(namespace)}/pods/{_q(name)}")
    except NotFound:
        return None
    return pod


async def list_node_events(kube: KubeClient, node: str, *, limit: int = 50) -> list[JSON]:
    """Events about the Node object, newest last as the API returns them (at most ``limit``)."""
    body = await kube.get("/api/v1/events", fieldSelector=f"involvedObject.kind=Node,involvedObject.name={node}",
                          limit=limit)
    items: list[JSON] = list(body.get("items") or [])
    return items


def _expression(labels: dict[str, str], expr: JSON) -> bool:
    key, op, values = expr.get("key", ""), expr.get("operator", ""), list(expr.get("values") or [])
    if op == "In":
        return key in labels and labels[key] in values
    if op == "NotIn":
        return key not in labels or labels[key] not in values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    return False


def matches_selector(selector: JSON | None, labels: dict[str, str]) -> bool:
    """Whether a ``LabelSelector`` selects these labels (an empty selector selects everything, as for PDBs)."""
    if not selector:
        return True
    match = selector.get("matchLabels") or {}
    if any(labels.get(k) != v for k, v in match.items()):
        return False
    return all(_expression(labels, e) for e in selector.get("matchExpressions") or [])


async def budgets_for(kube: KubeClient, pod: JSON) -> list[JSON]:
    """The PodDisruptionBudgets of the pod's namespace whose selector matches it."""
    meta = pod.get("metadata") or {}
    namespace = str(meta.get("namespace", ""))
    labels = dict(meta.get("labels") or {})
    pdbs = await kube.list_all(f"/apis/policy/v1/namespaces/{_q(namespace)}/poddisruptionbudgets")
    return [p for p in pdbs if matches_selector((p.get("spec") or {}).get("selector"), labels)]


def _budget_text(pdb: JSON) -> str:
    meta, status = pdb.get("metadata") or {}, pdb.get("status") or {}
    return (f"{meta.get('namespace', '')}/{meta.get('name', '')} (healthy {status.get('currentHealthy', '?')}, "
            f"needs {status.get('desiredHealthy', '?')}, disruptions allowed {status.get('disruptionsAllowed', '?')})")


async def evict_pod(kube: KubeClient, pod: JSON, *, grace_seconds: int | None = None) -> bool:
    """Ask the API server to evict ``pod``; True if accepted, False if the pod is already gone.

    Raises :class:`EvictionBlocked` (naming the matching budgets) when a
    PodDisruptionBudget forbids it now.
    """
    meta = pod.get("metadata") or {}
    namespace, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
    body: dict[str, Any] = {"apiVersion": "policy/v1", "kind": "Eviction",
                            "metadata": {"name": name, "namespace": namespace}}
    if grace_seconds is not None and grace_seconds >= 0:
        body["deleteOptions"] = {"gracePeriodSeconds": grace_seconds}
    try:
        await kube.post(f"/api/v1/namespaces/{_q(namespace)}/pods/{_q(name)}/eviction", body)
    except NotFound:
        return False
    except ClusterUnreachable as e:
        if e.params.get("status") != 429:
            raise
        try:
            budgets = [_budget_text(p) for p in await budgets_for(kube, pod)]
        except (ClusterUnreachable, NotFound):
            budgets = []
        raise EvictionBlocked("error.node_eviction_blocked", namespace=namespace, pod=name,
                              budgets=", ".join(budgets) or "?", detail=e.params.get("detail", "")) from e
    return True
