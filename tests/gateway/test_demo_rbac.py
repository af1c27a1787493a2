"""Shoal's access objects (shoal.kube.access), created in kubesim by ``grant_shoal_groups``, give its
impersonated groups their rights as real RBAC objects would: kubesim evaluates them with the upstream
bootstrap roles (view reads no Secrets and no Nodes; plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go)."""

from __future__ import annotations

from pathlib import Path

import httpx
import yaml

from kubesim.runner import Simulator
from shoal.demo import grant_shoal_groups
from shoal.kube import access


def test_demo_cluster_lets_shoal_groups_act_by_role() -> None:
    sim = Simulator(nodes=1).start()
    try:
        token = yaml.safe_load(Path(sim.kubeconfig_path("admin")).read_text())["users"][0]["user"]["token"]
        with httpx.Client(base_url=sim.url, verify=False, headers={"Authorization": f"Bearer {token}"}) as admin:
            def as_group(group: str, method: str, path: str) -> int:
                return admin.request(method, path, headers={"Impersonate-User": "shoal:vera",
                                                            "Impersonate-Group": group}, json={}).status_code

            assert as_group("shoal:role:viewer", "GET", "/api/v1/nodes") == 403  # nothing bound yet
            grant_shoal_groups(sim)
            grant_shoal_groups(sim)  # idempotent: applying again replaces, never fails
            assert as_group("shoal:role:viewer", "GET", "/api/v1/nodes") == 200
            assert as_group("shoal:role:viewer", "GET", "/apis/storage.k8s.io/v1/storageclasses") == 200
            assert as_group("shoal:role:viewer", "GET", "/api/v1/persistentvolumes") == 200
            assert as_group("shoal:role:viewer", "GET", "/api/v1/namespaces/default/secrets") == 403
            assert as_group("shoal:role:viewer", "DELETE", "/api/v1/namespaces/default/configmaps/x") == 403
            assert as_group("shoal:role:developer", "GET", "/api/v1/namespaces/default/pods") == 200
            assert as_group("shoal:role:developer", "GET", "/api/v1/nodes") == 200
            assert as_group("shoal:role:developer", "GET", "/api/v1/namespaces/default/secrets") == 200
            assert as_group("shoal:role:developer", "PATCH", "/api/v1/nodes/x") == 403  # edit patches no nodes
            assert as_group("shoal:admins", "GET", "/api/v1/nodes") == 200
            assert as_group("shoal:role:manager", "DELETE", "/api/v1/nodes/nope") == 404  # allowed, just absent
            # they are real RBAC objects, all labelled as Shoal's and nothing else is
            label = "=".join(access.MANAGED_BY)
            for plural, kind in (("clusterroles", "ClusterRole"), ("clusterrolebindings", "ClusterRoleBinding")):
                names = {o["metadata"]["name"] for o in admin.get(
                    f"/apis/rbac.authorization.k8s.io/v1/{plural}", params={"labelSelector": label}).json()["items"]}
                assert names == {o["metadata"]["name"] for o in access.desired_objects() if o["kind"] == kind}
    finally:
        sim.stop()
