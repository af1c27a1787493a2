"""CustomResourceDefinitions: creating one starts serving its kind, like the apiextensions server.

On every CRD change the served versions become :class:`ResourceType`\\ s in the
cluster's :class:`Registry` (so discovery, OpenAPI, the router and the store handle
them like built-ins), with their ``status``/``scale`` subresources and
``additionalPrinterColumns``; the CRD gets the ``NamesAccepted`` and
``Established`` conditions clients wait for. Deleting the CRD stops serving the
kind and deletes its objects.
"""

from __future__ import annotations

from typing import Any

from kubesim.resources import ALL_VERBS, Registry, ResourceType, Subresource, by_plural
from kubesim.store import Store, WatchEvent, now_iso

JSON = dict[str, Any]

__all__ = ["CRDS", "CrdController", "resource_types"]

CRDS = by_plural("customresourcedefinitions", "apiextensions.k8s.io")


def resource_types(crd: JSON) -> list[ResourceType]:
    """The resource types a CRD serves, one per served version."""
    spec = crd.get("spec", {})
    names = spec.get("names", {})
    group, plural, kind = spec.get("group", ""), names.get("plural", ""), names.get("kind", "")
    out = []
    for v in spec.get("versions") or []:
        if not v.get("served", True):
            continue
        subs = v.get("subresources") or {}
        subresources: list[Subresource] = []
        if "status" in subs:
            subresources.append(Subresource("status", kind, ("get", "patch", "update")))
        if "scale" in subs:
            subresources.append(Subresource("scale", "Scale", ("get", "patch", "update"), "autoscaling", "v1"))
        columns = tuple((c.get("name", ""), c.get("type", "string"), c.get("jsonPath", ""), int(c.get("priority", 0)))
                        for c in v.get("additionalPrinterColumns") or [])
        out.append(ResourceType(
            group, v.get("name", "v1"), plural, kind, spec.get("scope", "Namespaced") == "Namespaced",
            tuple(names.get("shortNames") or ()), tuple(names.get("categories") or ()), tuple(subresources),
            ALL_VERBS, has_status="status" in subs, printer_columns=columns, custom=True))
    return out


class CrdController:
    """Keeps a cluster's registry in step with its CustomResourceDefinitions."""

    def __init__(self, store: Store, registry: Registry) -> None:
        self.store = store
        self.registry = registry
        store.hooks.append(self.on_change)

    def on_change(self, ev: WatchEvent) -> None:
        if ev.key != CRDS.key:
            return
        spec = ev.obj.get("spec", {})
        group, plural = spec.get("group", ""), spec.get("names", {}).get("plural", "")
        removed = self.registry.remove(group, plural)
        if ev.type == "DELETED":
            if removed:
                rt = removed[0]
                for obj in self.store.list(rt)[0]:
                    meta = obj["metadata"]
                    if self.store.try_get(rt, meta.get("namespace", ""), meta["name"]) is not None:
                        self.store.delete(rt, meta.get("namespace", ""), meta["name"])
            return
        for rt in resource_types(ev.obj):
            self.registry.add(rt)
        self._establish(ev.obj)

    def _establish(self, crd: JSON) -> None:
        now = now_iso()
        spec = crd.get("spec", {})
        stored = [v.get("name", "") for v in spec.get("versions") or [] if v.get("storage")]

        def status(c: JSON) -> None:
            previous = {x["type"]: x for x in c.get("status", {}).get("conditions") or []}
            conditions = []
            for ctype, reason, message in (
                ("NamesAccepted", "NoConflicts", "no conflicts found"),
                ("Established", "InitialNamesAccepted", "the initial names have been accepted"),
            ):
                conditions.append(previous.get(ctype) or {"type": ctype, "status": "True", "reason": reason,
                                                          "message": message, "lastTransitionTime": now})
            c["status"] = {"conditions": conditions, "acceptedNames": dict(spec.get("names") or {}),
                           "storedVersions": stored or [v.get("name", "") for v in (spec.get("versions") or [])[:1]]}
        self.store.mutate(CRDS, "", crd["metadata"]["name"], status)
