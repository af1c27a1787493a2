"""The resource verbs: get, list, create, update, patch, delete and the simple subresources.

Called by the router (``server.py``) once a request is authenticated and
authorised; each function returns ``(http_code, json_body)`` or raises
:class:`~kubesim.errors.ApiError`. Streaming verbs (watch, log follow, exec) live
in ``streams.py`` and ``exec.py``.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import yaml

from kubesim import metrics
from kubesim import patch as patching
from kubesim.authz import Identity
from kubesim.cluster import API_AUDIENCE, TokenBinding, VirtualCluster
from kubesim.conversion import from_storage, needs_conversion, storage_type, to_storage
from kubesim.defaults import apply_defaults, validate
from kubesim.errors import (
    ApiError,
    bad_request,
    method_not_allowed,
    not_found,
    status_success,
    too_many_requests,
    unsupported_media_type,
)
from kubesim.podutil import desired_healthy, pod_is_ready
from kubesim.resources import ResourceType, by_plural
from kubesim.reviews import (
    decode_body,
    self_subject_access_review,
    self_subject_review,
    self_subject_rules_review,
    subject_access_review,
    token_review,
)
from kubesim.selectors import Predicate, parse_field_selector, parse_label_selector, selector_from_spec
from kubesim.store import check_namespace
from kubesim.tables import table_for

JSON = dict[str, Any]
Reply = tuple[int, JSON]

__all__ = ["Call", "Reply", "handle", "wants_table"]

NAMESPACES = by_plural("namespaces")
PODS = by_plural("pods")
PDBS = by_plural("poddisruptionbudgets", "policy")
# kinds whose DELETE answers with the deleted object instead of a Status (as upstream)
_RETURNS_DELETED = {"pods", "services"}


@dataclass
class Call:
    """One authenticated resource request, parsed."""

    cluster: VirtualCluster
    who: Identity
    method: str
    rt: ResourceType
    namespace: str
    name: str
    subresource: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes = b""

    def q(self, key: str, default: str = "") -> str:
        values = self.query.get(key)
        return values[0] if values else default

    def flag(self, key: str) -> bool:
        return self.q(key).lower() in ("true", "1")

    @property
    def dry_run(self) -> bool:
        return bool(self.query.get("dryRun"))


def wants_table(headers: dict[str, str]) -> bool:
    return "as=Table" in headers.get("accept", "")


def parse_body(call: Call) -> JSON:
    ctype = call.headers.get("content-type", "application/json").split(";")[0].strip()
    if ctype.startswith("application/vnd.kubernetes.protobuf"):
        return decode_body(call.body, ctype)
    try:
        if ctype in ("application/yaml", "application/apply-patch+yaml"):
            data = yaml.safe_load(call.body or b"{}")
        elif ctype.endswith("json") or ctype in ("", "text/plain"):
            data = json.loads(call.body or b"{}")
        else:
            raise unsupported_media_type(ctype)
    except (ValueError, yaml.YAMLError) as e:
        raise bad_request(f"error decoding request body: {e}") from e
    if not isinstance(data, dict | list):
        raise bad_request("request body must be a JSON object")
    return data  # type: ignore[return-value]


def _predicate(call: Call) -> Predicate | None:
    label = parse_label_selector(call.q("labelSelector"))
    fields = parse_field_selector(call.q("fieldSelector"))
    if label and fields:
        return lambda o: label(o) and fields(o)
    return label or fields


def _render(call: Call, obj: JSON) -> JSON:
    if wants_table(call.headers):
        return table_for(call.rt, [obj], include=call.q("includeObject", "Metadata"),
                         list_meta={"resourceVersion": obj["metadata"].get("resourceVersion", "")})
    return obj


# --- read ------------------------------------------------------------------------------

def get(call: Call) -> Reply:
    return 200, _render(call, call.cluster.store.get(call.rt, call.namespace, call.name))


def list_(call: Call) -> Reply:
    items, rv = call.cluster.store.list(call.rt, call.namespace or None, _predicate(call))
    limit = int(call.q("limit", "0") or 0)
    token = call.q("continue")
    if token:
        try:
            start = json.loads(base64.urlsafe_b64decode(token.encode()))
        except ValueError as e:
            raise bad_request("invalid continue token") from e
        after = (start.get("ns", ""), start.get("name", ""))
        items = [i for i in items if (i["metadata"].get("namespace", ""), i["metadata"]["name"]) > after]
        rv = int(start.get("rv", rv))
    meta: JSON = {"resourceVersion": str(rv)}
    if limit and len(items) > limit:
        last = items[limit - 1]["metadata"]
        meta["continue"] = base64.urlsafe_b64encode(json.dumps(
            {"ns": last.get("namespace", ""), "name": last["name"], "rv": rv}).encode()).decode()
        meta["remainingItemCount"] = len(items) - limit
        items = items[:limit]
    if wants_table(call.headers):
        return 200, table_for(call.rt, items, include=call.q("includeObject", "Metadata"), list_meta=meta)
    return 200, {"kind": call.rt.list_kind, "apiVersion": call.rt.api_version, "metadata": meta, "items": items}


# --- write -----------------------------------------------------------------------------

def _prepare(call: Call, obj: JSON, *, for_create: bool) -> JSON:
    if not isinstance(obj, dict):
        raise bad_request("request body must be an object")
    kind = obj.get("kind")
    if kind and kind != call.rt.kind:
        raise bad_request(f"the API version in the data ({obj.get('apiVersion')}) and kind ({kind}) do not "
                          f"match the resource {call.rt.qualified}")
    meta = obj.setdefault("metadata", {})
    if call.rt.namespaced:
        body_ns = meta.get("namespace")
        if body_ns and call.namespace and body_ns != call.namespace:
            raise bad_request("the namespace of the provided object does not match the namespace sent on the "
                              "request")
        meta["namespace"] = call.namespace or body_ns or "default"
    if for_create:
        obj = apply_defaults(call.rt, obj)
    validate(call.rt, obj)
    return obj


def create(call: Call) -> Reply:
    body = parse_body(call)
    assert isinstance(body, dict)
    store = call.cluster.store
    if call.rt.namespaced:
        check_namespace(store, NAMESPACES, call.namespace or body.get("metadata", {}).get("namespace", "default"))
    obj = _prepare(call, body, for_create=True)
    if call.rt.plural == "namespaces":
        if call.dry_run:
            return 201, obj
        created = call.cluster.create_namespace(obj["metadata"]["name"], obj["metadata"].get("labels"))
        extra = {k: v for k, v in obj["metadata"].items() if k in ("annotations",)}
        if extra:
            created = store.mutate(NAMESPACES, "", created["metadata"]["name"],
                                   lambda n: n["metadata"].update(copy.deepcopy(extra)))
        return 201, created
    if call.dry_run:
        obj.setdefault("kind", call.rt.kind)
        obj.setdefault("apiVersion", call.rt.api_version)
        return 201, obj
    return 201, store.create(call.rt, obj, call.namespace)


def update(call: Call) -> Reply:
    body = parse_body(call)
    assert isinstance(body, dict)
    if body.get("metadata", {}).get("name", call.name) != call.name:
        raise bad_request("the name of the object does not match the name on the URL")
    body.setdefault("metadata", {})["name"] = call.name
    obj = _prepare(call, body, for_create=False)
    if call.dry_run:
        return 200, obj
    return 200, call.cluster.store.update(call.rt, obj, subresource=call.subresource)


def _patched(call: Call, current: JSON) -> JSON:
    ctype = call.headers.get("content-type", "").split(";")[0].strip()
    patch_body = parse_body(call)
    if ctype == "application/merge-patch+json":
        result = patching.merge_patch(current, patch_body)
    elif ctype == "application/strategic-merge-patch+json":
        result = patching.strategic_merge(current, patch_body)
    elif ctype == "application/json-patch+json":
        result = patching.json_patch(current, patch_body)
    elif ctype == "application/apply-patch+yaml":
        assert isinstance(patch_body, dict)
        result = patching.apply_patch(current, patch_body)
    else:
        raise unsupported_media_type(ctype)
    if not isinstance(result, dict):
        raise bad_request("patch result is not an object")
    return result


def patch(call: Call) -> Reply:
    # read, patch and write under the store lock: the API server retries patches on
    # conflicts internally, so a concurrent writer must never turn a PATCH into a 409
    with call.cluster.store.locked():
        return _patch_locked(call)


def _patch_locked(call: Call) -> Reply:
    store = call.cluster.store
    ctype = call.headers.get("content-type", "").split(";")[0].strip()
    current = store.try_get(call.rt, call.namespace, call.name)
    if current is None:
        if ctype == "application/apply-patch+yaml" and not call.subresource:
            body = parse_body(call)
            assert isinstance(body, dict)
            body.setdefault("metadata", {})["name"] = call.name
            call.body = json.dumps(body).encode()
            call.headers = {**call.headers, "content-type": "application/json"}
            return create(call)
        raise not_found(call.rt, call.name)
    result = _patched(call, current)
    given_rv = result.get("metadata", {}).get("resourceVersion")
    check = bool(given_rv) and given_rv != current["metadata"]["resourceVersion"]
    result.setdefault("metadata", {})["name"] = call.name
    if call.rt.namespaced:
        result["metadata"]["namespace"] = call.namespace
    if not check:
        result["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
    validate(call.rt, result)
    if call.dry_run:
        return 200, result
    return 200, store.update(call.rt, result, subresource="status" if call.subresource == "status" else "")


def delete(call: Call) -> Reply:
    store = call.cluster.store
    obj = store.get(call.rt, call.namespace, call.name)
    if call.dry_run:
        return 200, obj
    if call.rt.plural == "namespaces":
        _delete_namespace_contents(call.cluster, call.name)
    if call.rt.plural == "pods":
        return 200, call.cluster.simulation.terminate_pod(call.namespace, call.name, _grace_period(call))
    gone = store.delete(call.rt, call.namespace, call.name)
    if call.rt.plural in _RETURNS_DELETED:
        return 200, gone
    details = {"name": call.name, "group": call.rt.group, "kind": call.rt.plural, "uid": gone["metadata"]["uid"]}
    return 200, status_success(details, code=0)


def _grace_period(call: Call) -> int | None:
    """gracePeriodSeconds from the query or a JSON DeleteOptions body (protobuf bodies are ignored)."""
    if call.q("gracePeriodSeconds"):
        return int(call.q("gracePeriodSeconds"))
    if call.body and call.headers.get("content-type", "").startswith("application/json"):
        options = json.loads(call.body)
        if isinstance(options, dict) and options.get("gracePeriodSeconds") is not None:
            return int(options["gracePeriodSeconds"])
    return None


def _delete_namespace_contents(cluster: VirtualCluster, namespace: str) -> None:
    for rt in cluster.registry.all():
        if rt.namespaced and rt.stored:
            for obj in cluster.store.list(rt, namespace)[0]:
                if cluster.store.try_get(rt, namespace, obj["metadata"]["name"]) is not None:
                    cluster.store.delete(rt, namespace, obj["metadata"]["name"])


def delete_collection(call: Call) -> Reply:
    store = call.cluster.store
    items, _ = store.list(call.rt, call.namespace or None, _predicate(call))
    gone = []
    for obj in items:
        if not call.dry_run and store.try_get(call.rt, obj["metadata"].get("namespace", ""),
                                              obj["metadata"]["name"]) is not None:
            gone.append(store.delete(call.rt, obj["metadata"].get("namespace", ""), obj["metadata"]["name"]))
    return 200, {"kind": call.rt.list_kind, "apiVersion": call.rt.api_version,
                 "metadata": {"resourceVersion": str(store.resource_version)}, "items": gone}


# --- subresources ----------------------------------------------------------------------

def evict(call: Call) -> Reply:
    """pods/eviction: delete the pod unless a PodDisruptionBudget forbids it (429)."""
    store = call.cluster.store
    pod = store.get(PODS, call.namespace, call.name)
    for pdb in store.list(PDBS, call.namespace)[0]:
        matches = selector_from_spec(pdb.get("spec", {}).get("selector"))
        pods = [p for p in store.list(PODS, call.namespace)[0]
                if matches(p) and not p["metadata"].get("deletionTimestamp")]
        if pod not in pods:
            continue
        healthy = sum(1 for p in pods if pod_is_ready(p))
        desired = desired_healthy(pdb, len(pods))
        if pod_is_ready(pod) and healthy - 1 < desired:
            pdb_name = pdb["metadata"]["name"]
            raise too_many_requests(
                "Cannot evict pod as it would violate the pod's disruption budget.",
                [{"reason": "DisruptionBudget",
                  "message": f"The disruption budget {pdb_name} needs {desired} healthy pods and has "
                             f"{healthy} currently"}])
    if not call.dry_run:
        body = parse_body(call) if call.body else {}
        options = body.get("deleteOptions") if isinstance(body, dict) else None
        grace = (options or {}).get("gracePeriodSeconds")
        call.cluster.simulation.terminate_pod(call.namespace, call.name, None if grace is None else int(grace))
    return 201, status_success(code=201)


def bind(call: Call) -> Reply:
    body = parse_body(call)
    assert isinstance(body, dict)
    target = (body.get("target") or {}).get("name")
    if not target:
        raise bad_request("binding target is required")
    call.cluster.simulation.bind(call.namespace, call.name, target)
    return 201, status_success(code=201)


def _scale_of(obj: JSON) -> JSON:
    """autoscaling/v1 Scale; a ReplicationController's selector is a plain label map, not a LabelSelector."""
    selector = obj.get("spec", {}).get("selector") or {}
    labels = selector if obj.get("kind") == "ReplicationController" else selector.get("matchLabels") or {}
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {k: obj["metadata"][k] for k in ("name", "namespace", "uid", "resourceVersion",
                                                          "creationTimestamp") if k in obj["metadata"]},
            "spec": {"replicas": obj.get("spec", {}).get("replicas", 1)},
            "status": {"replicas": obj.get("status", {}).get("replicas", 0),
                       "selector": ",".join(f"{k}={v}" for k, v in labels.items())}}


