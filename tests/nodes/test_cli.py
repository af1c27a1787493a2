"""``shoal node …`` against a real Shoal server (uvicorn on loopback) and kubesim, checked with kubectl."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from shoal.cli import app as cli
from shoal.tasks.worker import Worker
from tests.nodes.conftest import Kubectl, node_table

W1, W2 = "kubesim-worker-1", "kubesim-worker-2"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_node_commands(api_server: str, people: dict[str, dict[str, str]], cluster: str, kubectl: Kubectl,
                             worker: Worker, monkeypatch: pytest.MonkeyPatch, client: httpx.AsyncClient,
                             tmp_path: Path) -> None:
    token = people["mona"]["Authorization"].split()[1]
    monkeypatch.setenv("SHOAL_URL", api_server)
    monkeypatch.setenv("SHOAL_TOKEN", token)
    monkeypatch.setenv("SHOAL_LANG", "en")
    monkeypatch.setenv("COLUMNS", "220")
    monkeypatch.setenv("SHOAL_CONFIG", "/nonexistent/shoal.json")
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(cli, list(args), catch_exceptions=False)
        return result.exit_code, result.output

    code, text = run("node", "cordon", cluster, W1, W2)
    assert code == 0 and f"node/{W1} Ready,SchedulingDisabled" in text
    assert node_table(kubectl("get", "nodes"))[W2] == "Ready,SchedulingDisabled"
    code, text = run("node", "list", cluster, "-o", "json", "--status", "REMOVABLE")
    assert code == 0 and sorted(n["name"] for n in json.loads(text)["items"]) == [W1, W2]
    code, text = run("node", "list", cluster)
    assert code == 0 and "kubesim-control-plane" in text and "4 of 4" in text
    code, text = run("node", "list", cluster, "-o", "name")
    assert code == 0 and text.splitlines() == ["node/kubesim-control-plane", f"node/{W1}", f"node/{W2}",
                                               "node/kubesim-worker-3"]
    code, text = run("node", "list", cluster, "-o", "wide", "--no-headers")
    rows = [line.split() for line in text.splitlines()]
    assert code == 0 and len(rows) == 4 and rows[1][:2] == [W1, "Ready,SchedulingDisabled"]
    assert text.count("containerd://") == 4  # -o wide adds OS image, kernel and container runtime

    path = tmp_path / "mona.kubeconfig"
    code, text = run("kubeconfig", cluster, "--file", str(path))
    assert code == 0 and "kubeconfig-revoke" in text and path.stat().st_mode & 0o777 == 0o600
    assert "deprecated" not in text and f"/clusters/{cluster}" in path.read_text()
    old = tmp_path / "old-spelling.kubeconfig"
    code, text = run("kubeconfig", cluster, "-o", str(old))
    assert code == 0 and f"-o FILE is deprecated: write the file with --file {old}" in text and old.exists()
    code, text = run("kubeconfig", cluster, "-o", "json")
    assert code == 0 and json.loads(text)["kind"] == "Config"

    code, text = run("node", "uncordon", cluster, W2)
    assert code == 0 and node_table(kubectl("get", "nodes"))[W2] == "Ready"

    code, text = run("node", "label", cluster, f"{W1},{W2}", "tier=web", "zone=a")
    assert code == 0
    code, text = run("node", "label", cluster, W2, "zone-")
    assert "zone" not in json.loads(kubectl("get", "node", W2, "-o", "json"))["metadata"]["labels"]
    code, text = run("node", "label", cluster, W1, "bad key=x")
    assert code == 1 and "Label key 'bad key'" in text
    code, text = run("node", "taint", cluster, W1, "dedicated=gpu:NoSchedule")
    assert code == 0
    assert json.loads(kubectl("get", "node", W1, "-o", "json"))["spec"]["taints"] == [
        {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]
    code, text = run("node", "taint", cluster, W1, "dedicated=gpu:Sometimes")
    assert code == 1 and "'Sometimes' is not an effect" in text
    code, text = run("node", "taint", cluster, W1, "dedicated-")
    assert code == 0 and "taints" not in json.loads(kubectl("get", "node", W1, "-o", "json"))["spec"]

    code, text = run("node", "show", cluster, W1)
    assert code == 0 and "Conditions" in text and "kube-proxy" in text

    code, text = run("node", "drain", cluster, W1, "--dry-run")
    assert code == 0 and "managed by a DaemonSet" in text

    async def drain_cli() -> tuple[int, str]:
        return await asyncio.to_thread(run, "node", "drain", cluster, W1, "--timeout", "1m")

    cli_run = asyncio.ensure_future(drain_cli())
    for _ in range(200):
        r = await client.get("/api/v1/tasks", params={"type": "shoal-DrainNodes"}, headers=people["mona"])
        if r.json()["total"]:
            break
        await asyncio.sleep(0.05)
    await worker.drain(within=60)
    code, text = await cli_run
    assert code == 0, text
    assert "drain SUCCESS" in text and "evictPodsTask" in text

    code, text = run("node", "remove", cluster, W1)
    assert code == 0 and "REMOVED" in text and W1 not in node_table(kubectl("get", "nodes"))
