"""RBAC objects in the store take effect: bindings grant their roles' rules.

Besides the rules tests attach to users and groups directly (``authz.Policy``),
ClusterRoleBindings and RoleBindings created through the API — ``kubectl apply``
of a ServiceAccount bound to ``view``, ``kubectl create rolebinding`` — grant the
rules of the referenced ClusterRole/Role to their subjects, cluster-wide or in the
binding's namespace. Subjects are users, groups, or service accounts
(``system:serviceaccount:<ns>:<name>``). The bootstrap policy of a real API server
(:mod:`kubesim.bootstrap`) is seeded, and :class:`AggregationController` keeps the
``rules`` of every ClusterRole with an ``aggregationRule`` (``admin``, ``edit``,
``view``, or a user's own) equal to the union of the ClusterRoles its selectors match,
as kube-controller-manager's clusterrole-aggregation controller does
(pkg/controller/clusterroleaggregation/clusterroleaggregation_controller.go).
"""

from __future__ import annotations

import threading
from typing import Any

from kubesim import bootstrap
from kubesim.authz import Identity, Policy, Rule, rules_from_json
from kubesim.resources import by_plural
from kubesim.selectors import selector_from_spec
from kubesim.store import Store, WatchEvent

JSON = dict[str, Any]

__all__ = ["AggregationController", "StoreRbac"]

CLUSTER_ROLES = by_plural("clusterroles", "rbac.authorization.k8s.io")
CLUSTER_ROLE_BINDINGS = by_plural("clusterrolebindings", "rbac.authorization.k8s.io")
ROLES = by_plural("roles", "rbac.authorization.k8s.io")
ROLE_BINDINGS = by_plural("rolebindings", "rbac.authorization.k8s.io")
_RBAC_KEYS = frozenset(rt.key for rt in (CLUSTER_ROLES, CLUSTER_ROLE_BINDINGS, ROLES, ROLE_BINDINGS))


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


class AggregationController:
    """Fills the ``rules`` of aggregated ClusterRoles and keeps them current.

    Like upstream, for each ClusterRole with an ``aggregationRule`` the rules of every
    other ClusterRole matched by one of its ``clusterRoleSelectors`` are taken in name
    order and appended unless an identical rule is already there; a role whose result
    differs is updated (which in turn re-aggregates a role that selects *it*: ``view``
    is labelled into ``edit``, ``edit`` into ``admin``). Runs synchronously on every
    ClusterRole change, so a test sees the effect of its write at once.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._busy = threading.local()
        store.hooks.append(self.on_change)

    def on_change(self, event: WatchEvent) -> None:
        if event.key != CLUSTER_ROLES.key:
            return
        self.reconcile()

    def reconcile(self) -> None:
        """Bring every aggregated ClusterRole's rules up to date (a no-op when they are)."""
        if getattr(self._busy, "active", False):
            self._busy.again = True  # a change made while aggregating: go round once more
            return
        self._busy.active = True
        try:
            while True:
                self._busy.again = False
                self._pass()
                if not self._busy.again:
                    break
        finally:
            self._busy.active = False

    def _pass(self) -> None:
        with self.store.locked():
            roles = sorted(self.store.list(CLUSTER_ROLES)[0], key=lambda r: str(r["metadata"]["name"]))
            for role in roles:
                rule = role.get("aggregationRule")
                if rule is None:
                    continue
                selectors = [selector_from_spec(s) for s in rule.get("clusterRoleSelectors") or []]
                name = role["metadata"]["name"]
                wanted: list[JSON] = []
                for other in roles:
                    if other["metadata"]["name"] == name or not any(sel(other) for sel in selectors):
                        continue
                    current = self.store.try_get(CLUSTER_ROLES, "", other["metadata"]["name"]) or other
                    wanted.extend(r for r in current.get("rules") or [] if r not in wanted)
                live = self.store.try_get(CLUSTER_ROLES, "", name)
                if live is not None and (live.get("rules") or []) != wanted:
                    def fill(obj: JSON, rules: list[JSON] = wanted) -> None:
                        obj["rules"] = rules
                    self.store.mutate(CLUSTER_ROLES, "", name, fill)


class StoreRbac:
    """Reads bindings and roles from one cluster's store to extend its policy.

    The bindings are turned into (subjects, namespace, rules) once per RBAC change and
    kept, like the RBAC authorizer's informer caches, so a decision the policy has not
    kept yet costs a walk over ~40 bootstrap bindings, not a re-read of every role.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._index: list[tuple[list[JSON], str, list[Rule]]] | None = None
        self._index_lock = threading.Lock()
        self._generation = 0

    def extend(self, policy: Policy) -> None:
        """Make ``policy`` ask these objects too, and forget its kept decisions whenever one changes."""
        policy.extra = self.rules_for

        def on_change(event: WatchEvent) -> None:
            if event.key in _RBAC_KEYS:
                with self._index_lock:
                    self._index = None
                    self._generation += 1
                policy.changed()

        self.store.hooks.append(on_change)

    def seed(self) -> None:
        """Create the API server's bootstrap ClusterRoles and ClusterRoleBindings (kubesim.bootstrap)."""
        for role in bootstrap.cluster_roles():
            self.store.create(CLUSTER_ROLES, role)
        AggregationController(self.store).reconcile()  # once all are there, not once per role
        for binding in bootstrap.cluster_role_bindings():
            self.store.create(CLUSTER_ROLE_BINDINGS, binding)

    def _role_rules(self, ref: JSON, namespace: str) -> list[JSON]:
        if ref.get("kind") == "ClusterRole":
            role = self.store.try_get(CLUSTER_ROLES, "", ref.get("name", ""))
        else:
            role = self.store.try_get(ROLES, namespace, ref.get("name", ""))
        return list((role or {}).get("rules") or [])

    def _bindings(self) -> list[tuple[list[JSON], str, list[Rule]]]:
        with self._index_lock:
            if self._index is not None:
                return self._index
            generation = self._generation
        index: list[tuple[list[JSON], str, list[Rule]]] = []
        with self.store.locked():
            for b in self.store.list(CLUSTER_ROLE_BINDINGS)[0]:
                rules = rules_from_json(self._role_rules(b.get("roleRef") or {}, ""), None)
                index.append((list(b.get("subjects") or []), "", rules))
            for b in self.store.list(ROLE_BINDINGS)[0]:
                ns = b["metadata"].get("namespace", "")
                rules = rules_from_json(self._role_rules(b.get("roleRef") or {}, ns), ns)
                index.append((list(b.get("subjects") or []), ns, rules))
        with self._index_lock:
            if generation == self._generation:  # nothing changed while reading: keep it
                self._index = index
        return index

    def rules_for(self, who: Identity) -> list[Rule]:
        out: list[Rule] = []
        for subjects, ns, rules in self._bindings():
            if any(_subject_matches(s, who, ns) for s in subjects):
                out.extend(rules)
        return out