def scale(call: Call) -> Reply:
    store = call.cluster.store
    obj = store.get(call.rt, call.namespace, call.name)
    if call.method == "GET":
        return 200, _scale_of(obj)
    if call.method == "PUT":
        body = parse_body(call)
        assert isinstance(body, dict)
        replicas = int((body.get("spec") or {}).get("replicas", 0))
    else:
        new = _patched(call, _scale_of(obj))
        replicas = int(new.get("spec", {}).get("replicas", 0))
    updated = store.mutate(call.rt, call.namespace, call.name,
                           lambda o: o.setdefault("spec", {}).__setitem__("replicas", replicas), subresource="any")
    return 200, _scale_of(updated)


# TokenRequest limits (pkg/apis/authentication/validation/validation.go ValidateTokenRequest)
# and default (pkg/apis/authentication/v1/defaults.go: 1 hour)
_TOKEN_MIN_SECONDS = 10 * 60
_TOKEN_MAX_SECONDS = 1 << 32
_TOKEN_DEFAULT_SECONDS = 3600
_TOKEN_BINDABLE = {"Pod": "pods", "Secret": "secrets", "Node": "nodes"}


def _token_invalid(value: int, message: str) -> ApiError:
    """errors.NewInvalid(TokenRequest.authentication.k8s.io, "", …) — the name is always empty upstream."""
    body = f"Invalid value: {value}: {message}"
    return ApiError(422, "Invalid", f'TokenRequest.authentication.k8s.io "" is invalid: spec.expirationSeconds: {body}',
                    details={"group": "authentication.k8s.io", "kind": "TokenRequest",
                             "causes": [{"reason": "FieldValueInvalid", "message": body,
                                         "field": "spec.expirationSeconds"}]})


