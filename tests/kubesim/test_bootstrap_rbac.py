"""kubesim has the real API server's bootstrap RBAC, checked through the real kubectl and the official client.

Sources: kubernetes/kubernetes plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go (ClusterRoles()
and ClusterRoleBindings(); recorded in testdata/cluster-roles.yaml and cluster-role-bindings.yaml),
controller_policy.go (testdata/controller-roles.yaml), and the aggregation controller
pkg/controller/clusterroleaggregation/clusterroleaggregation_controller.go; the behaviour is documented
at https://kubernetes.io/docs/reference/access-authn-authz/rbac/#default-roles-and-role-bindings and
#aggregated-clusterroles.
"""

from __future__ import annotations

import json
from typing import Any

from kubernetes import client, config

from kubesim.runner import Simulator
from tests.kubesim.conftest import Kubectl

RBAC = "rbac.authorization.k8s.io"

VIEWERS = f"""\
apiVersion: {RBAC}/v1
kind: ClusterRoleBinding
metadata: {{name: viewers}}
roleRef: {{apiGroup: {RBAC}, kind: ClusterRole, name: view}}
subjects: [{{apiGroup: {RBAC}, kind: Group, name: viewers}}]
---
apiVersion: {RBAC}/v1
kind: ClusterRoleBinding
metadata: {{name: editors}}
roleRef: {{apiGroup: {RBAC}, kind: ClusterRole, name: edit}}
subjects: [{{apiGroup: {RBAC}, kind: Group, name: editors}}]
"""

CRONTAB_CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: crontabs.stable.example.com}
spec:
  group: stable.example.com
  names: {kind: CronTab, plural: crontabs, singular: crontab}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
"""

CRONTAB_VIEW = f"""\
apiVersion: {RBAC}/v1
kind: ClusterRole
metadata:
  name: crontabs-view
  labels: {{rbac.authorization.k8s.io/aggregate-to-view: "true"}}
rules:
- apiGroups: [stable.example.com]
  resources: [crontabs]
  verbs: [get, list, watch]
