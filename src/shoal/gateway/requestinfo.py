"""What a Kubernetes API request does, read from its method, path and query — and the Shoal action it needs.

Who calls it: the gateway, once per request, before anything is forwarded. The
parsing follows the API server's own ``RequestInfoFactory``: ``/api/v1/…`` and
``/apis/{group}/{version}/…`` are resource requests; ``namespaces/{ns}/`` scopes
them; ``{resource}/{name}/{subresource}``; GET without a name is ``list`` (or
``watch`` with ``watch=true``), DELETE without a name ``deletecollection``.

The mapping to Shoal actions (R20):

=============================================  ==================================
request                                         action
=============================================  ==================================
get / list / watch of resources                  ``cluster_view``
GET of discovery, ``/version``, ``/openapi/…``,  ``cluster_view``
``/healthz``, ``/readyz``, ``/livez`` (and below)
self-reviews (``kubectl auth can-i``, whoami)    ``cluster_view``
reading ``secrets``                              ``cluster_use`` (viewers never read secrets)
writes, exec, attach, port-forward, proxy        ``cluster_use`` in a namespace,
                                                 ``cluster_manage`` cluster-wide
any other non-resource request (``/metrics``,    ``cluster_manage``
``/debug/pprof``, ``/logs``, ``/``, any POST)
=============================================  ==================================

"Cluster-wide" means the path names no namespace: nodes, namespaces themselves,
cluster roles, CRDs, and collections across all namespaces.

The non-resource paths a viewer may read are those Kubernetes' own
``system:discovery`` and ``system:public-info-viewer`` roles give every
authenticated user; the rest (the API server's metrics, profiles and node logs)
tell more about the cluster than a read right on its objects does.

The parser expects a path the gateway has already checked (``Gateway.parse``):
no empty, ``.`` or ``..`` segments, so the segments it sees are the ones the API
server's ``splitPath`` sees.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from urllib.parse import parse_qs

from shoal.iam.authz import Action

__all__ = ["LONG_RUNNING_SUBRESOURCES", "PUBLIC_NON_RESOURCE", "READ_VERBS", "STREAMING_SUBRESOURCES", "RequestInfo",
           "parse_request"]

READ_VERBS = frozenset({"get", "list", "watch"})
#: Subresources that open a stream into a pod or node: they need more than a read right.
STREAMING_SUBRESOURCES = frozenset({"exec", "attach", "portforward", "proxy"})
LONG_RUNNING_SUBRESOURCES = STREAMING_SUBRESOURCES
_METHOD_VERBS = {"GET": "get", "HEAD": "get", "POST": "create", "PUT": "update", "PATCH": "patch",
                 "DELETE": "delete", "OPTIONS": "get"}
_NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})
#: First segments of the non-resource paths a viewer may GET (discovery, version, health, OpenAPI documents).
PUBLIC_NON_RESOURCE = frozenset({"api", "apis", "version", "healthz", "readyz", "livez", "openapi"})
_SELF_REVIEWS = frozenset({("authorization.k8s.io", "selfsubjectaccessreviews"),
                           ("authorization.k8s.io", "selfsubjectrulesreviews"),
                           ("authentication.k8s.io", "selfsubjectreviews")})


@dataclass(frozen=True)
class RequestInfo:
    verb: str
    path: str
    is_resource: bool = False
    group: str = ""
    version: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    long_running: bool = False

    @property
    def cluster_wide(self) -> bool:
        return not self.namespace or self.resource == "namespaces"

    @functools.cached_property  # the gateway keeps parsed requests: computed once per distinct request
    def is_read(self) -> bool:
        return self.verb in READ_VERBS and self.subresource not in STREAMING_SUBRESOURCES

    @functools.cached_property
    def audit_verb(self) -> str:
        """``exec``, ``attach``, ``portforward``, ``proxy`` for streams, else the verb."""
        return self.subresource if self.subresource in STREAMING_SUBRESOURCES else self.verb

    @property
    def kind(self) -> str:
        """``pods``, ``pods/exec``, ``deployments.apps`` — how refusals name the thing."""
        base = f"{self.resource}.{self.group}" if self.group else self.resource
        return f"{base}/{self.subresource}" if self.subresource else base

    @functools.cached_property
    def action(self) -> Action:
        """The Shoal action this request needs on the cluster's project."""
        if not self.is_resource:
            public = self.verb == "get" and self.path.strip("/").partition("/")[0] in PUBLIC_NON_RESOURCE
            return Action.CLUSTER_VIEW if public else Action.CLUSTER_MANAGE
        if (self.group, self.resource) in _SELF_REVIEWS and self.verb == "create":
            return Action.CLUSTER_VIEW
        if self.is_read:
            if self.resource == "secrets":
                return Action.CLUSTER_MANAGE if self.cluster_wide else Action.CLUSTER_USE
            return Action.CLUSTER_VIEW
        return Action.CLUSTER_MANAGE if self.cluster_wide else Action.CLUSTER_USE


def _flag(query: dict[str, list[str]], name: str) -> bool:
    values = query.get(name) or [""]
    return values[0].lower() in ("true", "1")


def parse_request(method: str, path: str, query_string: bytes = b"") -> RequestInfo:
    """Read ``method`` and ``path`` (decoded, below ``/clusters/{id}``) as the API server would."""
    method = method.upper()
    verb = _METHOD_VERBS.get(method, method.lower())
    parts = [p for p in path.split("/") if p]
    if len(parts) < 2 or parts[0] not in ("api", "apis"):
        return RequestInfo(verb=verb, path=path)
    if parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    else:
        if len(parts) < 3:
            return RequestInfo(verb=verb, path=path)
        group, version, rest = parts[1], parts[2], parts[3:]
    if not rest:  # /api/v1, /apis/apps/v1: discovery
        return RequestInfo(verb=verb, path=path)
    query: dict[str, list[str]] = {}
    if query_string and (b"watch" in query_string or b"follow" in query_string):
        query = parse_qs(query_string.decode("latin-1"))
    if rest[0] in ("watch", "proxy"):  # the deprecated /watch/ and /proxy/ prefixes, read as the API server does
        verb, rest = rest[0], rest[1:]
    namespace = ""
    if rest and rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    resource = rest[0] if rest else ""
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 and verb != "proxy" else ""
    if not name:
        if verb == "get":
            verb = "watch" if _flag(query, "watch") else "list"
        elif verb == "delete":
            verb = "deletecollection"
    elif verb == "get" and _flag(query, "watch"):
        verb = "watch"
    long_running = (verb == "watch" or subresource in LONG_RUNNING_SUBRESOURCES
                    or (subresource == "log" and _flag(query, "follow")))
    return RequestInfo(verb=verb, path=path, is_resource=True, group=group, version=version, resource=resource,
                       subresource=subresource, namespace=namespace, name=name, long_running=long_running)
