"""The node tab's pages (ASGI, a browser-like client): list, batch cordon, drain confirmation, editors, detail."""

from __future__ import annotations

import pytest

from kubesim.runner import Simulator
from shoal.context import AppContext
from tests.nodes.conftest import Kubectl, node_table
from tests.web.helpers import browser, hidden, login

W1, W2 = "kubesim-worker-1", "kubesim-worker-2"

@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_node_tab(ctx: AppContext, people: dict[str, dict[str, str]], cluster: str, kubectl: Kubectl,
                        sim: Simulator) -> None:
    base = f"/projects/alpha/clusters/{cluster}/nodes"
    async with browser(ctx) as mona:
        csrf = await login(mona, "mona", "password-123")
        cluster_page = await mona.get(f"/projects/alpha/clusters/{cluster}")
        assert f'href="{base}" data-testid="manage-nodes"' in cluster_page.text
        page = await mona.get(base)
        assert page.status_code == 200, page.text
        assert 'data-testid="node-table"' in page.text and f'value="{W1}"' in page.text
        assert "kubesim-control-plane" in page.text and 'data-testid="action-cordon"' in page.text

        r = await mona.post(base + "/batch", data={"csrf_token": csrf, "action": "cordon", "nodes": [W1, W2]})
        assert r.status_code == 303, r.text
        table = node_table(kubectl("get", "nodes"))
        assert table[W1] == table[W2] == "Ready,SchedulingDisabled"
        page = await mona.get(base)
        assert page.text.count("Ready,SchedulingDisabled") == 2 and "cordoned by mona" in page.text

        sim.cluster().create("pods", {"metadata": {"name": "bare"}, "spec": {
            "nodeName": W1, "containers": [{"name": "c", "image": "nginx:1.27"}]}}, "default")
        confirm = await mona.post(base + "/batch", data={"csrf_token": csrf, "action": "drain", "nodes": [W1]})
        assert confirm.status_code == 200, confirm.text
        assert 'data-pod="default/bare" data-action="refuse"' in confirm.text and "no controller" in confirm.text
        assert "managed by a DaemonSet" in confirm.text and "disabled" in confirm.text
        r = await mona.post(base + "/drain", data={"csrf_token": hidden(confirm.text, "csrf_token"), "nodes": [W1],
                                                    "step": "start"})
        assert r.status_code == 409 and "default/bare" in r.text
        r = await mona.post(base + "/drain", data={"csrf_token": csrf, "nodes": [W1], "force": "true",
                                                    "step": "start", "timeout_seconds": "30"})
        assert r.status_code == 303 and r.headers["location"].startswith("/tasks/")
        task_page = await mona.get(r.headers["location"])
        assert task_page.status_code == 200 and "cordonNodesTask" in task_page.text
        listed = await mona.get(base)
        assert f'href="{r.headers["location"]}" data-testid="drain-log-{W1}"' in listed.text

        r = await mona.post(base + "/labels", data={"csrf_token": csrf, "nodes": [W1], "changes": "tier=web"})
        assert r.status_code == 303, r.text
        r = await mona.post(base + "/labels", data={"csrf_token": csrf, "nodes": [W2], "changes": "tier=db"})
        editor = await mona.post(base + "/batch", data={"csrf_token": csrf, "action": "labels", "nodes": [W1, W2]})
        assert editor.status_code == 200 and 'data-label="tier"' in editor.text and 'data-testid="mixed"' in editor.text
        bad = await mona.post(base + "/labels", data={"csrf_token": csrf, "nodes": [W1], "changes": "-x=y"})
        assert bad.status_code == 400 and "must start and end with a letter or digit" in bad.text
        r = await mona.post(base + "/taints", data={"csrf_token": csrf, "nodes": [W2], "key": "dedicated",
                                                     "value": "gpu", "effect": "NoSchedule"})
        assert r.status_code == 303, r.text
        assert kubectl("get", "node", W2, "-o", "jsonpath={.spec.taints[0].value}") == "gpu"
        editor = await mona.post(base + "/batch", data={"csrf_token": csrf, "action": "taints", "nodes": [W2]})
        assert 'data-taint="dedicated:NoSchedule"' in editor.text

        detail = await mona.get(base + f"/{W2}")
        assert detail.status_code == 200 and "Conditions" in detail.text and 'data-testid="remove-form"' in detail.text
        r = await mona.post(base + f"/{W2}/remove", data={"csrf_token": csrf})
        assert r.status_code == 303, r.text
        assert W2 not in node_table(kubectl("get", "nodes"))

    async with browser(ctx) as vera:
        csrf = await login(vera, "vera", "password-123")
        page = await vera.get(base)
        assert page.status_code == 200 and 'data-testid="action-cordon"' not in page.text
        r = await vera.post(base + "/batch", data={"csrf_token": csrf, "action": "uncordon", "nodes": [W1]})
        assert r.status_code == 403
        assert node_table(kubectl("get", "nodes"))[W1] == "Ready,SchedulingDisabled"
    async with browser(ctx) as eve:
        await login(eve, "eve", "password-123")
        assert (await eve.get(base)).status_code == 403

