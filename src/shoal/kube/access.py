"""Shoal's access set-up inside a cluster: the RBAC objects that give its impersonated groups rights.

The gateway and the web console reach a cluster with Shoal's own credential and
``Impersonate-User``/``Impersonate-Group`` headers (``shoal.gateway.core``): the user
``shoal:<username>``, the group ``shoal:role:<viewer|developer|manager>`` of their role in
the cluster's project, and ``shoal:admins`` for platform admins. Those groups have no
rights in a cluster until something binds them; these are the objects that do, written
once, here, as plain Kubernetes manifests (no HTTP, no client): the demo and the tests
create them in kubesim, and the import step applies them to real clusters with
server-side apply.

What each group may do (issue 15):

* viewer    = the built-in ``view`` ClusterRole plus reading nodes, namespaces,
  persistent volumes, storage classes and events (``view`` reads no Nodes, no
  PersistentVolumes, no StorageClasses — they are cluster-scoped — and no Secrets);
* developer = ``edit`` plus the same reads;
* manager and platform admins = ``cluster-admin``.

Every object carries ``app.kubernetes.io/managed-by=shoal`` so Shoal can find, repair and
remove exactly its own objects and nothing else.
"""

from __future__ import annotations

import copy
from typing import Any

JSON = dict[str, Any]

__all__ = [
    "ADMINS_GROUP",
    "CLUSTER_READER",
    "MANAGED_BY",
    "RBAC_API_VERSION",
    "ROLE_BINDINGS",
    "cluster_role_bindings",
    "cluster_roles",
    "desired_objects",
    "role_group",
]

RBAC_GROUP = "rbac.authorization.k8s.io"
RBAC_API_VERSION = f"{RBAC_GROUP}/v1"
#: the label (key, value) on every object Shoal manages in a cluster
MANAGED_BY = ("app.kubernetes.io/managed-by", "shoal")
#: the group the gateway adds for platform admins
ADMINS_GROUP = "shoal:admins"
#: Shoal's own ClusterRole: the cluster-scoped reads a viewer's and a developer's pages need
CLUSTER_READER = "shoal:cluster-reader"

_READ = ["get", "list", "watch"]
_CLUSTER_READER_RULES: list[JSON] = [
    {"apiGroups": [""], "resources": ["events", "namespaces", "nodes", "persistentvolumes"], "verbs": _READ},
    {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": _READ},
    {"apiGroups": ["storage.k8s.io"], "resources": ["storageclasses"], "verbs": _READ},
]

#: (binding name, ClusterRole, groups bound) — one ClusterRoleBinding each
ROLE_BINDINGS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("shoal:viewer", "view", ("shoal:role:viewer",)),
    ("shoal:developer", "edit", ("shoal:role:developer",)),
    (CLUSTER_READER, CLUSTER_READER, ("shoal:role:viewer", "shoal:role:developer")),
    ("shoal:manager", "cluster-admin", ("shoal:role:manager",)),
    ("shoal:admins", "cluster-admin", (ADMINS_GROUP,)),
)


def role_group(role: str) -> str:
    """The group the gateway impersonates for a member with project role ``role`` (``viewer``, …)."""
    return f"shoal:role:{role}"


def _metadata(name: str) -> JSON:
    return {"name": name, "labels": {MANAGED_BY[0]: MANAGED_BY[1]}}


def cluster_roles() -> list[JSON]:
    """The ClusterRoles Shoal owns in every cluster (fresh copies: callers may change them)."""
    return [{"apiVersion": RBAC_API_VERSION, "kind": "ClusterRole", "metadata": _metadata(CLUSTER_READER),
             "rules": copy.deepcopy(_CLUSTER_READER_RULES)}]


def cluster_role_bindings() -> list[JSON]:
    """The ClusterRoleBindings that give Shoal's impersonated groups their rights."""
    return [{"apiVersion": RBAC_API_VERSION, "kind": "ClusterRoleBinding", "metadata": _metadata(name),
             "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": role},
             "subjects": [{"apiGroup": RBAC_GROUP, "kind": "Group", "name": g} for g in groups]}
            for name, role, groups in ROLE_BINDINGS]


def desired_objects() -> list[JSON]:
    """Everything Shoal wants in a cluster, roles before the bindings that name them."""
    return [*cluster_roles(), *cluster_role_bindings()]
