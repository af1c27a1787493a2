"""Benchmark: list and watch throughput of kubesim over loopback HTTPS.

Run: ``.venv/bin/python bench/_kubesim_list.py [--requests N] [--events M]``.
Starts an in-process simulator, then measures (1) sequential ``GET /api/v1/nodes``
on one keep-alive connection, (2) watch events delivered while configmaps are
created. Loopback only, bounded by the counts given.
"""

from __future__ import annotations

import argparse
import json
import ssl
import threading
import time

import httpx

from kubesim.runner import Simulator


def bench_list(sim: Simulator, requests: int) -> float:
    ctx = ssl.create_default_context(cafile=sim.ca_path)
    headers = {"Authorization": f"Bearer {sim.cluster().admin_token}"}
    with httpx.Client(base_url=sim.url, verify=ctx, headers=headers, timeout=30) as http:
        http.get("/api/v1/nodes").raise_for_status()
        start = time.perf_counter()
        for _ in range(requests):
            http.get("/api/v1/nodes").raise_for_status()
        return requests / (time.perf_counter() - start)


def bench_watch(sim: Simulator, events: int) -> float:
    ctx = ssl.create_default_context(cafile=sim.ca_path)
    headers = {"Authorization": f"Bearer {sim.cluster().admin_token}"}
    cluster = sim.cluster()
    rv = str(cluster.store.resource_version)
    received = 0
    started = threading.Event()

    def produce() -> None:
        started.wait(10)
        for n in range(events):
            cluster.create("configmaps", {"metadata": {"name": f"bench-{n}"}, "data": {"n": str(n)}}, "default")

    producer = threading.Thread(target=produce)
    producer.start()
    with httpx.Client(base_url=sim.url, verify=ctx, headers=headers, timeout=60) as http, http.stream(
            "GET", "/api/v1/namespaces/default/configmaps",
            params={"watch": "true", "resourceVersion": rv, "timeoutSeconds": "60"}) as resp:
        start = time.perf_counter()
        started.set()
        for line in resp.iter_lines():
            if line and json.loads(line)["type"] == "ADDED":
                received += 1
                if received >= events:
                    break
        elapsed = time.perf_counter() - start
    producer.join()
    return received / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000, help="list requests to time")
    parser.add_argument("--events", type=int, default=2000, help="watch events to time")
    parser.add_argument("--nodes", type=int, default=10)
    args = parser.parse_args()
    with Simulator(nodes=args.nodes, seed_workloads=False, history=args.events + 100) as sim:
        rate = bench_list(sim, args.requests)
        print(f"kubesim list nodes ({args.nodes} nodes): {rate:.0f} req/s over {args.requests} requests")
        erate = bench_watch(sim, args.events)
        print(f"kubesim watch: {erate:.0f} events/s over {args.events} configmap creations")


if __name__ == "__main__":
    main()
