"""Who may do what: identities, RBAC-like rules, impersonation.

The router authenticates a request to an :class:`Identity`, turns it into
:class:`Attributes` (verb × API group × resource × namespace × name, or a
non-resource path), and asks :meth:`Policy.allows`. Rules follow RBAC matching:
``"*"`` in a rule matches anything, but a request for verb ``"*"`` is only allowed by
a rule that grants ``"*"`` — which is why ``kubectl auth can-i '*' '*' -A`` says
yes for cluster-admin and no for a viewer.

Rules are attached to users and to groups. Tests grant rules to users and groups
that only ever appear through ``Impersonate-User``/``Impersonate-Group`` headers, e.g.
``cluster.policy.bind_group("team-a", ROLE_EDIT, namespaces=["team-a"])``.
"""

from __future__ import annotations

import fnmatch
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubesim import bootstrap

__all__ = [
    "ANONYMOUS",
    "AUTHENTICATED",
    "DISCOVERY_RULES",
    "PUBLIC_INFO_RULES",
    "ROLE_ADMIN",
    "ROLE_CLUSTER_ADMIN",
    "ROLE_EDIT",
    "ROLE_READ_ALL",
    "ROLE_VIEW",
    "UNAUTHENTICATED",
    "Attributes",
    "Identity",
    "Policy",
    "Rule",
    "rules_from_json",
]

AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"


@dataclass(frozen=True)
class Identity:
    """An authenticated user and its groups."""

    user: str
    groups: tuple[str, ...] = ()
    uid: str = ""

    def with_authenticated(self) -> Identity:
        if AUTHENTICATED in self.groups:
            return self
        return Identity(self.user, (*self.groups, AUTHENTICATED), self.uid)


ANONYMOUS = Identity("system:anonymous", (UNAUTHENTICATED,))


@dataclass(frozen=True)
class Attributes:
    """What a request does. ``resource`` may carry a subresource as ``pods/log``."""

    verb: str
    group: str = ""
    resource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""

    @property
    def is_resource(self) -> bool:
        return bool(self.resource)


@dataclass(frozen=True)
class Rule:
    """One grant. ``namespaces=None`` applies cluster-wide (like a ClusterRoleBinding)."""

    verbs: tuple[str, ...]
    api_groups: tuple[str, ...] = ("*",)
    resources: tuple[str, ...] = ("*",)
    namespaces: tuple[str, ...] | None = None
    resource_names: tuple[str, ...] = ()
    non_resource_urls: tuple[str, ...] = ()

    def allows(self, a: Attributes) -> bool:
        if "*" not in self.verbs and a.verb not in self.verbs:
            return False
        if not a.is_resource:
            return any(u == a.path or u == "*" or (u.endswith("*") and a.path.startswith(u[:-1]))
                       for u in self.non_resource_urls)
        if not self.resources:
            return False
        if "*" not in self.api_groups and a.group not in self.api_groups:
            return False
        if not self._resource_matches(a.resource):
            return False
        if self.namespaces is not None and (a.namespace == "" or a.namespace not in self.namespaces):
            return False
        return not self.resource_names or a.name in self.resource_names

    def _resource_matches(self, resource: str) -> bool:
        for r in self.resources:
            if r == "*" or r == resource:
                return True
            if "/" in resource and r.startswith("*/") and resource.split("/", 1)[1] == r[2:]:
                return True
            if "/" in resource and r.endswith("/*") and resource.split("/", 1)[0] == r[:-2]:
                return True
        return False

    def as_resource_rule(self) -> dict[str, list[str]]:
        out = {"verbs": list(self.verbs), "apiGroups": list(self.api_groups), "resources": list(self.resources)}
        if self.resource_names:
            out["resourceNames"] = list(self.resource_names)
        return out


def rules_from_json(policy_rules: list[dict[str, Any]], namespace: str | None = None) -> list[Rule]:
    """RBAC ``PolicyRule`` dicts as :class:`Rule` objects, cluster-wide or within ``namespace``."""
    return [Rule(
        verbs=tuple(r.get("verbs") or ()),
        api_groups=tuple(r.get("apiGroups") or ()),
        resources=tuple(r.get("resources") or ()),
        namespaces=(namespace,) if namespace else None,
        resource_names=tuple(r.get("resourceNames") or ()),
        non_resource_urls=tuple(r.get("nonResourceURLs") or ()) if not namespace else (),
    ) for r in policy_rules]


def _bootstrap(name: str) -> tuple[Rule, ...]:
    role = next(r for r in bootstrap.cluster_roles() if r["metadata"]["name"] == name)
    rules = bootstrap.aggregated_rules(name) if "aggregationRule" in role else role["rules"]
    return tuple(rules_from_json(rules))


