"""Benchmark: memory and start-up time of many virtual clusters in one kubesim.

Run: ``.venv/bin/python bench/_kubesim_clusters.py [--clusters 1000] [--nodes 10]``.
Builds the clusters in-process (no sockets) and reports the resident-memory growth
per cluster, plus how long one list of nodes takes through the ASGI app.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import time
from collections.abc import MutableMapping
from typing import Any

from kubesim.cluster import VirtualCluster
from kubesim.server import ApiServer


def _rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _list_nodes(app: ApiServer, cluster: VirtualCluster) -> int:
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> MutableMapping[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(msg: MutableMapping[str, Any]) -> None:
        sent.append(msg)

    scope = {"type": "http", "method": "GET", "path": f"/clusters/{cluster.name}/api/v1/nodes",
             "query_string": b"", "headers": [(b"authorization", f"Bearer {cluster.admin_token}".encode())],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 443)}
    await app(scope, receive, send)
    return int(sent[0]["status"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clusters", type=int, default=1000)
    parser.add_argument("--nodes", type=int, default=10)
    parser.add_argument("--workloads", action="store_true", help="also seed kube-proxy and coredns")
    args = parser.parse_args()
    before = _rss_mib()
    start = time.perf_counter()
    clusters = [VirtualCluster(f"cluster-{i}", args.nodes, seed_workloads=args.workloads, history=100)
                for i in range(args.clusters)]
    built = time.perf_counter() - start
    after = _rss_mib()
    app = ApiServer(clusters)
    t0 = time.perf_counter()
    codes = asyncio.run(_gather(app, clusters))
    listed = time.perf_counter() - t0
    assert set(codes) == {200}
    print(f"kubesim {args.clusters} clusters x {args.nodes} nodes: built in {built:.1f}s, "
          f"RSS +{after - before:.0f} MiB ({(after - before) * 1024 / args.clusters:.0f} KiB/cluster), "
          f"one node list per cluster in {listed:.2f}s ({args.clusters / listed:.0f} lists/s in-process)")


async def _gather(app: ApiServer, clusters: list[VirtualCluster]) -> list[int]:
    return [await _list_nodes(app, c) for c in clusters]


if __name__ == "__main__":
    main()
