"""Self-subject reviews: SelfSubjectAccessReview, SelfSubjectRulesReview, SelfSubjectReview.

``kubectl auth can-i`` posts its review protobuf-encoded and never retries in JSON;
:mod:`kubesim.protobuf` decodes it. Answers are always JSON.
"""

from __future__ import annotations

import json
from typing import Any

from kubesim import protobuf
from kubesim.authz import Attributes, Identity, Policy
from kubesim.errors import bad_request

JSON = dict[str, Any]

__all__ = ["PROTOBUF", "decode_body", "self_subject_access_review", "self_subject_review",
           "self_subject_rules_review", "subject_access_review", "token_review"]

PROTOBUF = "application/vnd.kubernetes.protobuf"


def decode_body(body: bytes, content_type: str) -> JSON:
    """A review body as JSON, whichever encoding the client chose."""
    if content_type.startswith(PROTOBUF):
        return protobuf.decode(body)
    try:
        data = json.loads(body or b"{}")
    except ValueError as e:
        raise bad_request(f"invalid JSON body: {e}") from e
    if not isinstance(data, dict):
        raise bad_request("body must be an object")
    return data


def subject_access_review(policy: Policy, review: JSON, namespace: str = "") -> JSON:
    """(Local)SubjectAccessReview: may the user and groups in the spec do this?"""
    spec = review.get("spec") or {}
    who = Identity(spec.get("user", ""), tuple(spec.get("groups") or ()), spec.get("uid", ""))
    if namespace:
        spec.setdefault("resourceAttributes", {})["namespace"] = namespace
    answer = self_subject_access_review(policy, who.with_authenticated(), review)
    answer["kind"] = review.get("kind") or ("LocalSubjectAccessReview" if namespace else "SubjectAccessReview")
    if namespace:
        answer["metadata"]["namespace"] = namespace
    return answer


def token_review(who: Identity | None, review: JSON, audiences: list[str] | None = None) -> JSON:
    """TokenReview: whose token is this (``who`` is None for an unknown, expired or wrong-audience token)?

    ``audiences`` are those of the review the token is valid for (status.audiences upstream).
    """
    status: JSON = {"authenticated": who is not None}
    if who is not None:
        status["user"] = {"username": who.user, "groups": list(who.with_authenticated().groups)}
        if who.uid:
            status["user"]["uid"] = who.uid
        status["audiences"] = audiences or (review.get("spec") or {}).get("audiences") or [
            "https://kubernetes.default.svc.cluster.local"]
    else:
        status["error"] = "invalid bearer token"
    return {"kind": "TokenReview", "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"creationTimestamp": None}, "spec": review.get("spec") or {}, "status": status}


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
