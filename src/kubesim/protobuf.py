"""Decoding the Kubernetes protobuf request bodies kubectl sends, into JSON objects.

kubectl's typed clients (``create namespace|deployment|configmap|secret|…``,
``auth can-i``, ``create token``) post ``application/vnd.kubernetes.protobuf`` and
never retry in JSON after a 415. A body is ``k8s\\x00`` + ``runtime.Unknown``
{1: TypeMeta {1 apiVersion, 2 kind}, 2: raw object}. The raw object is decoded with
the field tables below — hand-written from the field numbers of the upstream
``generated.proto`` files for the kinds kubectl creates; fields without an entry
are skipped, so a body is never rejected for carrying something unusual.
Answers are always JSON.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from kubesim.errors import bad_request

JSON = dict[str, Any]
Fields = dict[int, list[bytes | int]]

__all__ = ["MAGIC", "decode", "parse_fields"]

MAGIC = b"k8s\x00"
_EPOCH = "1970-01-01T00:00:00Z"

# type notation: "s" string, "i" integer, "b" bool, "y" bytes (base64 in JSON), "t" Time,
# "q" Quantity, "n" IntOrString, "[]X" repeated, "{s}"/"{y}"/"{q}" map with string keys, else a
# message ("~X": inlined into the parent, as Go's embedded structs are in JSON). Go's non-pointer
# fields are always encoded, so their zero values are dropped (they mean "unset"); a "*" suffix
# marks pointer fields, whose zero is a real value (replicas: 0).
Spec = dict[int, tuple[str, str]]

_META: Spec = {
    1: ("name", "s"), 2: ("generateName", "s"), 3: ("namespace", "s"), 5: ("uid", "s"),
    6: ("resourceVersion", "s"), 7: ("generation", "i"), 8: ("creationTimestamp", "t"),
    11: ("labels", "{s}"), 12: ("annotations", "{s}"), 13: ("ownerReferences", "[]OwnerReference"),
    14: ("finalizers", "[]s"),
}

MESSAGES: dict[str, Spec] = {
    "ObjectMeta": _META,
    "OwnerReference": {1: ("kind", "s"), 3: ("name", "s"), 4: ("uid", "s"), 5: ("apiVersion", "s"),
                       6: ("controller", "b*"), 7: ("blockOwnerDeletion", "b*")},
    "LabelSelector": {1: ("matchLabels", "{s}"), 2: ("matchExpressions", "[]LabelSelectorRequirement")},
    "LabelSelectorRequirement": {1: ("key", "s"), 2: ("operator", "s"), 3: ("values", "[]s")},
    # core/v1
    "Namespace": {1: ("metadata", "ObjectMeta"), 2: ("spec", "NamespaceSpec")},
    "NamespaceSpec": {1: ("finalizers", "[]s")},
    "ConfigMap": {1: ("metadata", "ObjectMeta"), 2: ("data", "{s}"), 3: ("binaryData", "{y}"),
                  4: ("immutable", "b*")},
    "Secret": {1: ("metadata", "ObjectMeta"), 2: ("data", "{y}"), 3: ("type", "s"), 4: ("stringData", "{s}"),
               5: ("immutable", "b*")},
    "ServiceAccount": {1: ("metadata", "ObjectMeta"), 2: ("secrets", "[]ObjectReference"),
                       3: ("imagePullSecrets", "[]LocalObjectReference"),
                       4: ("automountServiceAccountToken", "b*")},
    "ObjectReference": {1: ("kind", "s"), 2: ("namespace", "s"), 3: ("name", "s"), 4: ("uid", "s"),
                        5: ("apiVersion", "s"), 6: ("resourceVersion", "s"), 7: ("fieldPath", "s")},
    "LocalObjectReference": {1: ("name", "s")},
    "Service": {1: ("metadata", "ObjectMeta"), 2: ("spec", "ServiceSpec")},
    "ServiceSpec": {1: ("ports", "[]ServicePort"), 2: ("selector", "{s}"), 3: ("clusterIP", "s"),
                    4: ("type", "s"), 5: ("externalIPs", "[]s"), 7: ("sessionAffinity", "s"),
                    10: ("externalName", "s")},
    "ServicePort": {1: ("name", "s"), 2: ("protocol", "s"), 3: ("port", "i"), 4: ("targetPort", "n"),
                    5: ("nodePort", "i"), 6: ("appProtocol", "s")},
    "Pod": {1: ("metadata", "ObjectMeta"), 2: ("spec", "PodSpec")},
    "PodTemplateSpec": {1: ("metadata", "ObjectMeta"), 2: ("spec", "PodSpec")},
    "PodSpec": {
        2: ("containers", "[]Container"), 3: ("restartPolicy", "s"), 4: ("terminationGracePeriodSeconds", "i*"),
        5: ("activeDeadlineSeconds", "i*"), 6: ("dnsPolicy", "s"), 7: ("nodeSelector", "{s}"),
        8: ("serviceAccountName", "s"), 9: ("serviceAccount", "s"), 10: ("nodeName", "s"),
        11: ("hostNetwork", "b"), 15: ("imagePullSecrets", "[]LocalObjectReference"), 16: ("hostname", "s"),
        19: ("schedulerName", "s"), 20: ("initContainers", "[]Container"), 22: ("tolerations", "[]Toleration"),
        24: ("priorityClassName", "s"), 25: ("priority", "i*"), 30: ("enableServiceLinks", "b*"),
        31: ("preemptionPolicy", "s"),
    },
    "Container": {
        1: ("name", "s"), 2: ("image", "s"), 3: ("command", "[]s"), 4: ("args", "[]s"), 5: ("workingDir", "s"),
        6: ("ports", "[]ContainerPort"), 7: ("env", "[]EnvVar"), 8: ("resources", "ResourceRequirements"),
        13: ("terminationMessagePath", "s"), 14: ("imagePullPolicy", "s"), 16: ("stdin", "b"),
        17: ("stdinOnce", "b"), 18: ("tty", "b"), 20: ("terminationMessagePolicy", "s"),
    },
    "ContainerPort": {1: ("name", "s"), 2: ("hostPort", "i"), 3: ("containerPort", "i"), 4: ("protocol", "s"),
                      5: ("hostIP", "s")},
    "EnvVar": {1: ("name", "s"), 2: ("value", "s")},
    "ResourceRequirements": {1: ("limits", "{q}"), 2: ("requests", "{q}")},
    "Toleration": {1: ("key", "s"), 2: ("operator", "s"), 3: ("value", "s"), 4: ("effect", "s"),
                   5: ("tolerationSeconds", "i*")},
    # apps/v1, batch/v1, policy/v1
    "Deployment": {1: ("metadata", "ObjectMeta"), 2: ("spec", "DeploymentSpec")},
    "DeploymentSpec": {1: ("replicas", "i*"), 2: ("selector", "LabelSelector"), 3: ("template", "PodTemplateSpec"),
                       4: ("strategy", "DeploymentStrategy"), 5: ("minReadySeconds", "i"),
                       6: ("revisionHistoryLimit", "i*"), 7: ("paused", "b"), 9: ("progressDeadlineSeconds", "i*")},
    "DeploymentStrategy": {1: ("type", "s"), 2: ("rollingUpdate", "RollingUpdateDeployment")},
    "RollingUpdateDeployment": {1: ("maxUnavailable", "n"), 2: ("maxSurge", "n")},
    "Job": {1: ("metadata", "ObjectMeta"), 2: ("spec", "JobSpec")},
    "JobSpec": {1: ("parallelism", "i*"), 2: ("completions", "i*"), 3: ("activeDeadlineSeconds", "i*"),
                4: ("selector", "LabelSelector"), 5: ("manualSelector", "b*"), 6: ("template", "PodTemplateSpec"),
                7: ("backoffLimit", "i*"), 8: ("ttlSecondsAfterFinished", "i*"), 9: ("completionMode", "s"),
                10: ("suspend", "b*")},
    "CronJob": {1: ("metadata", "ObjectMeta"), 2: ("spec", "CronJobSpec")},
    "CronJobSpec": {1: ("schedule", "s"), 2: ("startingDeadlineSeconds", "i*"), 3: ("concurrencyPolicy", "s"),
                    4: ("suspend", "b*"), 5: ("jobTemplate", "JobTemplateSpec"),
                    6: ("successfulJobsHistoryLimit", "i*"), 7: ("failedJobsHistoryLimit", "i*"),
                    8: ("timeZone", "s")},
    "JobTemplateSpec": {1: ("metadata", "ObjectMeta"), 2: ("spec", "JobSpec")},
    "HorizontalPodAutoscaler": {1: ("metadata", "ObjectMeta"), 2: ("spec", "HorizontalPodAutoscalerSpec")},
    "HorizontalPodAutoscalerSpec": {1: ("scaleTargetRef", "CrossVersionObjectReference"), 2: ("minReplicas", "i*"),
                                    3: ("maxReplicas", "i"), 4: ("metrics", "[]MetricSpec")},
    "CrossVersionObjectReference": {1: ("kind", "s"), 2: ("name", "s"), 3: ("apiVersion", "s")},
    "MetricSpec": {1: ("type", "s"), 4: ("resource", "ResourceMetricSource")},
    "ResourceMetricSource": {1: ("name", "s"), 2: ("target", "MetricTarget")},
    "MetricTarget": {1: ("type", "s"), 2: ("value", "q"), 3: ("averageValue", "q"), 4: ("averageUtilization", "i*")},
    "Ingress": {1: ("metadata", "ObjectMeta"), 2: ("spec", "IngressSpec")},
    "IngressSpec": {1: ("defaultBackend", "IngressBackend"), 2: ("tls", "[]IngressTLS"), 3: ("rules", "[]IngressRule"),
                    4: ("ingressClassName", "s")},
    "IngressTLS": {1: ("hosts", "[]s"), 2: ("secretName", "s")},
    "IngressRule": {1: ("host", "s"), 2: ("", "~IngressRuleValue")},
    "IngressRuleValue": {1: ("http", "HTTPIngressRuleValue")},
    "HTTPIngressRuleValue": {1: ("paths", "[]HTTPIngressPath")},
    "HTTPIngressPath": {1: ("path", "s"), 2: ("backend", "IngressBackend"), 3: ("pathType", "s")},
    "IngressBackend": {4: ("service", "IngressServiceBackend")},
    "IngressServiceBackend": {1: ("name", "s"), 2: ("port", "ServiceBackendPort")},
    "ServiceBackendPort": {1: ("name", "s"), 2: ("number", "i")},
    "ResourceQuota": {1: ("metadata", "ObjectMeta"), 2: ("spec", "ResourceQuotaSpec")},
    "ResourceQuotaSpec": {1: ("hard", "{q}"), 2: ("scopes", "[]s")},
    "PriorityClass": {1: ("metadata", "ObjectMeta"), 2: ("value", "i*"), 3: ("globalDefault", "b"),
                      4: ("description", "s"), 5: ("preemptionPolicy", "s")},
    "PodDisruptionBudget": {1: ("metadata", "ObjectMeta"), 2: ("spec", "PodDisruptionBudgetSpec")},
    "PodDisruptionBudgetSpec": {1: ("minAvailable", "n"), 2: ("selector", "LabelSelector"),
                                3: ("maxUnavailable", "n"), 4: ("unhealthyPodEvictionPolicy", "s")},
    "Eviction": {1: ("metadata", "ObjectMeta"), 2: ("deleteOptions", "DeleteOptions")},
    "DeleteOptions": {1: ("gracePeriodSeconds", "i*"), 3: ("orphanDependents", "b*"), 4: ("propagationPolicy", "s"),
                      5: ("dryRun", "[]s")},
    # rbac.authorization.k8s.io/v1
    "Role": {1: ("metadata", "ObjectMeta"), 2: ("rules", "[]PolicyRule")},
    "ClusterRole": {1: ("metadata", "ObjectMeta"), 2: ("rules", "[]PolicyRule")},
    "PolicyRule": {1: ("verbs", "[]s"), 2: ("apiGroups", "[]s"), 3: ("resources", "[]s"),
                   4: ("resourceNames", "[]s"), 5: ("nonResourceURLs", "[]s")},
    "RoleBinding": {1: ("metadata", "ObjectMeta"), 2: ("subjects", "[]Subject"), 3: ("roleRef", "RoleRef")},
    "ClusterRoleBinding": {1: ("metadata", "ObjectMeta"), 2: ("subjects", "[]Subject"), 3: ("roleRef", "RoleRef")},
    "Subject": {1: ("kind", "s"), 2: ("apiGroup", "s"), 3: ("name", "s"), 4: ("namespace", "s")},
    "RoleRef": {1: ("apiGroup", "s"), 2: ("kind", "s"), 3: ("name", "s")},
    # authentication / authorization reviews
    "TokenRequest": {1: ("metadata", "ObjectMeta"), 2: ("spec", "TokenRequestSpec")},
    "TokenRequestSpec": {1: ("audiences", "[]s"), 3: ("boundObjectRef", "BoundObjectReference"),
                         4: ("expirationSeconds", "i*")},
    "BoundObjectReference": {1: ("kind", "s"), 2: ("apiVersion", "s"), 3: ("name", "s"), 4: ("uid", "s")},
    "SelfSubjectAccessReview": {1: ("metadata", "ObjectMeta"), 2: ("spec", "SelfSubjectAccessReviewSpec")},
    "SelfSubjectAccessReviewSpec": {1: ("resourceAttributes", "ResourceAttributes"),
                                    2: ("nonResourceAttributes", "NonResourceAttributes")},
    "ResourceAttributes": {1: ("namespace", "s"), 2: ("verb", "s"), 3: ("group", "s"), 4: ("version", "s"),
                           5: ("resource", "s"), 6: ("subresource", "s"), 7: ("name", "s")},
    "NonResourceAttributes": {1: ("path", "s"), 2: ("verb", "s")},
    "SelfSubjectRulesReview": {1: ("metadata", "ObjectMeta"), 2: ("spec", "SelfSubjectRulesReviewSpec")},
    "SelfSubjectRulesReviewSpec": {1: ("namespace", "s")},
    "SelfSubjectReview": {1: ("metadata", "ObjectMeta")},
    # wrappers
    "Quantity": {1: ("string", "s")},
    "IntOrString": {1: ("type", "i"), 2: ("intVal", "i"), 3: ("strVal", "s")},
    "Time": {1: ("seconds", "i"), 2: ("nanos", "i")},
    "MapEntry": {1: ("key", "s"), 2: ("value", "y")},
}


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise bad_request("truncated protobuf varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def parse_fields(buf: bytes) -> Fields:
    """One protobuf message as field number -> values (bytes for length-delimited, else ints)."""
    out: Fields = {}
    pos = 0
    while pos < len(buf):
        tag, pos = _varint(buf, pos)
        num, wire = tag >> 3, tag & 7
        value: bytes | int
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 2:
            length, pos = _varint(buf, pos)
            value = buf[pos:pos + length]
            pos += length
        elif wire == 1:
            value, pos = int.from_bytes(buf[pos:pos + 8], "little"), pos + 8
        elif wire == 5:
            value, pos = int.from_bytes(buf[pos:pos + 4], "little"), pos + 4
        else:
            raise bad_request(f"unsupported protobuf wire type {wire}")
        out.setdefault(num, []).append(value)
    return out


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _scalar(kind: str, raw: bytes | int) -> Any:
    if kind == "s":
        return raw.decode() if isinstance(raw, bytes) else str(raw)
    if kind == "y":
        return base64.b64encode(raw if isinstance(raw, bytes) else b"").decode()
    if kind == "i":
        return _signed(raw) if isinstance(raw, int) else 0
    if kind == "b":
        return bool(raw)
    assert isinstance(raw, bytes)
    if kind == "q":
        return _message("Quantity", raw).get("string", "0")
    if kind == "n":
        v = _message("IntOrString", raw)
        return v.get("strVal", "") if v.get("type") == 1 else v.get("intVal", 0)
    if kind == "t":
        secs = _message("Time", raw).get("seconds", 0)
        return datetime.fromtimestamp(secs, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return _message(kind, raw)


def _message(name: str, raw: bytes) -> JSON:
    spec = MESSAGES.get(name, {})
    out: JSON = {}
    for num, values in parse_fields(raw).items():
        if num not in spec:
            continue
        key, kind = spec[num]
        if kind.startswith("~"):  # an embedded struct whose fields JSON inlines into the parent
            raw_value = values[-1]
            out.update(_message(kind[1:], raw_value if isinstance(raw_value, bytes) else b""))
        elif kind.startswith("{"):
            value_kind = kind[1:-1]
            entries = {}
            for entry in values:
                f = parse_fields(entry if isinstance(entry, bytes) else b"")
                k = _scalar("s", f.get(1, [b""])[0])
                entries[k] = _scalar(value_kind, f.get(2, [b""])[0])
            out[key] = entries
        elif kind.startswith("[]"):
            out[key] = [_scalar(kind[2:], v) for v in values]
        else:
            pointer = kind.endswith("*")
            value = _scalar(kind.rstrip("*"), values[-1])
            if pointer or value not in ("", 0, False, _EPOCH):
                out[key] = value
    return out


def decode(body: bytes) -> JSON:
    """A protobuf-encoded Kubernetes object as the equivalent JSON object."""
    if not body.startswith(MAGIC):
        raise bad_request("protobuf body without the k8s envelope")
    unknown = parse_fields(body[len(MAGIC):])
    type_meta_raw = unknown.get(1, [b""])[0]
    type_meta = parse_fields(type_meta_raw if isinstance(type_meta_raw, bytes) else b"")
    api_version = _scalar("s", type_meta.get(1, [b""])[0])
    kind = _scalar("s", type_meta.get(2, [b""])[0])
    raw = unknown.get(2, [b""])[0]
    obj = _message(kind, raw if isinstance(raw, bytes) else b"")
    obj.setdefault("metadata", {})
    return {"kind": kind, "apiVersion": api_version, **obj}
