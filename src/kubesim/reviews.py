"""Self-subject reviews: SelfSubjectAccessReview, SelfSubjectRulesReview, SelfSubjectReview.

``kubectl auth can-i`` posts its review protobuf-encoded (``k8s\\x00`` + a
``runtime.Unknown`` envelope) and never retries in JSON, so this module carries a
minimal protobuf reader for exactly those messages. Answers are always JSON.
"""

from __future__ import annotations

import json
from typing import Any

from kubesim.authz import Attributes, Identity, Policy
from kubesim.errors import bad_request

JSON = dict[str, Any]

__all__ = ["PROTOBUF", "decode_body", "self_subject_access_review", "self_subject_review",
           "self_subject_rules_review"]

PROTOBUF = "application/vnd.kubernetes.protobuf"
_MAGIC = b"k8s\x00"


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


def _fields(buf: bytes) -> dict[int, list[bytes | int]]:
    """Parse one protobuf message into field number -> values (bytes or ints)."""
    out: dict[int, list[bytes | int]] = {}
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
            value = int.from_bytes(buf[pos:pos + 8], "little")
            pos += 8
        elif wire == 5:
            value = int.from_bytes(buf[pos:pos + 4], "little")
            pos += 4
        else:
            raise bad_request(f"unsupported protobuf wire type {wire}")
        out.setdefault(num, []).append(value)
    return out


def _str(fields: dict[int, list[bytes | int]], num: int) -> str:
    v = fields.get(num, [b""])[0]
    return v.decode() if isinstance(v, bytes) else str(v)


def _msg(fields: dict[int, list[bytes | int]], num: int) -> dict[int, list[bytes | int]] | None:
    v = fields.get(num)
    if not v or not isinstance(v[0], bytes):
        return None
    return _fields(v[0])


def _decode_protobuf(body: bytes) -> JSON:
    if not body.startswith(_MAGIC):
        raise bad_request("protobuf body without the k8s envelope")
    unknown = _fields(body[len(_MAGIC):])
    type_meta = _msg(unknown, 1) or {}
    kind = _str(type_meta, 2)
    raw = unknown.get(2, [b""])[0]
    obj = _fields(raw if isinstance(raw, bytes) else b"")
    spec = _msg(obj, 2) or {}
    out: JSON = {"kind": kind, "apiVersion": _str(type_meta, 1), "metadata": {}}
    if kind == "SelfSubjectAccessReview":
        s: JSON = {}
        ra = _msg(spec, 1)
        if ra is not None:
            s["resourceAttributes"] = {k: _str(ra, n) for n, k in enumerate(
                ("namespace", "verb", "group", "version", "resource", "subresource", "name"), start=1)}
        nra = _msg(spec, 2)
        if nra is not None:
            s["nonResourceAttributes"] = {"path": _str(nra, 1), "verb": _str(nra, 2)}
        out["spec"] = s
    elif kind == "SelfSubjectRulesReview":
        out["spec"] = {"namespace": _str(spec, 1)}
    else:
        out["spec"] = {}
    return out


def decode_body(body: bytes, content_type: str) -> JSON:
    """A review body as JSON, whichever encoding the client chose."""
    if content_type.startswith(PROTOBUF):
        return _decode_protobuf(body)
    try:
        data = json.loads(body or b"{}")
    except ValueError as e:
        raise bad_request(f"invalid JSON body: {e}") from e
    if not isinstance(data, dict):
        raise bad_request("body must be an object")
    return data


def self_subject_access_review(policy: Policy, who: Identity, review: JSON) -> JSON:
    spec = review.get("spec") or {}
    ra = spec.get("resourceAttributes")
    nra = spec.get("nonResourceAttributes")
    if ra:
        resource = ra.get("resource", "")
        if ra.get("subresource"):
            resource = f"{resource}/{ra['subresource']}"
        attrs = Attributes(ra.get("verb", ""), ra.get("group", ""), resource or "*",
                           ra.get("namespace", ""), ra.get("name", ""))
    elif nra:
        attrs = Attributes(nra.get("verb", ""), path=nra.get("path", ""))
    else:
        raise bad_request("spec.resourceAttributes or spec.nonResourceAttributes is required")
    allowed = policy.allows(who, attrs)
    status: JSON = {"allowed": allowed}
    if allowed:
        status["reason"] = "allowed by kubesim policy"
    return {"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
            "metadata": {"creationTimestamp": None}, "spec": spec, "status": status}


def self_subject_rules_review(policy: Policy, who: Identity, review: JSON) -> JSON:
    namespace = (review.get("spec") or {}).get("namespace", "")
    resource_rules: list[JSON] = []
    non_resource_rules: list[JSON] = []
    for rule in policy.rules_for(who):
        if rule.non_resource_urls:
            non_resource_rules.append({"verbs": list(rule.verbs), "nonResourceURLs": list(rule.non_resource_urls)})
        if rule.resources and (rule.namespaces is None or namespace in rule.namespaces):
            resource_rules.append(rule.as_resource_rule())
    return {"kind": "SelfSubjectRulesReview", "apiVersion": "authorization.k8s.io/v1",
            "metadata": {"creationTimestamp": None}, "spec": {"namespace": namespace},
            "status": {"resourceRules": resource_rules, "nonResourceRules": non_resource_rules,
                       "incomplete": False}}


def self_subject_review(who: Identity) -> JSON:
    user: JSON = {"username": who.user, "groups": list(who.groups)}
    if who.uid:
        user["uid"] = who.uid
    return {"kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"creationTimestamp": None}, "status": {"userInfo": user}}