"""


def _can(kubectl: Kubectl, *args: str) -> str:
    out = kubectl("auth", "can-i", *args, check=False)
    return out.stdout.strip()


def _rules(kubectl: Kubectl, role: str) -> list[dict[str, Any]]:
    return list(json.loads(kubectl("get", "clusterrole", role, "-o", "json").stdout).get("rules") or [])


def _grants(rules: list[dict[str, Any]], group: str, resource: str, verb: str) -> bool:
    return any(group in r.get("apiGroups", []) and resource in r.get("resources", []) and verb in r["verbs"]
               for r in rules)


def test_view_edit_admin_are_aggregated_and_view_reads_no_secrets_or_nodes(kubectl: Kubectl) -> None:
    view = json.loads(kubectl("get", "clusterrole", "view", "-o", "json").stdout)
    assert view["aggregationRule"] == {"clusterRoleSelectors": [
        {"matchLabels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}}]}
    assert view["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-edit"] == "true"
    assert view["rules"] == _rules(kubectl, "system:aggregate-to-view")  # filled by the aggregation controller
    assert _grants(view["rules"], "", "pods", "list") and _grants(view["rules"], "apps", "deployments", "watch")
    assert not _grants(view["rules"], "", "secrets", "get") and not _grants(view["rules"], "", "nodes", "list")
    edit = _rules(kubectl, "edit")
    assert all(r in edit for r in view["rules"]) and _grants(edit, "", "secrets", "create")
    assert not _grants(edit, RBAC, "rolebindings", "create")
    admin = _rules(kubectl, "admin")
    assert all(r in admin for r in edit) and _grants(admin, RBAC, "rolebindings", "create")

    kubectl("apply", "-f", "-", stdin=VIEWERS)
    assert _can(kubectl, "list", "pods", "-A", "--as=jane", "--as-group=viewers") == "yes"
    assert _can(kubectl, "get", "pods", "--subresource=log", "--as=jane", "--as-group=viewers") == "yes"
    assert _can(kubectl, "list", "secrets", "--as=jane", "--as-group=viewers") == "no"
    assert _can(kubectl, "list", "nodes", "--as=jane", "--as-group=viewers") == "no"
    assert _can(kubectl, "create", "configmaps", "--as=jane", "--as-group=viewers") == "no"
    assert _can(kubectl, "create", "secrets", "--as=ed", "--as-group=editors") == "yes"
    assert _can(kubectl, "create", "pods", "--subresource=exec", "--as=ed", "--as-group=editors") == "yes"
    assert _can(kubectl, "patch", "nodes", "--as=ed", "--as-group=editors") == "no"
    assert _can(kubectl, "create", "rolebindings", "--as=ed", "--as-group=editors") == "no"


def test_a_labelled_cluster_role_extends_view_edit_and_admin(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", stdin=VIEWERS + "---\n" + CRONTAB_CRD)
    assert _can(kubectl, "list", "crontabs.stable.example.com", "--as=jane", "--as-group=viewers") == "no"
    kubectl("apply", "-f", "-", stdin=CRONTAB_VIEW)
    for role in ("view", "edit", "admin"):  # view is labelled into edit, edit into admin
        assert _grants(_rules(kubectl, role), "stable.example.com", "crontabs", "list"), role
    assert _can(kubectl, "list", "crontabs.stable.example.com", "--as=jane", "--as-group=viewers") == "yes"
    # a change to the labelled role is followed; so is its deletion
    kubectl("apply", "-f", "-", stdin=CRONTAB_VIEW.replace("[get, list, watch]", "[get]"))
    assert not _grants(_rules(kubectl, "view"), "stable.example.com", "crontabs", "list")
    assert _grants(_rules(kubectl, "view"), "stable.example.com", "crontabs", "get")
    kubectl("delete", "clusterrole", "crontabs-view")
    assert not any("stable.example.com" in r.get("apiGroups", []) for r in _rules(kubectl, "admin"))
    # the controller owns the rules of an aggregated role: a hand edit is put back
    kubectl("patch", "clusterrole", "view", "--type=json",
            "-p", '[{"op": "add", "path": "/rules/-", "value": {"apiGroups": [""], "resources": ["nodes"], '
                  '"verbs": ["list"]}}]')
    assert not _grants(_rules(kubectl, "view"), "", "nodes", "list")
    assert _can(kubectl, "list", "nodes", "--as=jane", "--as-group=viewers") == "no"


def test_system_roles_and_default_bindings(kubectl: Kubectl) -> None:
    names = set(kubectl("get", "clusterroles", "-o", "name").stdout.split())
    for role in ("cluster-admin", "admin", "edit", "view", "system:basic-user", "system:discovery",
                 "system:public-info-viewer", "system:node", "system:kube-controller-manager",
                 "system:kube-scheduler", "system:controller:deployment-controller",
                 "system:controller:replicaset-controller", "system:controller:job-controller",
                 "system:controller:daemon-set-controller", "system:controller:statefulset-controller",
                 "system:controller:clusterrole-aggregation-controller"):
        assert f"clusterrole.rbac.authorization.k8s.io/{role}" in names, role
    bindings = {b["metadata"]["name"]: b for b in
                json.loads(kubectl("get", "clusterrolebindings", "-o", "json").stdout)["items"]}
    groups = {name: sorted(s["name"] for s in b.get("subjects") or []) for name, b in bindings.items()}
    assert groups["cluster-admin"] == ["system:masters"]
    assert groups["system:discovery"] == groups["system:basic-user"] == ["system:authenticated"]
    assert groups["system:public-info-viewer"] == ["system:authenticated", "system:unauthenticated"]
    assert bindings["system:controller:deployment-controller"]["subjects"] == [
        {"kind": "ServiceAccount", "name": "deployment-controller", "namespace": "kube-system"}]

    # system:anonymous gets only public-info-viewer: not even system:basic-user's SelfSubjectAccessReview
    anon = ("--as=system:anonymous", "--as-group=system:unauthenticated")
    assert '"gitVersion"' in kubectl("get", "--raw", "/version", *anon).stdout
    assert kubectl("get", "--raw", "/readyz", *anon).stdout == "ok"
    refused = kubectl("get", "--raw", "/apis", *anon, check=False)
    assert refused.returncode != 0 and "forbidden" in refused.stderr.lower(), refused.stderr
    assert "selfsubjectaccessreviews" in kubectl("auth", "can-i", "get", "/apis", *anon, check=False).stderr
    assert _can(kubectl, "get", "/apis", "--as=nobody") == "yes"
    assert _can(kubectl, "list", "pods", "--as=nobody") == "no"
    assert _can(kubectl, "list", "nodes", "--as=system:kube-scheduler") == "yes"
    assert _can(kubectl, "create", "pods", "--subresource=binding", "--as=system:kube-scheduler") == "yes"
    assert _can(kubectl, "delete", "nodes", "--as=system:kube-scheduler") == "no"
    sa = "--as=system:serviceaccount:kube-system:replicaset-controller"
    assert _can(kubectl, "create", "pods", "-n", "default", sa) == "yes"
    assert _can(kubectl, "create", "deployments.apps", "-n", "default", sa) == "no"
    # the cluster's own read-only identity is bound to a read-everything grant, not to view
    assert _can(kubectl, "list", "pods", "-A", "--as=kubesim-viewer", "--as-group=kubesim:viewers") == "yes"


def test_official_client_reads_aggregation_rules_and_bindings(sim: Simulator) -> None:
    api_client = config.new_client_from_config(config_file=sim.kubeconfig_path("admin"))
    try:
        rbac = client.RbacAuthorizationV1Api(api_client)
        edit = rbac.read_cluster_role("edit")
        assert edit.aggregation_rule.cluster_role_selectors[0].match_labels == {
            "rbac.authorization.k8s.io/aggregate-to-edit": "true"}
        assert edit.metadata.annotations["rbac.authorization.kubernetes.io/autoupdate"] == "true"
        assert any("secrets" in (r.resources or []) and "create" in r.verbs for r in edit.rules)
        node = rbac.read_cluster_role("system:node")
        assert any("nodes/status" in (r.resources or []) for r in node.rules)
        binding = rbac.read_cluster_role_binding("cluster-admin")
        assert binding.role_ref.name == "cluster-admin"
        assert [(s.kind, s.name) for s in binding.subjects] == [("Group", "system:masters")]
        labelled = rbac.list_cluster_role(label_selector="kubernetes.io/bootstrapping=rbac-defaults").items
        assert len(labelled) >= 30
    finally:
        api_client.close()
