"""Many writers at once — over HTTPS and through the Python API — keep the store consistent."""

from __future__ import annotations

import json
import ssl
import threading

import httpx

from kubesim.runner import Simulator


def test_parallel_writers_and_a_watch(sim: Simulator) -> None:
    cluster = sim.cluster()
    ctx = ssl.create_default_context(cafile=sim.ca_path)
    headers = {"Authorization": f"Bearer {cluster.admin_token}"}
    base = "/api/v1/namespaces/default/configmaps"
    rv = str(cluster.store.resource_version)
    errors: list[str] = []

    def http_writer(n: int) -> None:
        with httpx.Client(base_url=sim.url, verify=ctx, headers=headers, timeout=30) as http:
            for i in range(15):
                name = f"w{n}-{i}"
                if http.post(base, json={"metadata": {"name": name}, "data": {"i": str(i)}}).status_code != 201:
                    errors.append(f"create {name}")
                patched = http.patch(f"{base}/{name}", content=json.dumps({"data": {"patched": "yes"}}),
                                     headers={"Content-Type": "application/merge-patch+json"})
                if patched.status_code != 200:
                    errors.append(f"patch {name}: {patched.status_code}")

    def api_writer() -> None:
        for i in range(15):
            cluster.create("pods", {"metadata": {"name": f"p{i}", "labels": {"app": "stress"}},
                                    "spec": {"containers": [{"name": "c", "image": "i"}]}}, "default")
            cluster.store.mutate(cluster.rt("configmaps"), "default", "w0-0",
                                 lambda o: o.setdefault("data", {}).__setitem__("api", "yes"))

    with httpx.Client(base_url=sim.url, verify=ctx, headers=headers, timeout=30) as http:
        http.post(base, json={"metadata": {"name": "w0-0"}})
        threads = [threading.Thread(target=http_writer, args=(n,)) for n in range(1, 5)]
        threads.append(threading.Thread(target=api_writer))
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not errors
        items = http.get(base).json()["items"]
        assert len(items) == 1 + 4 * 15 and all(i["data"].get("patched") == "yes" for i in items if i["metadata"][
            "name"] != "w0-0")
        versions = [int(i["metadata"]["resourceVersion"]) for i in items]
        assert len(set(versions)) == len(versions)
        pods = http.get("/api/v1/namespaces/default/pods", params={"labelSelector": "app=stress"}).json()["items"]
        assert len(pods) == 15 and all(p["status"]["phase"] == "Running" for p in pods)
        seen = 0
        with http.stream("GET", base, params={"watch": "1", "resourceVersion": rv, "timeoutSeconds": "5"}) as resp:
            for line in resp.iter_lines():
                if line and json.loads(line)["type"] == "ADDED":
                    seen += 1
                    if seen == 1 + 4 * 15:
                        break
        assert seen == 1 + 4 * 15
