"""APIService objects (``apiregistration.k8s.io/v1``): what kube-aggregator registers.

A real API server keeps one APIService per served group version — "Local" ones for the
built-in groups (labelled ``kube-aggregator.kubernetes.io/automanaged: onstart``), one per
CRD group version (``automanaged: "true"``, by the crdRegistrationController) and
service-backed ones for aggregated servers such as metrics-server. ``kubectl get
apiservices`` lists them and tools read ``status.conditions[Available]``. kubesim serves
every group itself; the objects are kept in step with the registry so the listing reads
like a real cluster's.
"""

from __future__ import annotations

from typing import Any

from kubesim.resources import Registry, by_plural
from kubesim.store import Store, WatchEvent, now_iso

JSON = dict[str, Any]

__all__ = ["APISERVICES", "ApiServiceController", "local_priority"]

APISERVICES = by_plural("apiservices", "apiregistration.k8s.io")
_CRDS = by_plural("customresourcedefinitions", "apiextensions.k8s.io")

# (groupPriorityMinimum, versionPriority) from pkg/controlplane/apiserver/aggregator.go
# DefaultGenericAPIServicePriorities and cmd/kube-apiserver/app/aggregator.go apiVersionPriorities
_PRIORITIES: dict[tuple[str, str], tuple[int, int]] = {
    ("", "v1"): (18000, 1),
    ("events.k8s.io", "v1"): (17750, 15),
    ("authentication.k8s.io", "v1"): (17700, 15),
    ("authorization.k8s.io", "v1"): (17600, 15),
    ("apps", "v1"): (17800, 15),
    ("autoscaling", "v1"): (17500, 15),
    ("autoscaling", "v2"): (17500, 30),
    ("batch", "v1"): (17400, 15),
    ("certificates.k8s.io", "v1"): (17300, 15),
    ("networking.k8s.io", "v1"): (17200, 15),
    ("policy", "v1"): (17100, 15),
    ("rbac.authorization.k8s.io", "v1"): (17000, 15),
    ("storage.k8s.io", "v1"): (16800, 15),
    ("apiextensions.k8s.io", "v1"): (16700, 15),
    ("admissionregistration.k8s.io", "v1"): (16700, 15),
    ("scheduling.k8s.io", "v1"): (16600, 15),
    ("coordination.k8s.io", "v1"): (16500, 15),
    ("node.k8s.io", "v1"): (16300, 15),
    ("discovery.k8s.io", "v1"): (16200, 15),
    ("flowcontrol.apiserver.k8s.io", "v1"): (16100, 21),
    # not in those tables (the aggregator's own group); kubesim gives it the core's group priority
    ("apiregistration.k8s.io", "v1"): (18000, 15),
}
# the crdRegistrationController's fixed priorities (apiextensions CRDs have no table entry)
_CRD_PRIORITY = (1000, 100)
# metrics-server's manifest (components.yaml) registers v1beta1.metrics.k8s.io like this
_METRICS = ("metrics.k8s.io", "v1beta1")


def local_priority(group: str, version: str) -> tuple[int, int]:
    return _PRIORITIES.get((group, version), _CRD_PRIORITY)


def _name(group: str, version: str) -> str:
    return f"{version}.{group}"


def _available(reason: str, message: str) -> JSON:
    return {"conditions": [{"type": "Available", "status": "True", "lastTransitionTime": now_iso(),
                            "reason": reason, "message": message}]}


def _object(group: str, version: str, *, crd: bool) -> JSON:
    spec: JSON = {"version": version}
    if group:
        spec = {"group": group, **spec}
    if (group, version) == _METRICS:
        return {"metadata": {"name": _name(group, version), "labels": {"k8s-app": "metrics-server"}},
                "spec": {"service": {"namespace": "kube-system", "name": "metrics-server", "port": 443},
                         "group": group, "version": version, "insecureSkipTLSVerify": True,
                         "groupPriorityMinimum": 100, "versionPriority": 100},
                "status": _available("Passed", "all checks passed")}
    group_priority, version_priority = _CRD_PRIORITY if crd else local_priority(group, version)
    spec["groupPriorityMinimum"] = group_priority
    spec["versionPriority"] = version_priority
    return {"metadata": {"name": _name(group, version),
                         "labels": {"kube-aggregator.kubernetes.io/automanaged": "true" if crd else "onstart"}},
            "spec": spec, "status": _available("Local", "Local APIServices are always available")}


class ApiServiceController:
    """Seeds the built-in APIServices and follows CRDs' served versions with their own."""

    def __init__(self, store: Store, registry: Registry) -> None:
        self.store = store
        self.registry = registry
        store.hooks.append(self.on_change)

    def seed(self) -> None:
        seen: set[tuple[str, str]] = set()
        for rt in self.registry.all():
            if rt.custom or (rt.group, rt.version) in seen:
                continue
            seen.add((rt.group, rt.version))
            self._ensure(rt.group, rt.version, crd=False)

    def _ensure(self, group: str, version: str, *, crd: bool) -> None:
        if self.store.try_get(APISERVICES, "", _name(group, version)) is None:
            self.store.create(APISERVICES, _object(group, version, crd=crd))

    def on_change(self, ev: WatchEvent) -> None:
        if ev.key != _CRDS.key:
            return
        spec = ev.obj.get("spec", {})
        group = spec.get("group", "")
        versions = {v.get("name", "") for v in spec.get("versions") or [] if v.get("served", True)}
        versions_left: set[str] = set() if ev.type == "DELETED" else versions
        for version in versions_left:
            self._ensure(group, version, crd=True)
        # a version no other CRD of the group serves any more loses its APIService
        others = {v.get("name", "") for c in self.store.list(_CRDS)[0]
                  if c.get("spec", {}).get("group") == group and c["metadata"]["name"] != ev.obj["metadata"]["name"]
                  for v in c.get("spec", {}).get("versions") or [] if v.get("served", True)}
        for version in versions - versions_left - others:
            name = _name(group, version)
            current = self.store.try_get(APISERVICES, "", name)
            if current is not None and (current["metadata"].get("labels") or {}).get(
                    "kube-aggregator.kubernetes.io/automanaged") == "true":
                self.store.delete(APISERVICES, "", name)
