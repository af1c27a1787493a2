"""End to end: a real ``shoal server`` (worker and health loop inside), the real CLI, kubesim over HTTPS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from kubesim.runner import Simulator
from tests.support.server import ShoalProcess

TOKEN = "shoal_e2e-cluster-token-7a1c55e0"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShoalProcess]:
    proc = ShoalProcess(tmp_path_factory.mktemp("cluster-e2e") / "data",
                        {"SHOAL_ADMIN_TOKEN": TOKEN, "SHOAL_CLUSTER_HEALTH_INTERVAL": "2",
                         "SHOAL_WORKER_POLL_INTERVAL": "0.1"})
    proc.start()
    yield proc
    proc.stop()


def shoal(server: ShoalProcess, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SHOAL_URL": server.url, "SHOAL_TOKEN": TOKEN, "SHOAL_LANG": "en", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "shoal", *args], input=stdin, capture_output=True, text=True,
                          env=env, timeout=120)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"{result.args}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_check_import_wait_list_show_overview(server: ShoalProcess, shared_sim: Simulator, tmp_path: Path) -> None:
    admin = tmp_path / "admin.kubeconfig"
    admin.write_text(shared_sim.kubeconfig("admin"))
    viewer = tmp_path / "viewer.kubeconfig"
    viewer.write_text(shared_sim.kubeconfig("viewer"))
    exec_user = tmp_path / "exec.kubeconfig"
    doc = yaml.safe_load(shared_sim.kubeconfig("admin"))
    doc["users"][0]["user"] = {"exec": {"command": "gke-gcloud-auth-plugin"}}
    exec_user.write_text(yaml.safe_dump(doc))

    ok(shoal(server, "business", "add", "100", "Biz", "--maintainer", "admin"))
    ok(shoal(server, "project", "create", "ops", "--name", "Ops"))
    ok(shoal(server, "project", "enable", "ops", "--business", "100"))

    report = json.loads(ok(shoal(server, "cluster", "check", "--kubeconfig", str(admin), "-o", "json")))
    assert report["ok"] is True and report["version"] == "v1.37.1"
    refused = shoal(server, "cluster", "check", "--kubeconfig", str(viewer))
    assert refused.returncode == 1 and "lacks cluster-admin" in refused.stdout
    refused = shoal(server, "cluster", "check", "--kubeconfig", "-", "-o", "json", stdin=exec_user.read_text())
    assert refused.returncode == 1
    assert "gke-gcloud-auth-plugin" in json.loads(refused.stdout)["checks"][0]["message"]

    failed = shoal(server, "cluster", "import", "--project", "ops", "--name", "sim", "--kubeconfig", str(viewer))
    assert failed.returncode == 1 and "lacks cluster-admin" in failed.stderr and "Hint:" in failed.stderr
    result = ok(shoal(server, "cluster", "import", "--project", "ops", "--name", "sim", "--kubeconfig", str(admin),
                      "--environment", "stag", "--label", "team=infra", "--wait"))
    assert result.strip() == "BCS-K8S-15001"

    listed = json.loads(ok(shoal(server, "cluster", "list", "--project", "ops", "-o", "json")))
    assert [(c["id"], c["status"], c["node_count"]) for c in listed["items"]] == [("BCS-K8S-15001", "RUNNING", 2)]
    table = ok(shoal(server, "cluster", "list"))
    assert "BCS-K8S-15001" in table and "RUNNING" in table
    shown = ok(shoal(server, "cluster", "show", "BCS-K8S-15001"))
    assert "kubesim-control-plane" in shown and "master" in shown
    overview = json.loads(ok(shoal(server, "cluster", "overview", "BCS-K8S-15001", "-o", "json")))
    assert overview["nodes"]["ready"] == 2
    assert "Masters" in ok(shoal(server, "cluster", "overview", "BCS-K8S-15001"))

    again = shoal(server, "cluster", "import", "--project", "ops", "--name", "twice", "--kubeconfig", str(admin))
    assert again.returncode == 1 and "already registered as BCS-K8S-15001" in again.stderr

    no = shoal(server, "cluster", "delete", "BCS-K8S-15001", stdin="wrong\n")
    assert no.returncode == 1 and "nothing was deleted" in no.stderr
    assert "Nothing inside the cluster was changed" in ok(shoal(server, "cluster", "delete", "BCS-K8S-15001",
                                                                stdin="BCS-K8S-15001\n"))
    log = server.output()
    assert shared_sim.cluster().admin_token not in log, "a cluster token reached the server log"
    raw = b"".join(p.read_bytes() for p in Path(server.env["SHOAL_DATA_DIR"]).glob("shoal.db*"))
    assert shared_sim.cluster().admin_token.encode() not in raw