def _bound_object(call: Call, ref: JSON) -> tuple[str, JSON]:
    """The object a token is bound to, checked as pkg/registry/core/serviceaccount/storage/token.go does."""
    api_version = str(ref.get("apiVersion") or "")
    group, _, version = api_version.rpartition("/")
    kind = str(ref.get("kind") or "")
    ref_name = str(ref.get("name") or "")
    plural = _TOKEN_BINDABLE.get(kind) if group == "" else None
    if plural is None:
        raise bad_request(f"cannot bind token to object of type {group}/{version}, Kind={kind}")
    rt = by_plural(plural)
    obj = call.cluster.store.get(rt, call.namespace if rt.namespaced else "", ref_name)
    if kind == "Pod" and obj.get("spec", {}).get("serviceAccountName", "default") != call.name:
        raise bad_request(f'cannot bind token for serviceaccount "{call.name}" to pod running with different '
                          "serviceaccount name.")
    uid = str(obj["metadata"]["uid"])
    if ref.get("uid") and ref["uid"] != uid:
        raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on {kind} "{ref_name}": the UID in the bound '
                       f"object reference ({ref['uid']}) does not match the UID in record. The object might have "
                       "been deleted and then recreated", details={"name": ref_name, "kind": kind})
    return plural, obj


def _jwt(claims: JSON, key: bytes) -> str:
    """A JWS compact token (HS256 with a per-process key: kubesim looks tokens up, it never verifies them)."""
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    body = b64(json.dumps(claims, separators=(",", ":")).encode())
    sig = hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"


