"""kubesim keeps authorisation decisions, and forgets them the moment a grant or an RBAC object changes."""

from __future__ import annotations

from kubesim.authz import ROLE_VIEW, Attributes, Identity, Policy
from kubesim.cluster import VirtualCluster

LIST_NODES = Attributes("list", "", "nodes")
LIST_PODS = Attributes("list", "", "pods")
DELETE_NODES = Attributes("delete", "", "nodes")
RBAC_GROUP = "rbac.authorization.k8s.io"


def test_direct_grants_and_revocations_take_effect_at_once() -> None:
    policy = Policy()
    who = Identity("shoal:ann", ("team-a",)).with_authenticated()
    assert not policy.allows(who, LIST_PODS)
    policy.bind_group("team-a", ROLE_VIEW)
    assert policy.allows(who, LIST_PODS)
    assert policy.allows(who, LIST_PODS)  # kept
    policy.revoke_group("team-a")
    assert not policy.allows(who, LIST_PODS)
    policy.bind_user("shoal:ann", ROLE_VIEW)
    assert policy.allows(who, LIST_PODS)
    policy.revoke_user("shoal:ann")
    assert not policy.allows(who, LIST_PODS)


def test_rbac_objects_take_effect_at_once() -> None:
    cluster = VirtualCluster("c", 1, seed_workloads=False)
    who = Identity("shoal:ann", ("shoal:role:manager",)).with_authenticated()
    assert not cluster.policy.allows(who, LIST_NODES)

    binding = {"metadata": {"name": "managers"},
               "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": "view"},
               "subjects": [{"apiGroup": RBAC_GROUP, "kind": "Group", "name": "shoal:role:manager"}]}
    cluster.create("clusterrolebindings", binding, group=RBAC_GROUP)
    assert cluster.policy.allows(who, LIST_PODS)
    assert not cluster.policy.allows(who, LIST_NODES)  # the real view reads no nodes
    assert not cluster.policy.allows(who, DELETE_NODES)

    # the bound role gains rules (through aggregation): the kept "no"s must not survive
    cluster.create("clusterroles", {
        "metadata": {"name": "node-reader", "labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}},
        "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["list", "delete"]}]}, group=RBAC_GROUP)
    assert cluster.policy.allows(who, LIST_NODES)
    assert cluster.policy.allows(who, DELETE_NODES)

    cluster.delete("clusterrolebindings", "managers", group=RBAC_GROUP)
    assert not cluster.policy.allows(who, LIST_PODS)
    assert not cluster.policy.allows(who, DELETE_NODES)


def test_kept_decisions_are_bounded() -> None:
    policy = Policy()
    policy.bind_group("team-a", ROLE_VIEW)
    for i in range(5000):
        assert policy.allows(Identity(f"user-{i}", ("team-a",)), LIST_PODS)
    assert len(policy._decisions) <= 4096
