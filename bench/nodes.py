"""Node list of a 5,000-node cluster: through Shoal vs ``kubectl get nodes -o json`` directly.

Run with ``python -m bench nodes`` (``BENCH_NODES=1000`` for a quick look). Loopback only and bounded: one
in-process kubesim with ``BENCH_NODES`` nodes (no workloads: 5,000 DaemonSet pods would only add pod-list
time to both sides' equivalents), a Shoal server (uvicorn on 127.0.0.1, SQLite in a temporary directory,
the cluster imported through the API), and the real kubectl with its own ``HOME``. Figures, median of
``BENCH_RUNS`` interleaved rounds (a round runs each figure once, the page five times):

* ``kubectl``   ``kubectl get nodes -o json`` against kubesim (all nodes, paged 500 at a time by kubectl);
* ``refresh``   ``GET /api/v1/nodes?cluster=…&refresh=true&limit=50``: Shoal re-reads every node and pod
  from the cluster, upserts its records, then serves a page — the cost of keeping the list in sync;
* ``page``      ``GET /api/v1/nodes?cluster=…&limit=50&sort=-cpu&search=worker-4``: a filtered, sorted page
  from the records (what the node tab asks for);
* ``all``       ``GET /api/v1/nodes?cluster=…&limit=5000``: every node from the records, as JSON.

Each ratio is kubectl's time over Shoal's (above 1: Shoal is faster). Results go to docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import uvicorn

from kubesim.runner import Simulator

NODES = int(os.environ.get("BENCH_NODES", "5000"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
KUBECTL = str(Path(sys.executable).with_name("kubectl"))
ADMIN_TOKEN = "shoal_bench-admin-token-0123456789abcdef"


def _median(action: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _setup_shoal(tmp: Path, kubeconfig: str) -> tuple[uvicorn.Server, threading.Thread, str, str]:
    from shoal.api.app import create_app
    from shoal.context import build_context
    from shoal.core.config import load_settings
    from shoal.iam.accounts import bootstrap_admin
    from shoal.store.migrate import upgrade
    from shoal.tasks.worker import Worker, WorkerSettings, load_task_modules

    url = f"sqlite+aiosqlite:///{tmp / 'shoal.db'}"
    upgrade(url)
    settings = load_settings(data_dir=tmp / "data", database_url=url, secret_key="bench-secret-key",
                             plain_http=True)  # served below by a plain uvicorn
    load_task_modules()

    async def prepare() -> str:
        ctx = build_context(settings)
        async with ctx.db.session() as session:
            await bootstrap_admin(session, password="bench-password-123", token=ADMIN_TOKEN)
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        app = create_app(ctx, with_web=False)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://shoal",
                                     headers=headers, timeout=600) as c:
            for path, body in (("/api/v1/businesses", {"id": 100, "name": "Bench", "maintainers": ["admin"]}),
                               ("/api/v1/projects", {"code": "bench", "name": "Bench"}),
                               ("/api/v1/projects/bench/enable", {"business_id": 100})):
                (await c.post(path, json=body)).raise_for_status()
            r = await c.post("/api/v1/clusters", json={"project": "bench", "name": "big", "kubeconfig": kubeconfig})
            r.raise_for_status()
            cluster = r.json()
        await Worker(ctx.db, WorkerSettings(poll_interval=0.05), app=ctx).drain([cluster["import_task_id"]],
                                                                                within=600)
        await ctx.db.dispose()
        return str(cluster["id"])

    cluster_id = asyncio.run(prepare())
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(build_context(settings), with_web=False), host="127.0.0.1",
                                           port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, name="bench-shoal", daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    return server, thread, f"http://127.0.0.1:{port}", cluster_id


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-nodes-") as tmp_name:
        tmp = Path(tmp_name)
        start = time.perf_counter()
        sim = Simulator(nodes=NODES, seed_workloads=False).start()
        print(f"kubesim with {NODES} nodes up in {time.perf_counter() - start:.1f}s", flush=True)
        try:
            kubeconfig = sim.kubeconfig("admin")
            (tmp / "home").mkdir()
            (tmp / "kubeconfig").write_text(kubeconfig)
            env = {"HOME": str(tmp / "home"), "PATH": os.environ.get("PATH", "")}

            def kubectl() -> None:
                done = subprocess.run([KUBECTL, "--kubeconfig", str(tmp / "kubeconfig"), "get", "nodes", "-o",
                                       "json"], capture_output=True, env=env, check=True, timeout=600)
                assert done.stdout.count(b'"kind": "Node"') == NODES

            kubectl()  # warm the discovery cache, as a user's second call would be
            start = time.perf_counter()
            server, thread, url, cluster = _setup_shoal(tmp, kubeconfig)
            print(f"Shoal up, cluster {cluster} imported in {time.perf_counter() - start:.1f}s", flush=True)
            try:
                with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                                  timeout=600) as http:
                    def get(**params: object) -> dict[str, object]:
                        r = http.get("/api/v1/nodes", params={"cluster": cluster, **params})
                        r.raise_for_status()
                        body: dict[str, object] = r.json()
                        return body

                    assert get(refresh="true")["total"] == NODES
                    assert len(get(limit=5000)["items"]) == min(NODES, 5000)  # type: ignore[arg-type]
                    # Interleaved rounds, so a change in machine load affects every figure alike.
                    times: dict[str, list[float]] = {"kubectl": [], "refresh": [], "page": [], "all": []}
                    for _ in range(RUNS):
                        times["kubectl"].append(_median(kubectl, 1))
                        times["refresh"].append(_median(lambda: get(refresh="true", limit=50), 1))
                        times["page"].append(_median(lambda: get(limit=50, sort="-cpu", search="worker-4"), 5))
                        times["all"].append(_median(lambda: get(limit=5000), 1))
                    t_kubectl, t_refresh, t_page, t_all = (statistics.median(times[k])
                                                           for k in ("kubectl", "refresh", "page", "all"))
            finally:
                server.should_exit = True
                thread.join(timeout=10)
        finally:
            sim.stop()
    print(f"{'what':<40} {'seconds':>9} {'kubectl/shoal':>14}")
    for label, seconds in ((f"kubectl get nodes -o json ({NODES})", t_kubectl),
                           ("Shoal refresh from cluster + page of 50", t_refresh),
                           ("Shoal filtered sorted page of 50", t_page),
                           (f"Shoal all {NODES} nodes from records", t_all)):
        print(f"{label:<40} {seconds:>9.3f} {t_kubectl / seconds:>14.1f}", flush=True)


if __name__ == "__main__":
    main()
