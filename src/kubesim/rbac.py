"""RBAC objects in the store take effect: bindings grant their roles' rules.

Besides the rules tests attach to users and groups directly (``authz.Policy``),
ClusterRoleBindings and RoleBindings created through the API — ``kubectl apply``
of a ServiceAccount bound to ``view``, ``kubectl create rolebinding`` — grant the
rules of the referenced ClusterRole/Role to their subjects, cluster-wide or in the
binding's namespace. Subjects are users, groups, or service accounts
(``system:serviceaccount:<ns>:<name>``). The default ClusterRoles ``cluster-admin``,
``admin``, ``edit`` and ``view`` are seeded so that such bindings resolve.
"""

from __future__ import annotations

from typing import Any

from kubesim.authz import Identity, Policy, Rule
from kubesim.resources import by_plural
from kubesim.store import Store, WatchEvent

JSON = dict[str, Any]

__all__ = ["DEFAULT_CLUSTER_ROLES", "StoreRbac"]

CLUSTER_ROLES = by_plural("clusterroles", "rbac.authorization.k8s.io")
CLUSTER_ROLE_BINDINGS = by_plural("clusterrolebindings", "rbac.authorization.k8s.io")
ROLES = by_plural("roles", "rbac.authorization.k8s.io")
ROLE_BINDINGS = by_plural("rolebindings", "rbac.authorization.k8s.io")
_RBAC_KEYS = frozenset(rt.key for rt in (CLUSTER_ROLES, CLUSTER_ROLE_BINDINGS, ROLES, ROLE_BINDINGS))

_READ = ["get", "list", "watch"]
_WRITE = ["create", "delete", "deletecollection", "patch", "update"]
_WORKLOADS = ["", "apps", "batch", "policy", "coordination.k8s.io", "events.k8s.io"]

DEFAULT_CLUSTER_ROLES: dict[str, list[JSON]] = {
    "cluster-admin": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                      {"nonResourceURLs": ["*"], "verbs": ["*"]}],
    "admin": [{"apiGroups": ["*"], "resources": ["*"], "verbs": _READ},
              {"apiGroups": [*_WORKLOADS, "rbac.authorization.k8s.io"], "resources": ["*"], "verbs": _WRITE}],
    "edit": [{"apiGroups": ["*"], "resources": ["*"], "verbs": _READ},
             {"apiGroups": _WORKLOADS, "resources": ["*"], "verbs": _WRITE}],
    "view": [{"apiGroups": ["*"], "resources": ["*"], "verbs": _READ}],
}


def _rules(policy_rules: list[JSON], namespace: str | None) -> list[Rule]:
    out = []
    for r in policy_rules:
        out.append(Rule(
            verbs=tuple(r.get("verbs") or ()),
            api_groups=tuple(r.get("apiGroups") or ()),
            resources=tuple(r.get("resources") or ()),
            namespaces=(namespace,) if namespace else None,
            resource_names=tuple(r.get("resourceNames") or ()),
            non_resource_urls=tuple(r.get("nonResourceURLs") or ()) if namespace is None else (),
        ))
    return out


def _subject_matches(subject: JSON, who: Identity, binding_ns: str) -> bool:
    kind, name = subject.get("kind"), subject.get("name", "")
    if kind == "User":
        return bool(name == who.user)
    if kind == "Group":
        return name in who.groups
    if kind == "ServiceAccount":
        ns = subject.get("namespace") or binding_ns
        return who.user == f"system:serviceaccount:{ns}:{name}"
    return False


class StoreRbac:
    """Reads bindings and roles from one cluster's store to extend its policy."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def extend(self, policy: Policy) -> None:
        """Make ``policy`` ask these objects too, and forget its kept decisions whenever one changes."""
        policy.extra = self.rules_for

        def on_change(event: WatchEvent) -> None:
            if event.key in _RBAC_KEYS:
                policy.changed()

        self.store.hooks.append(on_change)

    def seed(self) -> None:
        """Create the default ClusterRoles and the ``cluster-admin`` binding for system:masters."""
        for name, rules in DEFAULT_CLUSTER_ROLES.items():
            self.store.create(CLUSTER_ROLES, {"metadata": {
                "name": name, "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
                "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"}}, "rules": rules})
        self.store.create(CLUSTER_ROLE_BINDINGS, {
            "metadata": {"name": "cluster-admin", "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:masters"}]})

    def _role_rules(self, ref: JSON, namespace: str) -> list[JSON]:
        if ref.get("kind") == "ClusterRole":
            role = self.store.try_get(CLUSTER_ROLES, "", ref.get("name", ""))
        else:
            role = self.store.try_get(ROLES, namespace, ref.get("name", ""))
        return list((role or {}).get("rules") or [])

    def rules_for(self, who: Identity) -> list[Rule]:
        out: list[Rule] = []
        for b in self.store.list(CLUSTER_ROLE_BINDINGS)[0]:
            if any(_subject_matches(s, who, "") for s in b.get("subjects") or []):
                out.extend(_rules(self._role_rules(b.get("roleRef") or {}, ""), None))
        for b in self.store.list(ROLE_BINDINGS)[0]:
            ns = b["metadata"].get("namespace", "")
            if any(_subject_matches(s, who, ns) for s in b.get("subjects") or []):
                out.extend(_rules(self._role_rules(b.get("roleRef") or {}, ns), ns))
        return out
