"""Shoal's in-cluster access objects (shoal.kube.access): plain manifests that bind every group the gateway
impersonates, all labelled as Shoal's, importable without kubesim or any HTTP library."""

from __future__ import annotations

import subprocess
import sys

from shoal.iam.authz import Role
from shoal.kube import access


def test_every_impersonated_group_is_bound_and_every_object_is_labelled() -> None:
    objects = access.desired_objects()
    assert [o["kind"] for o in objects] == ["ClusterRole"] + ["ClusterRoleBinding"] * (len(objects) - 1)
    for obj in objects:
        assert obj["apiVersion"] == "rbac.authorization.k8s.io/v1"
        assert obj["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "shoal"}
    bound: dict[str, set[str]] = {}
    for binding in access.cluster_role_bindings():
        for subject in binding["subjects"]:
            assert subject["kind"] == "Group" and subject["apiGroup"] == "rbac.authorization.k8s.io"
            bound.setdefault(subject["name"], set()).add(binding["roleRef"]["name"])
    assert set(bound) == {access.role_group(r.value) for r in Role} | {access.ADMINS_GROUP}
    assert bound[access.role_group("viewer")] == {"view", access.CLUSTER_READER}
    assert bound[access.role_group("developer")] == {"edit", access.CLUSTER_READER}
    assert bound[access.role_group("manager")] == bound[access.ADMINS_GROUP] == {"cluster-admin"}
    (reader,) = access.cluster_roles()
    reads = {(g, r) for rule in reader["rules"] for g in rule["apiGroups"] for r in rule["resources"]
             if rule["verbs"] == ["get", "list", "watch"]}
    assert {("", "nodes"), ("", "namespaces"), ("", "persistentvolumes"), ("storage.k8s.io", "storageclasses"),
            ("", "events"), ("events.k8s.io", "events")} == reads
    objects[0]["rules"].clear()  # callers get copies
    assert access.cluster_roles()[0]["rules"]


def test_the_module_does_not_need_kubesim() -> None:
    """(That it imports no HTTP library itself is an import-linter contract in pyproject.toml.)"""
    code = ("import sys, shoal.kube.access; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('kubesim', 'httpx', 'aiohttp', 'fastapi', 'starlette', 'kubernetes')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "kubesim" not in out, out