# The rules of the bootstrap roles of the same name on a fresh cluster (kubesim.bootstrap):
# granting ROLE_VIEW grants exactly what a binding to the real ``view`` does — no Secrets, no Nodes.
ROLE_CLUSTER_ADMIN: tuple[Rule, ...] = _bootstrap("cluster-admin")
ROLE_VIEW: tuple[Rule, ...] = _bootstrap("view")
ROLE_EDIT: tuple[Rule, ...] = _bootstrap("edit")
ROLE_ADMIN: tuple[Rule, ...] = _bootstrap("admin")
# system:basic-user + system:discovery, bound to every authenticated identity
DISCOVERY_RULES: tuple[Rule, ...] = _bootstrap("system:basic-user") + _bootstrap("system:discovery")
# system:public-info-viewer: what anyone, even without credentials, may read
PUBLIC_INFO_RULES: tuple[Rule, ...] = _bootstrap("system:public-info-viewer")
#: get/list/watch of everything, Secrets and Nodes included — NOT ``view``: kubesim's own
#: read-only identity ``kubesim-viewer`` has it, as a user bound to such a custom role would.
ROLE_READ_ALL: tuple[Rule, ...] = (Rule(("get", "list", "watch")),)


def _scoped(rules: tuple[Rule, ...], namespaces: list[str] | None) -> list[Rule]:
    if namespaces is None:
        return list(rules)
    ns = tuple(namespaces)
    return [Rule(r.verbs, r.api_groups, r.resources, ns, r.resource_names, ()) for r in rules if r.resources]


#: Decisions kept before the cache starts over (a bound against many distinct requests).
_MAX_DECISIONS = 4096


@dataclass
class Policy:
    """Rules per user and per group; thread-safe so tests can change it while serving.

    Decisions are kept per (identity, attributes) until a grant, a revocation or an
    RBAC object changes (:meth:`changed`). Like the API server's RBAC authorizer, which
    answers from an in-memory index, a check then costs a lookup, not a walk over
    every binding; an impersonated request is checked three or four times (the user,
    each group, then the request itself), so without this kubesim spent a third more
    per impersonated read than per plain one.
    """

    users: dict[str, list[Rule]] = field(default_factory=dict)
    groups: dict[str, list[Rule]] = field(default_factory=dict)
    # further rules from elsewhere (the cluster's RBAC objects), asked per identity
    extra: Callable[[Identity], list[Rule]] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _decisions: dict[tuple[Identity, Attributes], bool] = field(default_factory=dict, repr=False)
    _generation: int = field(default=0, repr=False)

    def __post_init__(self) -> None:
        # system:masters is not an RBAC grant upstream but the authorizer chain's privileged
        # group (pkg/kubeapiserver/authorizer: authorizerfactory.NewPrivilegedGroups): always allowed.
        # What system:authenticated/unauthenticated may do comes from the bootstrap
        # ClusterRoleBindings (system:discovery, system:basic-user, system:public-info-viewer).
        self.groups.setdefault("system:masters", list(ROLE_CLUSTER_ADMIN))

    def bind_user(self, user: str, rules: tuple[Rule, ...] | list[Rule],
                  namespaces: list[str] | None = None) -> None:
        """Grant ``rules`` to ``user``, cluster-wide or only in ``namespaces``."""
        with self._lock:
            self.users.setdefault(user, []).extend(_scoped(tuple(rules), namespaces))
            self._forget()

    def bind_group(self, group: str, rules: tuple[Rule, ...] | list[Rule],
                   namespaces: list[str] | None = None) -> None:
        """Grant ``rules`` to every member of ``group`` (e.g. an impersonated group)."""
        with self._lock:
            self.groups.setdefault(group, []).extend(_scoped(tuple(rules), namespaces))
            self._forget()

    def revoke_user(self, user: str) -> None:
        with self._lock:
            self.users.pop(user, None)
            self._forget()

    def revoke_group(self, group: str) -> None:
        with self._lock:
            self.groups.pop(group, None)
            self._forget()

    def changed(self) -> None:
        """Forget kept decisions: rules came from elsewhere (``extra``) and those changed."""
        with self._lock:
            self._forget()

    def _forget(self) -> None:
        self._generation += 1
        self._decisions.clear()

    def rules_for(self, who: Identity) -> list[Rule]:
        with self._lock:
            rules = list(self.users.get(who.user, []))
            for g in who.groups:
                rules.extend(self.groups.get(g, []))
            for pattern, grp_rules in self.users.items():
                if "*" in pattern and pattern != who.user and fnmatch.fnmatch(who.user, pattern):
                    rules.extend(grp_rules)
        if self.extra is not None:
            rules.extend(self.extra(who))
        return rules

    def allows(self, who: Identity, a: Attributes) -> bool:
        key = (who, a)
        decision = self._decisions.get(key)
        if decision is not None:
            return decision
        with self._lock:
            generation = self._generation
            direct = list(self.users.get(who.user, []))
            for g in who.groups:
                direct.extend(self.groups.get(g, []))
        # cheap direct grants first; RBAC objects are only read when those do not suffice
        decision = any(r.allows(a) for r in direct) or any(r.allows(a) for r in self.rules_for(who))
        with self._lock:
            if generation == self._generation:  # nothing changed while deciding: the answer may be kept
                if len(self._decisions) >= _MAX_DECISIONS:
                    self._decisions.clear()
                self._decisions[key] = decision
        return decision

