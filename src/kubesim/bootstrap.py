"""The API server's bootstrap RBAC policy, as data: default ClusterRoles and ClusterRoleBindings.

A real kube-apiserver creates these at start (``rbac/bootstrap-roles`` post-start hook).
The rules are those of the upstream policy — kubernetes/kubernetes
``plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go`` and
``controller_policy.go``, as recorded in ``testdata/cluster-roles.yaml``,
``testdata/controller-roles.yaml``, ``testdata/cluster-role-bindings.yaml`` and
``testdata/controller-role-bindings.yaml`` — written here as plain data so tests see
exactly what a real cluster grants. Most notably: ``view`` reads no Secrets and no
Nodes; ``admin``, ``edit`` and ``view`` carry no rules of their own but an
``aggregationRule``, filled by :class:`kubesim.rbac.AggregationController` from the
``system:aggregate-to-*`` roles and any other labelled ClusterRole (e.g. a CRD's).

Only the ``system:controller:*`` roles of the controllers kubesim itself runs are
included (deployment, replicaset, daemon-set, statefulset, job, disruption, endpoint,
endpointslice, node, namespace, persistent-volume-binder, clusterrole-aggregation,
generic-garbage-collector, service-account).
"""

from __future__ import annotations

import copy
from typing import Any

JSON = dict[str, Any]

__all__ = ["AGGREGATE_LABEL", "aggregated_rules", "cluster_role_bindings", "cluster_roles"]

RBAC_GROUP = "rbac.authorization.k8s.io"
AGGREGATE_LABEL = "rbac.authorization.k8s.io/aggregate-to-"
_READ = ["get", "list", "watch"]
_WRITE = ["create", "delete", "deletecollection", "patch", "update"]
_ALL = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
_EVENT_WRITE = ["create", "patch", "update"]


def _r(groups: list[str], resources: list[str], verbs: list[str], names: list[str] | None = None) -> JSON:
    """One PolicyRule in the field order the API server serialises it."""
    rule: JSON = {"apiGroups": groups}
    if names:
        rule["resourceNames"] = names
    rule["resources"] = resources
    rule["verbs"] = verbs
    return rule


def _urls(urls: list[str], verbs: list[str] | None = None) -> JSON:
    return {"nonResourceURLs": urls, "verbs": verbs or ["get"]}


_EVENTS = _r(["", "events.k8s.io"], ["events"], _EVENT_WRITE)

# --- the user-facing roles (policy.go ClusterRoles()) ------------------------------------------
_AGGREGATE_TO_VIEW = [
    _r([""], ["configmaps", "endpoints", "persistentvolumeclaims", "persistentvolumeclaims/status", "pods",
              "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts", "services",
              "services/status"], _READ),
    _r([""], ["bindings", "events", "limitranges", "namespaces/status", "pods/log", "pods/status",
              "replicationcontrollers/status", "resourcequotas", "resourcequotas/status"], _READ),
    _r([""], ["namespaces"], _READ),
    _r(["discovery.k8s.io"], ["endpointslices"], _READ),
    _r(["apps"], ["controllerrevisions", "daemonsets", "daemonsets/status", "deployments", "deployments/scale",
                  "deployments/status", "replicasets", "replicasets/scale", "replicasets/status", "statefulsets",
                  "statefulsets/scale", "statefulsets/status"], _READ),
    _r(["autoscaling"], ["horizontalpodautoscalers", "horizontalpodautoscalers/status"], _READ),
    _r(["batch"], ["cronjobs", "cronjobs/status", "jobs", "jobs/status"], _READ),
    _r(["extensions"], ["daemonsets", "daemonsets/status", "deployments", "deployments/scale",
                        "deployments/status", "ingresses", "ingresses/status", "networkpolicies", "replicasets",
                        "replicasets/scale", "replicasets/status", "replicationcontrollers/scale"], _READ),
    _r(["policy"], ["poddisruptionbudgets", "poddisruptionbudgets/status"], _READ),
    _r(["networking.k8s.io"], ["ingresses", "ingresses/status", "networkpolicies"], _READ),
]

