"""Many virtual clusters behind one port, in-process and through ``kubesim serve``."""

from __future__ import annotations

import json
import ssl
import subprocess
from pathlib import Path

import httpx
from kubernetes import client, config

from kubesim.runner import Simulator, SubprocessSimulator
from tests.kubesim.conftest import KUBECTL


def _kube_system_uid(kubeconfig: str) -> str:
    api = config.new_client_from_config(config_file=kubeconfig)
    try:
        return str(client.CoreV1Api(api).read_namespace("kube-system").metadata.uid)
    finally:
        api.close()


def test_cli_serve_three_clusters(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with SubprocessSimulator(out, nodes=2, clusters=3) as proc:
        assert proc.ready_line.startswith("kubesim ready url=https://127.0.0.1:")
        assert (out / "ca.crt").read_text().startswith("-----BEGIN CERTIFICATE-----")
        names = ["cluster-1", "cluster-2", "cluster-3"]
        uids = {_kube_system_uid(proc.kubeconfig_path("admin", n)) for n in names}
        assert len(uids) == 3
        home = tmp_path / "home"
        home.mkdir()
        env = {"HOME": str(home), "PATH": "/usr/bin:/bin"}
        nodes = subprocess.run([KUBECTL, "--kubeconfig", proc.kubeconfig_path("viewer", "cluster-2"), "get",
                                "nodes", "-o", "json"], capture_output=True, text=True, env=env, timeout=60,
                               check=True)
        assert [n["metadata"]["name"] for n in json.loads(nodes.stdout)["items"]] == [
            "cluster-2-control-plane", "cluster-2-worker-1"]
        for n in names:
            for identity in ("admin", "viewer", "admin-cert"):
                assert Path(proc.kubeconfig_path(identity, n)).is_file()


def test_in_process_clusters_are_isolated() -> None:
    with Simulator(nodes=1, clusters=["east", "west"], seed_workloads=False) as sim:
        east, west = sim.cluster("east"), sim.cluster("west")
        assert east.kube_system_uid != west.kube_system_uid
        assert sim.cluster_url("west").endswith("/clusters/west")
        east.create("configmaps", {"metadata": {"name": "only-east"}}, "default")
        api = config.new_client_from_config(config_file=sim.kubeconfig_path("admin", "west"))
        try:
            names = [c.metadata.name for c in client.CoreV1Api(api).list_namespaced_config_map("default").items]
        finally:
            api.close()
        assert "only-east" not in names
        # a token of one cluster is not valid on another
        ctx = ssl.create_default_context(cafile=sim.ca_path)
        headers = {"Authorization": f"Bearer {east.admin_token}"}
        with httpx.Client(verify=ctx, headers=headers, timeout=10) as http:
            assert http.get(f"{sim.cluster_url('east')}/api/v1/nodes").status_code == 200
            assert http.get(f"{sim.cluster_url('west')}/api/v1/nodes").status_code == 401
            assert http.get(f"{sim.url}/clusters/nowhere/api/v1/nodes").status_code == 404


def test_add_cluster_while_serving() -> None:
    with Simulator(nodes=1, seed_workloads=False) as sim:
        extra = sim.add_cluster("late", nodes=2, seed_workloads=False)
        assert sim.cluster_url("late") == f"{sim.url}/clusters/late"
        assert sim.cluster_url() == sim.url
        assert Path(sim.kubeconfig_path("admin", "late")).parent.name == "late"
        ctx = ssl.create_default_context(cafile=sim.ca_path)
        with httpx.Client(verify=ctx, headers={"Authorization": f"Bearer {extra.admin_token}"}, timeout=10) as http:
            nodes = http.get(f"{sim.cluster_url('late')}/api/v1/nodes").json()["items"]
        assert [n["metadata"]["name"] for n in nodes] == ["late-control-plane", "late-worker-1"]


def test_identity_seed_makes_kube_system_uid_stable() -> None:
    from kubesim.cluster import VirtualCluster

    first = VirtualCluster("prod", 1, seed_workloads=False, identity_seed="demo")
    again = VirtualCluster("prod", 1, seed_workloads=False, identity_seed="demo")
    other = VirtualCluster("staging", 1, seed_workloads=False, identity_seed="demo")
    unseeded = VirtualCluster("prod", 1, seed_workloads=False)
    assert first.kube_system_uid == again.kube_system_uid
    assert len({first.kube_system_uid, other.kube_system_uid, unseeded.kube_system_uid}) == 3
