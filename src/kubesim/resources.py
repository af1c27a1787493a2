"""Declarations of every resource kind the simulator serves.

Adding a kind is one :class:`ResourceType` line in :data:`RESOURCES`: the store keeps
it generically, discovery and OpenAPI list it, the router serves the standard verbs,
and the table printer falls back to NAME/AGE unless ``tables.py`` knows better.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

__all__ = [
    "ALL_VERBS",
    "RESOURCES",
    "Registry",
    "ResourceType",
    "Subresource",
    "by_plural",
    "find",
    "groups",
]

ALL_VERBS: tuple[str, ...] = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
CLUSTER_VERBS = ALL_VERBS


@dataclass(frozen=True)
class Subresource:
    """A subresource such as ``pods/log``; group/version/kind describe its body."""

    name: str
    kind: str
    verbs: tuple[str, ...]
    group: str = ""
    version: str = ""


@dataclass(frozen=True)
class ResourceType:
    """One served resource: where it lives in the API and how discovery describes it."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[Subresource, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    stored: bool = True
    has_status: bool = field(default=False)
    # custom resources: additionalPrinterColumns as (name, type, jsonPath, priority)
    printer_columns: tuple[tuple[str, str, str, int], ...] = ()
    custom: bool = False
    # another resource's bucket this one is a view of (events.k8s.io events are core events)
    storage: str = ""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> str:
        """Storage key: one bucket per group and plural, whatever the version."""
        return self.storage or f"{self.group}/{self.plural}"

    @property
    def qualified(self) -> str:
        """The name used in error messages (``pods``, ``deployments.apps``)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    def subresource(self, name: str) -> Subresource | None:
        for sub in self.subresources:
            if sub.name == name:
                return sub
        return None


def _status(kind: str) -> Subresource:
    return Subresource("status", kind, ("get", "patch", "update"))


_SCALE = Subresource("scale", "Scale", ("get", "patch", "update"), "autoscaling", "v1")

RESOURCES: tuple[ResourceType, ...] = (
    ResourceType("", "v1", "namespaces", "Namespace", False, ("ns",), (),
                 (_status("Namespace"), Subresource("finalize", "Namespace", ("update",))),
                 ("create", "delete", "get", "list", "patch", "update", "watch"), has_status=True),
    ResourceType("", "v1", "nodes", "Node", False, ("no",), (),
                 (_status("Node"), Subresource("proxy", "NodeProxyOptions", ("create", "get"))), has_status=True),
    ResourceType("", "v1", "pods", "Pod", True, ("po",), ("all",), (
        _status("Pod"),
        Subresource("log", "Pod", ("get",)),
        Subresource("exec", "PodExecOptions", ("create", "get")),
        Subresource("attach", "PodAttachOptions", ("create", "get")),
        Subresource("portforward", "PodPortForwardOptions", ("create", "get")),
        Subresource("binding", "Binding", ("create",)),
        Subresource("eviction", "Eviction", ("create",), "policy", "v1"),
    ), has_status=True),
    ResourceType("", "v1", "services", "Service", True, ("svc",), ("all",), (_status("Service"),),
                 ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"),
                 has_status=True),
    ResourceType("", "v1", "endpoints", "Endpoints", True, ("ep",)),
    ResourceType("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", True),
    ResourceType("", "v1", "configmaps", "ConfigMap", True, ("cm",)),
    ResourceType("", "v1", "secrets", "Secret", True),
    ResourceType("", "v1", "serviceaccounts", "ServiceAccount", True, ("sa",), (),
                 (Subresource("token", "TokenRequest", ("create",), "authentication.k8s.io", "v1"),)),
    ResourceType("", "v1", "events", "Event", True, ("ev",)),
    ResourceType("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", True, ("pvc",), (),
                 (_status("PersistentVolumeClaim"),), has_status=True),
    ResourceType("", "v1", "persistentvolumes", "PersistentVolume", False, ("pv",), (),
                 (_status("PersistentVolume"),), has_status=True),
    ResourceType("", "v1", "resourcequotas", "ResourceQuota", True, ("quota",), (),
                 (_status("ResourceQuota"),), has_status=True),
    ResourceType("", "v1", "limitranges", "LimitRange", True, ("limits",)),
    ResourceType("", "v1", "podtemplates", "PodTemplate", True),
    ResourceType("", "v1", "replicationcontrollers", "ReplicationController", True, ("rc",), ("all",),
                 (_status("ReplicationController"), _SCALE), has_status=True),
    ResourceType("storage.k8s.io", "v1", "storageclasses", "StorageClass", False, ("sc",)),
    ResourceType("networking.k8s.io", "v1", "ingresses", "Ingress", True, ("ing",), (), (_status("Ingress"),),
                 has_status=True),
    ResourceType("networking.k8s.io", "v1", "ingressclasses", "IngressClass", False),
    ResourceType("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", True, ("netpol",)),
    ResourceType("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", True, ("hpa",),
                 ("all",), (_status("HorizontalPodAutoscaler"),), has_status=True),
    ResourceType("batch", "v1", "cronjobs", "CronJob", True, ("cj",), ("all",), (_status("CronJob"),),
                 has_status=True),
    ResourceType("scheduling.k8s.io", "v1", "priorityclasses", "PriorityClass", False, ("pc",)),
    ResourceType("apps", "v1", "deployments", "Deployment", True, ("deploy",), ("all",),
                 (_status("Deployment"), _SCALE), has_status=True),
    ResourceType("apps", "v1", "replicasets", "ReplicaSet", True, ("rs",), ("all",),
                 (_status("ReplicaSet"), _SCALE), has_status=True),
    ResourceType("apps", "v1", "daemonsets", "DaemonSet", True, ("ds",), ("all",),
                 (_status("DaemonSet"),), has_status=True),
    ResourceType("apps", "v1", "statefulsets", "StatefulSet", True, ("sts",), ("all",),
                 (_status("StatefulSet"), _SCALE), has_status=True),
    ResourceType("batch", "v1", "jobs", "Job", True, (), ("all",), (_status("Job"),), has_status=True),
    ResourceType("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", True, ("pdb",), (),
                 (_status("PodDisruptionBudget"),), has_status=True),
    ResourceType("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False),
    ResourceType("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False),
    ResourceType("rbac.authorization.k8s.io", "v1", "roles", "Role", True),
    ResourceType("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True),
    ResourceType("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", False,
                 ("crd", "crds"), ("api-extensions",), (_status("CustomResourceDefinition"),), has_status=True),
    ResourceType("coordination.k8s.io", "v1", "leases", "Lease", True),
    ResourceType("apiregistration.k8s.io", "v1", "apiservices", "APIService", False, (), ("api-extensions",),
                 (_status("APIService"),), has_status=True),
    ResourceType("events.k8s.io", "v1", "events", "Event", True, ("ev",), storage="/events"),
    ResourceType("metrics.k8s.io", "v1beta1", "nodes", "NodeMetrics", False, verbs=("get", "list"), stored=False),
    ResourceType("metrics.k8s.io", "v1beta1", "pods", "PodMetrics", True, verbs=("get", "list"), stored=False),
    ResourceType("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview", False,
                 verbs=("create",), stored=False),
    ResourceType("authorization.k8s.io", "v1", "selfsubjectrulesreviews", "SelfSubjectRulesReview", False,
                 verbs=("create",), stored=False),
    ResourceType("authorization.k8s.io", "v1", "subjectaccessreviews", "SubjectAccessReview", False,
                 verbs=("create",), stored=False),
    ResourceType("authorization.k8s.io", "v1", "localsubjectaccessreviews", "LocalSubjectAccessReview", True,
                 verbs=("create",), stored=False),
    ResourceType("authentication.k8s.io", "v1", "tokenreviews", "TokenReview", False,
                 verbs=("create",), stored=False),
    ResourceType("authentication.k8s.io", "v1", "selfsubjectreviews", "SelfSubjectReview", False,
                 verbs=("create",), stored=False),
)

_INDEX: dict[tuple[str, str, str], ResourceType] = {(r.group, r.version, r.plural): r for r in RESOURCES}


def find(group: str, version: str, plural: str) -> ResourceType | None:
    """The resource served at ``/apis/<group>/<version>/<plural>`` (``""`` group = core)."""
    return _INDEX.get((group, version, plural))


def by_plural(plural: str, group: str = "") -> ResourceType:
    """Look a declared resource up by plural (and group); raises KeyError if unknown."""
    for r in RESOURCES:
        if r.plural == plural and r.group == group:
            return r
    raise KeyError(f"{plural}.{group}")


def groups() -> dict[str, list[str]]:
    """Named API groups and their versions, in declaration order (core excluded)."""
    out: dict[str, list[str]] = {}
    for r in RESOURCES:
        if r.group and r.version not in out.setdefault(r.group, []):
            out[r.group].append(r.version)
    return out


class Registry:
    """The resources one virtual cluster serves: the built-ins plus its CustomResourceDefinitions."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._custom: dict[tuple[str, str, str], ResourceType] = {}

    def all(self) -> list[ResourceType]:
        with self._lock:
            return [*RESOURCES, *self._custom.values()]

    def find(self, group: str, version: str, plural: str) -> ResourceType | None:
        found = _INDEX.get((group, version, plural))
        if found is not None:
            return found
        with self._lock:
            return self._custom.get((group, version, plural))

    def groups(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for r in self.all():
            if r.group and r.version not in out.setdefault(r.group, []):
                out[r.group].append(r.version)
        return out

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return [r for r in self.all() if r.group == group and r.version == version]

    def add(self, rt: ResourceType) -> None:
        with self._lock:
            self._custom[(rt.group, rt.version, rt.plural)] = rt

    def remove(self, group: str, plural: str) -> list[ResourceType]:
        with self._lock:
            gone = [k for k in self._custom if k[0] == group and k[2] == plural]
            return [self._custom.pop(k) for k in gone]