_AGGREGATE_TO_EDIT = [
    _r([""], ["pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "secrets", "services/proxy"], _READ),
    _r([""], ["serviceaccounts"], ["impersonate"]),
    _r([""], ["pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"], _WRITE),
    _r([""], ["pods/eviction"], ["create"]),
    _r([""], ["configmaps", "events", "persistentvolumeclaims", "replicationcontrollers",
              "replicationcontrollers/scale", "secrets", "serviceaccounts", "services", "services/proxy"], _WRITE),
    _r([""], ["serviceaccounts/token"], ["create"]),
    _r(["apps"], ["daemonsets", "deployments", "deployments/rollback", "deployments/scale", "replicasets",
                  "replicasets/scale", "statefulsets", "statefulsets/scale"], _WRITE),
    _r(["autoscaling"], ["horizontalpodautoscalers"], _WRITE),
    _r(["batch"], ["cronjobs", "jobs"], _WRITE),
    _r(["extensions"], ["daemonsets", "deployments", "deployments/rollback", "deployments/scale", "ingresses",
                        "networkpolicies", "replicasets", "replicasets/scale", "replicationcontrollers/scale"],
       _WRITE),
    _r(["policy"], ["poddisruptionbudgets"], _WRITE),
    _r(["networking.k8s.io"], ["ingresses", "networkpolicies"], _WRITE),
    _r(["coordination.k8s.io"], ["leases"], _ALL),
]

_AGGREGATE_TO_ADMIN = [
    _r(["authorization.k8s.io"], ["localsubjectaccessreviews"], ["create"]),
    _r([RBAC_GROUP], ["rolebindings", "roles"], _ALL),
]

# --- system: roles (policy.go) ---------------------------------------------------------------
_SYSTEM_ROLES: dict[str, list[JSON]] = {
    "system:basic-user": [
        _r(["authorization.k8s.io"], ["selfsubjectaccessreviews", "selfsubjectrulesreviews"], ["create"]),
        _r(["authentication.k8s.io"], ["selfsubjectreviews"], ["create"]),
    ],
    "system:discovery": [
        _urls(["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*", "/readyz",
               "/version", "/version/"]),
    ],
    "system:public-info-viewer": [_urls(["/healthz", "/livez", "/readyz", "/version", "/version/"])],
    "system:monitoring": [
        _urls(["/healthz", "/healthz/*", "/livez", "/livez/*", "/metrics", "/metrics/slis", "/readyz",
               "/readyz/*"]),
    ],
    "system:service-account-issuer-discovery": [_urls(["/.well-known/openid-configuration", "/openid/v1/jwks"])],
    "system:auth-delegator": [
        _r(["authentication.k8s.io"], ["tokenreviews"], ["create"]),
        _r(["authorization.k8s.io"], ["subjectaccessreviews"], ["create"]),
    ],
    "system:kube-aggregator": [_r([""], ["endpoints", "services"], _READ)],
    "system:kube-dns": [_r([""], ["endpoints", "services"], ["list", "watch"])],
    "system:kube-controller-manager": [
        _EVENTS,
        _r(["coordination.k8s.io"], ["leases"], ["create"]),
        _r(["coordination.k8s.io"], ["leases"], ["get", "update"], ["kube-controller-manager"]),
        _r([""], ["secrets", "serviceaccounts"], ["create"]),
        _r([""], ["secrets"], ["delete"]),
        _r([""], ["configmaps", "namespaces", "secrets", "serviceaccounts"], ["get"]),
        _r([""], ["secrets", "serviceaccounts"], ["update"]),
        _r(["authentication.k8s.io"], ["tokenreviews"], ["create"]),
        _r(["authorization.k8s.io"], ["subjectaccessreviews"], ["create"]),
        _r(["*"], ["*"], ["list", "watch"]),
        _r([""], ["serviceaccounts/token"], ["create"]),
    ],
    "system:kube-scheduler": [
        _EVENTS,
        _r(["coordination.k8s.io"], ["leases"], ["create"]),
        _r(["coordination.k8s.io"], ["leases"], ["get", "update"], ["kube-scheduler"]),
        _r([""], ["nodes"], _READ),
        _r([""], ["pods"], ["delete", "get", "list", "watch"]),
        _r([""], ["bindings", "pods/binding"], ["create"]),
        _r([""], ["pods/status"], ["patch", "update"]),
        _r([""], ["replicationcontrollers", "services"], _READ),
        _r(["apps", "extensions"], ["replicasets"], _READ),
        _r(["apps"], ["statefulsets"], _READ),
        _r(["policy"], ["poddisruptionbudgets"], _READ),
        _r([""], ["persistentvolumeclaims", "persistentvolumes"], _READ),
        _r(["authentication.k8s.io"], ["tokenreviews"], ["create"]),
        _r(["authorization.k8s.io"], ["subjectaccessreviews"], ["create"]),
        _r(["storage.k8s.io"], ["csinodes"], _READ),
        _r([""], ["namespaces"], _READ),
        _r(["storage.k8s.io"], ["csidrivers"], _READ),
        _r(["storage.k8s.io"], ["csistoragecapacities"], _READ),
    ],
    "system:volume-scheduler": [
        _r([""], ["persistentvolumes"], ["get", "list", "patch", "update", "watch"]),
        _r(["storage.k8s.io"], ["storageclasses"], _READ),
        _r([""], ["persistentvolumeclaims"], ["get", "list", "patch", "update", "watch"]),
    ],
    "system:node": [
        _r(["authentication.k8s.io"], ["tokenreviews"], ["create"]),
        _r(["authorization.k8s.io"], ["localsubjectaccessreviews", "subjectaccessreviews"], ["create"]),
        _r([""], ["services"], _READ),
        _r([""], ["nodes"], ["create", "get", "list", "watch"]),
        _r([""], ["nodes/status"], ["patch", "update"]),
        _r([""], ["nodes"], ["patch", "update"]),
        _r([""], ["events"], _EVENT_WRITE),
        _r([""], ["pods"], _READ),
        _r([""], ["pods"], ["create", "delete"]),
        _r([""], ["pods/status"], ["patch", "update"]),
        _r([""], ["pods/eviction"], ["create"]),
        _r([""], ["configmaps", "secrets"], _READ),
        _r([""], ["persistentvolumeclaims", "persistentvolumes"], ["get"]),
        _r([""], ["endpoints"], ["get"]),
        _r(["certificates.k8s.io"], ["certificatesigningrequests"], ["create", "get", "list", "watch"]),
        _r(["coordination.k8s.io"], ["leases"], ["create", "delete", "get", "patch", "update"]),
        _r(["storage.k8s.io"], ["volumeattachments"], ["get"]),
        _r([""], ["serviceaccounts/token"], ["create"]),
        _r([""], ["persistentvolumeclaims/status"], ["get", "patch", "update"]),
        _r(["storage.k8s.io"], ["csidrivers"], _READ),
        _r(["storage.k8s.io"], ["csinodes"], ["create", "delete", "get", "patch", "update"]),
        _r(["node.k8s.io"], ["runtimeclasses"], _READ),
    ],
    "system:node-proxier": [
        _r([""], ["endpoints", "services"], ["list", "watch"]),
        _r([""], ["nodes"], _READ),
        _EVENTS,
        _r(["discovery.k8s.io"], ["endpointslices"], ["list", "watch"]),
    ],
    "system:node-bootstrapper": [
        _r(["certificates.k8s.io"], ["certificatesigningrequests"], ["create", "get", "list", "watch"]),
    ],
}

# --- system:controller: roles of the controllers kubesim runs (controller_policy.go) ---------------
_CONTROLLER_ROLES: dict[str, list[JSON]] = {
    "clusterrole-aggregation-controller": [
        _r([RBAC_GROUP], ["clusterroles"], ["escalate", "get", "list", "patch", "update", "watch"]),
    ],
    "daemon-set-controller": [
        _r(["apps", "extensions"], ["daemonsets"], _READ),
        _r(["apps", "extensions"], ["daemonsets/status"], ["update"]),
        _r(["apps", "extensions"], ["daemonsets/finalizers"], ["update"]),
        _r([""], ["nodes"], ["list", "watch"]),
        _r([""], ["pods"], ["create", "delete", "list", "patch", "watch"]),
        _r([""], ["pods/binding"], ["create"]),
        _r(["apps"], ["controllerrevisions"], ["create", "delete", "get", "list", "patch", "update", "watch"]),
        _EVENTS,
    ],
    "deployment-controller": [
        _r(["apps", "extensions"], ["deployments"], ["get", "list", "update", "watch"]),
        _r(["apps", "extensions"], ["deployments/status"], ["update"]),
        _r(["apps", "extensions"], ["deployments/finalizers"], ["update"]),
        _r(["apps", "extensions"], ["replicasets"], ["create", "delete", "get", "list", "patch", "update", "watch"]),
        _r([""], ["pods"], ["get", "list", "update", "watch"]),
        _EVENTS,
    ],
    "disruption-controller": [
        _r(["apps", "extensions"], ["deployments"], _READ),
        _r(["apps", "extensions"], ["replicasets"], _READ),
        _r([""], ["replicationcontrollers"], _READ),
        _r(["policy"], ["poddisruptionbudgets"], _READ),
        _r(["apps"], ["statefulsets"], _READ),
        _r(["policy"], ["poddisruptionbudgets/status"], ["update"]),
        _r([""], ["pods/status"], ["patch", "update"]),
        _r(["*"], ["*/scale"], ["get"]),
        _EVENTS,
    ],
    "endpoint-controller": [
        _r([""], ["pods", "services"], _READ),
        _r([""], ["endpoints"], ["create", "delete", "get", "list", "update", "watch"]),
        _r([""], ["endpoints/restricted"], ["create"]),
        _EVENTS,
    ],
    "endpointslice-controller": [
        _r([""], ["nodes", "pods", "services"], _READ),
        _r([""], ["services/finalizers"], ["update"]),
        _r(["discovery.k8s.io"], ["endpointslices"], ["create", "delete", "get", "list", "update", "watch"]),
        _EVENTS,
    ],
    "generic-garbage-collector": [
        _r(["*"], ["*"], ["delete", "get", "list", "patch", "update", "watch"]),
        _EVENTS,
    ],
    "job-controller": [
        _r(["batch"], ["jobs"], ["get", "list", "patch", "update", "watch"]),
        _r(["batch"], ["jobs/status"], ["update"]),
        _r(["batch"], ["jobs/finalizers"], ["update"]),
        _r([""], ["pods"], ["create", "delete", "list", "patch", "watch"]),
        _EVENTS,
    ],
    "namespace-controller": [
        _r([""], ["namespaces"], ["delete", "get", "list", "watch"]),
        _r([""], ["namespaces/finalize", "namespaces/status"], ["update"]),
        _r(["*"], ["*"], ["delete", "deletecollection", "get", "list", "watch"]),
    ],
    "node-controller": [
        _r([""], ["nodes"], ["delete", "get", "list", "patch", "update", "watch"]),
        _r([""], ["nodes/status"], ["patch", "update"]),
        _r([""], ["pods/status"], ["patch", "update"]),
        _r([""], ["pods"], ["delete", "get", "list", "watch"]),
        _EVENTS,
    ],
    "persistent-volume-binder": [
        _r([""], ["persistentvolumes"], ["create", "delete", "get", "list", "update", "watch"]),
        _r([""], ["persistentvolumes/status"], ["update"]),
        _r([""], ["persistentvolumeclaims"], ["get", "list", "update", "watch"]),
        _r([""], ["persistentvolumeclaims/status"], ["update"]),
        _r([""], ["pods"], ["create", "delete", "get", "list", "watch"]),
        _r(["storage.k8s.io"], ["storageclasses"], _READ),
        _r([""], ["nodes"], ["list", "watch"]),
        _EVENTS,
        _r([""], ["events"], ["watch"]),
    ],
    "replicaset-controller": [
        _r(["apps", "extensions"], ["replicasets"], ["get", "list", "update", "watch"]),
        _r(["apps", "extensions"], ["replicasets/status"], ["update"]),
        _r(["apps", "extensions"], ["replicasets/finalizers"], ["update"]),
        _r([""], ["pods"], ["create", "delete", "list", "patch", "watch"]),
        _EVENTS,
    ],
    "service-account-controller": [
        _r([""], ["serviceaccounts"], ["create"]),
        _EVENTS,
    ],
    "statefulset-controller": [
        _r([""], ["pods"], ["list", "watch"]),
        _r(["apps"], ["statefulsets"], _READ),
        _r(["apps"], ["statefulsets/status"], ["update"]),
        _r(["apps"], ["statefulsets/finalizers"], ["update"]),
        _r([""], ["pods"], ["create", "delete", "get", "patch", "update"]),
        _r(["apps"], ["controllerrevisions"], ["create", "delete", "get", "list", "patch", "update", "watch"]),
        _r([""], ["persistentvolumeclaims"], ["create", "get", "list", "watch"]),
        _r([""], ["persistentvolumeclaims"], ["delete", "update"]),
        _r([""], ["pods/finalizers"], ["update"]),
        _EVENTS,
    ],
}

_BOOTSTRAP_LABELS = {"kubernetes.io/bootstrapping": "rbac-defaults"}
_AUTOUPDATE = {"rbac.authorization.kubernetes.io/autoupdate": "true"}


def _role(name: str, rules: list[JSON] | None, labels: dict[str, str] | None = None,
          aggregate_from: str = "") -> JSON:
    role: JSON = {"apiVersion": f"{RBAC_GROUP}/v1", "kind": "ClusterRole", "metadata": {
        "name": name, "labels": {**_BOOTSTRAP_LABELS, **(labels or {})}, "annotations": dict(_AUTOUPDATE)}}
    if aggregate_from:
        selector = {"matchLabels": {AGGREGATE_LABEL + aggregate_from: "true"}}
        role["aggregationRule"] = {"clusterRoleSelectors": [selector]}
    role["rules"] = rules if rules is not None else []
    return role


def cluster_roles() -> list[JSON]:
    """Fresh copies of every bootstrap ClusterRole (aggregated ones with empty ``rules``)."""
    def to(target: str) -> dict[str, str]:
        return {AGGREGATE_LABEL + target: "true"}

    roles = [
        _role("cluster-admin", [_r(["*"], ["*"], ["*"]), _urls(["*"], ["*"])]),
        _role("admin", None, aggregate_from="admin"),
        _role("edit", None, to("admin"), aggregate_from="edit"),
        _role("view", None, to("edit"), aggregate_from="view"),
        _role("system:aggregate-to-admin", _AGGREGATE_TO_ADMIN, to("admin")),
        _role("system:aggregate-to-edit", _AGGREGATE_TO_EDIT, to("edit")),
        _role("system:aggregate-to-view", _AGGREGATE_TO_VIEW, to("view")),
    ]
    roles += [_role(name, rules) for name, rules in _SYSTEM_ROLES.items()]
    roles += [_role(f"system:controller:{name}", rules) for name, rules in _CONTROLLER_ROLES.items()]
    return copy.deepcopy(roles)


def _subject(kind: str, name: str, namespace: str = "") -> JSON:
    if kind == "ServiceAccount":
        return {"kind": kind, "name": name, "namespace": namespace}
    return {"apiGroup": RBAC_GROUP, "kind": kind, "name": name}


def _binding(name: str, role: str, subjects: list[JSON]) -> JSON:
    return {"apiVersion": f"{RBAC_GROUP}/v1", "kind": "ClusterRoleBinding", "metadata": {
        "name": name, "labels": dict(_BOOTSTRAP_LABELS), "annotations": dict(_AUTOUPDATE)},
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": role}, "subjects": subjects}


def cluster_role_bindings() -> list[JSON]:
    """The default ClusterRoleBindings (testdata/cluster-role-bindings.yaml and controller-role-bindings.yaml)."""
    authenticated = _subject("Group", "system:authenticated")
    bindings = [
        _binding("cluster-admin", "cluster-admin", [_subject("Group", "system:masters")]),
        _binding("system:basic-user", "system:basic-user", [authenticated]),
        _binding("system:discovery", "system:discovery", [authenticated]),
        _binding("system:public-info-viewer", "system:public-info-viewer",
                 [authenticated, _subject("Group", "system:unauthenticated")]),
        _binding("system:monitoring", "system:monitoring", [_subject("Group", "system:monitoring")]),
        _binding("system:service-account-issuer-discovery", "system:service-account-issuer-discovery",
                 [_subject("Group", "system:serviceaccounts")]),
        _binding("system:kube-controller-manager", "system:kube-controller-manager",
                 [_subject("User", "system:kube-controller-manager")]),
        _binding("system:kube-scheduler", "system:kube-scheduler", [_subject("User", "system:kube-scheduler")]),
        _binding("system:volume-scheduler", "system:volume-scheduler", [_subject("User", "system:kube-scheduler")]),
        _binding("system:kube-dns", "system:kube-dns", [_subject("ServiceAccount", "kube-dns", "kube-system")]),
        _binding("system:node-proxier", "system:node-proxier", [_subject("User", "system:kube-proxy")]),
        # upstream binds system:node to nobody: kubelets are authorised by the Node authorizer
        _binding("system:node", "system:node", []),
    ]
    bindings += [_binding(f"system:controller:{name}", f"system:controller:{name}",
                          [_subject("ServiceAccount", name, "kube-system")]) for name in _CONTROLLER_ROLES]
    for b in bindings:
        if not b["subjects"]:
            del b["subjects"]
    return bindings


def aggregated_rules(name: str) -> list[JSON]:
    """The rules the aggregation controller gives ``admin``/``edit``/``view`` on a fresh cluster."""
    roles = {r["metadata"]["name"]: r for r in cluster_roles()}
    target = roles[name]
    selector = target["aggregationRule"]["clusterRoleSelectors"][0]["matchLabels"]
    out: list[JSON] = []
    for other in sorted(roles.values(), key=lambda r: str(r["metadata"]["name"])):
        if other is target or not all(other["metadata"]["labels"].get(k) == v for k, v in selector.items()):
            continue
        rules = aggregated_rules(other["metadata"]["name"]) if "aggregationRule" in other else other["rules"]
        out.extend(r for r in rules if r not in out)
    return out