_JWT_KEY = secrets.token_bytes(32)


def token_request(call: Call) -> Reply:
    """serviceaccounts/token: a bound, expiring token that authenticates against this cluster.

    Validation, defaulting and bound-object checks follow
    pkg/registry/core/serviceaccount/storage/token.go; the token is a JWT whose claims
    (aud, exp, sub, kubernetes.io) read like the real issuer's.
    """
    store = call.cluster.store
    sa = store.get(call.rt, call.namespace, call.name)
    body = parse_body(call)
    assert isinstance(body, dict)
    spec = body.get("spec") or {}
    seconds = int(spec.get("expirationSeconds") or _TOKEN_DEFAULT_SECONDS)
    if seconds < _TOKEN_MIN_SECONDS:
        raise _token_invalid(seconds, "may not specify a duration less than 10 minutes")
    if seconds > _TOKEN_MAX_SECONDS:
        raise _token_invalid(seconds, "may not specify a duration larger than 2^32 seconds")
    ref = spec.get("boundObjectRef")
    plural, bound = _bound_object(call, ref) if ref else ("", None)
    audiences = [str(a) for a in spec.get("audiences") or []] or [API_AUDIENCE]
    sa_uid = str(sa["metadata"]["uid"])
    now = datetime.now(UTC)
    expiry = now + timedelta(seconds=seconds)
    k8s: JSON = {"namespace": call.namespace, "serviceaccount": {"name": call.name, "uid": sa_uid}}
    if bound is not None:
        k8s[plural[:-1]] = {
            "name": bound["metadata"]["name"], "uid": bound["metadata"]["uid"]}
    claims: JSON = {"aud": audiences, "exp": int(expiry.timestamp()), "iat": int(now.timestamp()),
                    "iss": API_AUDIENCE, "jti": str(uuid.uuid4()), "kubernetes.io": k8s,
                    "nbf": int(now.timestamp()), "sub": f"system:serviceaccount:{call.namespace}:{call.name}"}
    binding = TokenBinding(tuple(audiences), call.namespace, call.name, sa_uid, plural,
                           bound["metadata"]["name"] if bound else "", str(bound["metadata"]["uid"]) if bound else "")
    token = call.cluster.add_token(
        Identity(claims["sub"], ("system:serviceaccounts", f"system:serviceaccounts:{call.namespace}"), sa_uid),
        token=_jwt(claims, _JWT_KEY), expires_in=seconds, binding=binding)
    out_spec: JSON = {"audiences": audiences, "expirationSeconds": seconds}
    if ref:
        out_spec["boundObjectRef"] = ref
    return 201, {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
                 "metadata": {"name": call.name, "namespace": call.namespace,
                              "creationTimestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ")},
                 "spec": out_spec,
                 "status": {"token": token, "expirationTimestamp": expiry.strftime("%Y-%m-%dT%H:%M:%SZ")}}


