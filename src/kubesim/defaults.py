"""Defaulting and the little validation the simulator does on create and update.

The real API server fills many fields (service cluster IPs, deployment strategy,
pod template defaults, secret type); clients with strict models and kubectl's
printers rely on them, so objects leave the simulator looking like real ones.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from kubesim.errors import invalid
from kubesim.podutil import defaults_pod, defaults_pod_admission
from kubesim.resources import ResourceType

JSON = dict[str, Any]

__all__ = ["apply_defaults", "validate"]


def _pod_template(spec: JSON) -> None:
    tpl = spec.setdefault("template", {})
    tpl.setdefault("metadata", {})
    defaults_pod(tpl)


def _cluster_ip(obj: JSON) -> str:
    digest = hashlib.sha256(f"{obj['metadata'].get('namespace')}/{obj['metadata'].get('name')}".encode()).digest()
    return f"10.96.{digest[0]}.{1 + digest[1] % 254}"


def apply_defaults(rt: ResourceType, obj: JSON) -> JSON:
    """Return ``obj`` (changed in place) with the API server's defaults for its kind."""
    obj.setdefault("metadata", {})
    kind = rt.kind
    if kind == "Namespace":
        name = obj["metadata"].get("name", "")
        obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = name
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        obj["status"] = {"phase": "Active"}
    elif kind == "Service":
        spec = obj.setdefault("spec", {})
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
        if spec.get("clusterIP") != "None":
            spec.setdefault("clusterIP", _cluster_ip(obj))
            spec.setdefault("clusterIPs", [spec["clusterIP"]])
        for port in spec.get("ports") or []:
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port.get("port"))
        obj.setdefault("status", {"loadBalancer": {}})
    elif kind == "Pod":
        defaults_pod_admission(obj)
        obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
    elif kind == "Secret":
        obj.setdefault("type", "Opaque")
    elif kind == "Deployment":
        spec = obj.setdefault("spec", {})
        spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        if not spec.get("strategy"):
            spec["strategy"] = {"type": "RollingUpdate",
                                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}
        _pod_template(spec)
    elif kind in ("ReplicaSet", "StatefulSet"):
        spec = obj.setdefault("spec", {})
        spec.setdefault("replicas", 1)
        if kind == "StatefulSet":
            spec.setdefault("podManagementPolicy", "OrderedReady")
            spec.setdefault("revisionHistoryLimit", 10)
            if not spec.get("updateStrategy"):
                spec["updateStrategy"] = {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
        _pod_template(spec)
    elif kind == "Job":
        spec = obj.setdefault("spec", {})
        for key, value in (("completions", 1), ("parallelism", 1), ("backoffLimit", 6),
                           ("completionMode", "NonIndexed"), ("suspend", False),
                           ("podReplacementPolicy", "TerminatingOrFailed")):
            spec.setdefault(key, value)
        # upstream rejects a Job template without restartPolicy; kubesim picks Never instead
        spec.setdefault("template", {}).setdefault("spec", {}).setdefault("restartPolicy", "Never")
        _pod_template(spec)
    elif kind == "DaemonSet":
        spec = obj.setdefault("spec", {})
        spec.setdefault("revisionHistoryLimit", 10)
        if not spec.get("updateStrategy"):
            spec["updateStrategy"] = {"type": "RollingUpdate",
                                      "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}
        _pod_template(spec)
    elif kind == "ReplicationController":
        # pkg/apis/core/v1/defaults.go SetDefaults_ReplicationController: the selector and the
        # RC's own labels default to the template's labels, replicas to 1
        spec = obj.setdefault("spec", {})
        spec.setdefault("replicas", 1)
        template_labels = (spec.get("template") or {}).get("metadata", {}).get("labels") or {}
        if template_labels:
            if not spec.get("selector"):
                spec["selector"] = dict(template_labels)
            if not obj["metadata"].get("labels"):
                obj["metadata"]["labels"] = dict(template_labels)
        if spec.get("template") is not None:
            _pod_template(spec)
    elif kind == "PodDisruptionBudget":
        obj.setdefault("status", {"currentHealthy": 0, "desiredHealthy": 0, "disruptionsAllowed": 0,
                                  "expectedPods": 0, "observedGeneration": 0})
    elif kind == "ServiceAccount":
        pass
    return obj


def _field_value(m: JSON) -> str:
    """How field.Invalid renders a non-scalar value since apimachinery 1.32: compact JSON, sorted keys."""
    return json.dumps(m, sort_keys=True, separators=(",", ":"))


def validate(rt: ResourceType, obj: JSON) -> None:
    """Reject what the real API server certainly rejects (422 Invalid)."""
    name = obj.get("metadata", {}).get("name", "") or obj.get("metadata", {}).get("generateName", "")
    if rt.kind == "Pod":
        containers = obj.get("spec", {}).get("containers")
        if not containers:
            raise invalid(rt, name, "spec.containers", "Required value")
        for n, c in enumerate(containers):
            if not c.get("name"):
                raise invalid(rt, name, f"spec.containers[{n}].name", "Required value")
            if not c.get("image"):
                raise invalid(rt, name, f"spec.containers[{n}].image", "Required value")
    if rt.kind == "Job" and obj.get("spec", {}).get("template", {}).get("spec", {}).get("restartPolicy") == "Always":
        raise invalid(rt, name, "spec.template.spec.restartPolicy",
                      'Unsupported value: "Always": supported values: "OnFailure", "Never"')
    if rt.kind == "ReplicationController":
        # pkg/apis/core/validation/validation.go ValidateReplicationControllerSpec
        spec = obj.get("spec", {})
        selector = spec.get("selector") or {}
        if not selector:
            raise invalid(rt, name, "spec.selector", "Required value")
        if spec.get("template") is None:
            raise invalid(rt, name, "spec.template", "Required value")
        labels = spec["template"].get("metadata", {}).get("labels") or {}
        if any(labels.get(k) != v for k, v in selector.items()):
            raise invalid(rt, name, "spec.template.metadata.labels",
                          f"Invalid value: {_field_value(labels)}: `selector` does not match template `labels`")
    if rt.kind in ("Deployment", "ReplicaSet", "DaemonSet", "StatefulSet"):
        spec = obj.get("spec", {})
        selector = spec.get("selector")
        if not selector:
            raise invalid(rt, name, "spec.selector", "Required value")
        labels = spec.get("template", {}).get("metadata", {}).get("labels") or {}
        for k, v in (selector.get("matchLabels") or {}).items():
            if labels.get(k) != v:
                raise invalid(rt, name, "spec.template.metadata.labels",
                              "Invalid value: `selector` does not match template `labels`")
