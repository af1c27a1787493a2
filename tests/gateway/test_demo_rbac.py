"""``make demo`` binds Shoal's impersonated groups in its kubesim cluster, so the gateway works there."""

from __future__ import annotations

from pathlib import Path

import httpx
import yaml

from kubesim.runner import Simulator
from shoal.demo import grant_shoal_groups


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
            assert as_group("shoal:role:viewer", "GET", "/api/v1/nodes") == 200
            assert as_group("shoal:role:viewer", "DELETE", "/api/v1/namespaces/default/configmaps/x") == 403
            assert as_group("shoal:role:developer", "GET", "/api/v1/namespaces/default/pods") == 200
            assert as_group("shoal:admins", "GET", "/api/v1/nodes") == 200
    finally:
        sim.stop()
