"""The cluster overview [总览] (R12), read live from the cluster.

Who calls it: the overview API route and the cluster page. It shows the
Kubernetes version; masters and nodes with Ready / NotReady /
SchedulingDisabled counts; CPU, memory and pod capacity and allocatable; the
CPU and memory requested by pods as a share of allocatable; pods running of
total; namespaces; usage from ``metrics.k8s.io`` when the cluster serves it
(otherwise it says so and shows no number); recent Warning events. A cluster
with only masters is flagged: it cannot run workloads yet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shoal.clusters.importing import is_master
from shoal.clusters.settings import ClusterSettings
from shoal.core.errors import ClusterUnreachable, NotFound
from shoal.kube import JSON, Credential, KubeClient, connect, parse_cpu, parse_quantity
from shoal.store.types import utcnow

__all__ = ["NodeCounts", "Overview", "Resource", "WarningEvent", "read_overview"]

_FINISHED = ("Succeeded", "Failed")
WARNING_EVENTS = 10


@dataclass
class NodeCounts:
    total: int = 0
    ready: int = 0
    not_ready: int = 0
    scheduling_disabled: int = 0


@dataclass
class Resource:
    capacity: float = 0.0
    allocatable: float = 0.0
    requested: float = 0.0
    usage: float | None = None

    @property
    def requested_share(self) -> float | None:
        return round(self.requested / self.allocatable, 4) if self.allocatable else None

    @property
    def usage_share(self) -> float | None:
        return round(self.usage / self.allocatable, 4) if self.usage is not None and self.allocatable else None


@dataclass
class WarningEvent:
    time: str
    namespace: str
    object: str
    reason: str
    message: str
    count: int


@dataclass
class Overview:
    version: str = ""
    masters: NodeCounts = field(default_factory=NodeCounts)
    nodes: NodeCounts = field(default_factory=NodeCounts)
    cpu: Resource = field(default_factory=Resource)
    memory: Resource = field(default_factory=Resource)
    pod_capacity: int = 0
    pod_allocatable: int = 0
    pods_running: int = 0
    pods_total: int = 0
    namespaces: int = 0
    metrics_available: bool = False
    only_masters: bool = False
    warnings: list[WarningEvent] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    generated_at: datetime = field(default_factory=utcnow)


def _ready(node: JSON) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (node.get("status") or {}).get("conditions") or [])


def _count(counts: NodeCounts, node: JSON) -> None:
    counts.total += 1
    if _ready(node):
        counts.ready += 1
    else:
        counts.not_ready += 1
    if (node.get("spec") or {}).get("unschedulable"):
        counts.scheduling_disabled += 1


def _requests(pod: JSON) -> tuple[float, float]:
    cpu = memory = 0.0
    for container in (pod.get("spec") or {}).get("containers") or []:
        requests = (container.get("resources") or {}).get("requests") or {}
        cpu += parse_cpu(requests.get("cpu"))
        memory += parse_quantity(requests.get("memory"))
    return cpu, memory


def _event_time(event: JSON) -> str:
    return str(event.get("lastTimestamp") or event.get("eventTime")
               or (event.get("metadata") or {}).get("creationTimestamp") or "")


async def _metrics(kube: KubeClient, overview: Overview) -> None:
    try:
        body = await kube.get("/apis/metrics.k8s.io/v1beta1/nodes")
    except (NotFound, ClusterUnreachable):
        overview.notes.append("cluster.metrics_unavailable")
        return
    items = body.get("items") or []
    overview.metrics_available = True
    overview.cpu.usage = sum(parse_cpu((i.get("usage") or {}).get("cpu")) for i in items)
    overview.memory.usage = sum(parse_quantity((i.get("usage") or {}).get("memory")) for i in items)


async def read_overview(credential: Credential, settings: ClusterSettings) -> Overview:
    """Everything the overview shows, in a handful of list calls (errors leave as Shoal errors)."""
    overview = Overview()
    async with connect(credential, call_timeout=settings.request_timeout) as kube:
        overview.version = str((await kube.version()).get("gitVersion", ""))
        nodes = await kube.list_all("/api/v1/nodes")
        pods = await kube.list_all("/api/v1/pods")
        namespaces = await kube.list_all("/api/v1/namespaces")
        events = await kube.list_all("/api/v1/events", fieldSelector="type=Warning")
        await _metrics(kube, overview)
    for node in nodes:
        _count(overview.masters if is_master(node) else overview.nodes, node)
        status = node.get("status") or {}
        capacity, allocatable = status.get("capacity") or {}, status.get("allocatable") or {}
        overview.cpu.capacity += parse_cpu(capacity.get("cpu"))
        overview.cpu.allocatable += parse_cpu(allocatable.get("cpu"))
        overview.memory.capacity += parse_quantity(capacity.get("memory"))
        overview.memory.allocatable += parse_quantity(allocatable.get("memory"))
        overview.pod_capacity += int(parse_quantity(capacity.get("pods")))
        overview.pod_allocatable += int(parse_quantity(allocatable.get("pods")))
    for pod in pods:
        phase = (pod.get("status") or {}).get("phase", "")
        overview.pods_total += 1
        if phase == "Running":
            overview.pods_running += 1
        if phase not in _FINISHED:
            cpu, memory = _requests(pod)
            overview.cpu.requested += cpu
            overview.memory.requested += memory
    overview.namespaces = len(namespaces)
    overview.only_masters = overview.masters.total > 0 and overview.nodes.total == 0
    if overview.only_masters:
        overview.notes.insert(0, "cluster.only_masters")
    events.sort(key=_event_time, reverse=True)
    for event in events[:WARNING_EVENTS]:
        involved = event.get("involvedObject") or {}
        overview.warnings.append(WarningEvent(
            time=_event_time(event), namespace=str((event.get("metadata") or {}).get("namespace", "")),
            object=f"{involved.get('kind', '')}/{involved.get('name', '')}", reason=str(event.get("reason", "")),
            message=str(event.get("message", ""))[:500], count=int(event.get("count") or 1)))
    return overview


def as_dict(overview: Overview) -> dict[str, Any]:
    """Plain data for schemas and templates, with the derived shares."""
    def resource(r: Resource) -> dict[str, Any]:
        return {"capacity": r.capacity, "allocatable": r.allocatable, "requested": r.requested,
                "requested_share": r.requested_share, "usage": r.usage, "usage_share": r.usage_share}

    return {
        "version": overview.version, "masters": vars(overview.masters), "nodes": vars(overview.nodes),
        "cpu": resource(overview.cpu), "memory": resource(overview.memory),
        "pods": {"capacity": overview.pod_capacity, "allocatable": overview.pod_allocatable,
                 "running": overview.pods_running, "total": overview.pods_total},
        "namespaces": overview.namespaces, "metrics_available": overview.metrics_available,
        "only_masters": overview.only_masters, "warnings": [vars(w) for w in overview.warnings],
        "notes": list(overview.notes), "generated_at": overview.generated_at,
    }
