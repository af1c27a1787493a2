"""The fixtures other suites get from ``kubesim.testing``."""

from __future__ import annotations

import ssl
from collections.abc import Callable

import httpx

from kubesim import ROLE_VIEW, Simulator

pytest_plugins = ["kubesim.testing"]


def test_kubesim_fixture_serves(kubesim: Simulator) -> None:
    ctx = ssl.create_default_context(cafile=kubesim.ca_path)
    cluster = kubesim.cluster()
    with httpx.Client(verify=ctx, headers={"Authorization": f"Bearer {cluster.admin_token}"}) as http:
        nodes = http.get(f"{kubesim.url}/api/v1/nodes").json()["items"]
    assert len(nodes) == 3


def test_factory_builds_other_shapes(kubesim_factory: Callable[..., Simulator]) -> None:
    sim = kubesim_factory(nodes=1, clusters=2, seed_workloads=False)
    assert [c.name for c in sim.clusters] == ["cluster-1", "cluster-2"]
    sim.cluster("cluster-2").grant_group("auditors", ROLE_VIEW)
    assert sim.kubeconfig_path("viewer", "cluster-2").endswith("cluster-2/viewer.kubeconfig")


def test_start_in_thread() -> None:
    from kubesim import start_in_thread

    sim = start_in_thread(nodes=1, seed_workloads=False)
    try:
        assert sim.url.startswith("https://127.0.0.1:") and sim.cluster().node_names() == ["kubesim-control-plane"]
    finally:
        sim.stop()