def review(call: Call) -> Reply:
    body = parse_body(call)
    assert isinstance(body, dict)
    policy, who = call.cluster.policy, call.who
    if call.rt.plural == "selfsubjectaccessreviews":
        return 201, self_subject_access_review(policy, who, body)
    if call.rt.plural == "selfsubjectrulesreviews":
        return 201, self_subject_rules_review(policy, who, body)
    if call.rt.plural in ("subjectaccessreviews", "localsubjectaccessreviews"):
        return 201, subject_access_review(policy, body, call.namespace)
    if call.rt.plural == "tokenreviews":
        spec = body.get("spec") or {}
        token = str(spec.get("token", ""))
        wanted = tuple(str(a) for a in spec.get("audiences") or []) or (API_AUDIENCE,)
        reviewed = call.cluster.authenticate_token(token, wanted)
        granted = [a for a in wanted if a in call.cluster.token_audiences(token)]
        return 201, token_review(reviewed, body, granted)
    return 201, self_subject_review(who)


def handle(call: Call) -> Reply:
    """Dispatch a non-streaming resource request to its verb (through a conversion if needed)."""
    if not needs_conversion(call.rt):
        return _handle(call)
    view = call.rt
    call.rt = storage_type(view)
    if call.body and call.method in ("POST", "PUT"):
        body = parse_body(call)
        assert isinstance(body, dict)
        call.body = json.dumps(to_storage(view, body)).encode()
        call.headers = {**call.headers, "content-type": "application/json"}
    code, out = _handle(call)
    if out.get("kind") == call.rt.list_kind:
        out = {**out, "kind": view.list_kind, "apiVersion": view.api_version,
               "items": [from_storage(view, i) for i in out.get("items", [])]}
    elif out.get("kind") == call.rt.kind and out.get("apiVersion") == call.rt.api_version:
        out = from_storage(view, out)
    return code, out


def _handle(call: Call) -> Reply:
    m, sub = call.method, call.subresource
    if call.rt.group == metrics.GROUP:
        return 200, metrics.metrics(call.cluster.store, call.rt, call.namespace, call.name, m)
    if not call.rt.stored:
        if m != "POST":
            raise method_not_allowed()
        return review(call)
    if sub == "eviction" and m == "POST":
        return evict(call)
    if sub == "binding" and m == "POST":
        return bind(call)
    if sub == "scale":
        return scale(call)
    if sub == "token" and m == "POST":
        return token_request(call)
    if sub in ("status", "finalize", ""):
        if sub == "finalize":
            return 200, call.cluster.store.get(call.rt, "", call.name)
        if m == "GET" and call.name:
            return get(call)
        if m == "GET" and not sub:
            return list_(call)
        if m == "POST" and not call.name and not sub:
            return create(call)
        if m == "PUT" and call.name:
            return update(call)
        if m == "PATCH" and call.name:
            return patch(call)
        if m == "DELETE" and call.name and not sub:
            return delete(call)
        if m == "DELETE" and not sub:
            return delete_collection(call)
    raise ApiError(405, "MethodNotAllowed", f"{m} is not supported on {call.rt.qualified}/{sub or ''}".rstrip("/"))
