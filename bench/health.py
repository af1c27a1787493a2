"""Health loop throughput: one sweep over 2,000 kubesim virtual clusters (``python -m bench health``).

A ``kubesim serve --clusters 2000`` subprocess (one node each, loopback only)
stands for 2,000 managed clusters behind one port. This process plays the Shoal
server: a fresh SQLite database (``BENCH_HEALTH_DB=postgresql`` uses a throwaway
PostgreSQL instead) gets 2,000 RUNNING clusters whose credentials are the
clusters' admin kubeconfigs, encrypted as an import stores them; then
:class:`shoal.clusters.health.HealthLoop` probes every one (``GET /version``
over HTTPS with its own credential, at most ``health_concurrency`` in flight)
until none is due, and writes the outcomes back. Reported: clusters checked per
second, probe latency, the database write time, and this process's memory
before and after (what ``shoal server`` would carry for the loop). A second
sweep shows the steady state; a third with a tenth of the clusters pointing at a
closed port shows that failing clusters do not hold up the healthy ones.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, insert, select, update

from kubesim.runner import SubprocessSimulator
from shoal.clusters.health import HealthLoop, SweepStats
from shoal.clusters.models import Cluster, ClusterStatus
from shoal.clusters.settings import ClusterSettings
from shoal.context import AppContext, build_context
from shoal.core.config import load_settings
from shoal.kube import Credential, parse_kubeconfig
from shoal.store.migrate import upgrade_async
from shoal.store.types import utcnow

CLUSTERS = int(os.environ.get("BENCH_HEALTH_CLUSTERS", "2000"))
CONCURRENCY = int(os.environ.get("BENCH_HEALTH_CONCURRENCY", "64"))
KEEP = int(os.environ.get("BENCH_HEALTH_KEEP", "0"))


def _rss_mib() -> tuple[float, float]:
    """(current, peak) resident memory of this process in MiB."""
    values = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                values[line.split(":")[0]] = int(line.split()[1]) / 1024
    return values.get("VmRSS", 0.0), values.get("VmHWM", 0.0)


async def _seed(ctx: AppContext, kubeconfigs: list[str]) -> None:
    now = utcnow()
    rows = []
    for i, text in enumerate(kubeconfigs):
        cred = parse_kubeconfig(text).credential
        rows.append({
            "id": f"BCS-K8S-{15001 + i}", "project_code": "bench", "name": f"c{i}", "environment": "stag",
            "description": "", "labels": {}, "provider": "kubeconfig", "import_method": "kubeconfig",
            "status": ClusterStatus.RUNNING.value, "status_message": "", "server_url": cred.server,
            "kube_system_uid": f"uid-{i}", "version": "", "master_count": 1, "node_count": 0,
            "credential": ctx.secrets.encrypt(cred.to_json()), "credential_user": "kubesim-admin",
            "creator": "bench", "created_at": now, "updated_at": now, "health_next_at": now,
            "health_failures": 0, "health_error": "",
        })
    async with ctx.db.session() as session:
        for start in range(0, len(rows), 500):
            await session.execute(insert(Cluster), rows[start:start + 500])


async def _sweep_all(loop: HealthLoop) -> tuple[float, list[SweepStats], tuple[float, float]]:
    started = time.perf_counter()
    cpu0, sim0 = _cpu_seconds(), _cpu_seconds(SIM_PID)
    batches = []
    while True:
        stats = await loop.sweep()
        if not stats.claimed:
            return (time.perf_counter() - started, batches,
                    (_cpu_seconds() - cpu0, _cpu_seconds(SIM_PID) - sim0))
        batches.append(stats)


def _cpu_seconds(pid: int | None = None) -> float:
    """User+system CPU seconds of a process (this one by default), from /proc."""
    fields = Path(f"/proc/{pid or 'self'}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


SIM_PID: int | None = None


def _report(label: str, seconds: float, batches: list[SweepStats], cpu: tuple[float, float]) -> None:
    checked = sum(b.claimed for b in batches)
    ok = sum(b.ok for b in batches)
    latencies = sorted(x for b in batches for x in b.latencies_ms)
    p50 = statistics.median(latencies) if latencies else 0.0
    p99 = latencies[int(len(latencies) * 0.99) - 1] if latencies else 0.0
    rss, peak = _rss_mib()
    print(f"{label}: {checked} clusters in {seconds:.2f}s = {checked / seconds:.0f} clusters/s "
          f"(CPU per probe {cpu[0] / checked * 1000:.1f} ms Shoal, {cpu[1] / checked * 1000:.1f} ms kubesim); "
          f"{ok} ok, {checked - ok} failing, {sum(b.flipped for b in batches)} changed status; "
          f"probe p50 {p50:.1f} ms, p99 {p99:.1f} ms; RSS {rss:.0f} MiB (peak {peak:.0f} MiB); "
          f"CPU {cpu[0]:.1f}s Shoal side, {cpu[1]:.1f}s kubesim", flush=True)


async def _run(db_url: str, data: Path, kubeconfigs: list[str]) -> None:
    await upgrade_async(db_url)
    ctx = build_context(load_settings(data_dir=data, database_url=db_url, secret_key="bench-health"))
    rss0, _ = _rss_mib()
    await _seed(ctx, kubeconfigs)
    # a long interval, so a slow sweep never meets clusters that are due again: each is probed once per sweep
    settings = ClusterSettings(health_concurrency=CONCURRENCY, health_batch=500, health_timeout=10,
                               health_interval=3600, health_max_backoff=3600, health_keep_connections=KEEP)
    loop = HealthLoop(ctx, settings)
    print(f"{CLUSTERS} clusters registered; concurrency {CONCURRENCY}; connections kept for {KEEP} clusters; "
          f"RSS before the sweep {rss0:.0f} MiB",
          flush=True)
    seconds, batches, cpu = await _sweep_all(loop)
    _report("first sweep", seconds, batches, cpu)
    async with ctx.db.session() as session:
        await session.execute(update(Cluster).values(health_next_at=utcnow()))
    seconds, batches, cpu = await _sweep_all(loop)
    _report("second sweep", seconds, batches, cpu)

    # a tenth of the clusters now point at a closed port (connection refused)
    async with ctx.db.session() as session:
        ids = list((await session.scalars(select(Cluster.id).order_by(Cluster.id).limit(CLUSTERS // 10))).all())
        dead = Credential(server="https://127.0.0.1:9", token="x").to_json()
        await session.execute(update(Cluster).where(Cluster.id.in_(ids))
                              .values(credential=ctx.secrets.encrypt(dead)))
        await session.execute(update(Cluster).values(health_next_at=utcnow()))
    seconds, batches, cpu = await _sweep_all(loop)
    _report("with 10% unreachable", seconds, batches, cpu)
    async with ctx.db.session() as session:
        failing = await session.scalar(select(func.count()).select_from(Cluster)
                                       .where(Cluster.status == ClusterStatus.CONNECT_FAILURE.value))
    print(f"CONNECT-FAILURE after that sweep: {failing}", flush=True)
    await loop.close()
    await ctx.db.dispose()


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-health-") as tmp:
        base = Path(tmp)
        started = time.perf_counter()
        with SubprocessSimulator(base / "kubesim", nodes=1, clusters=CLUSTERS,
                                 extra_args=["--no-workloads"]) as sim:
            print(f"kubesim with {CLUSTERS} clusters ready in {time.perf_counter() - started:.1f}s", flush=True)
            global SIM_PID
            SIM_PID = sim.proc.pid if sim.proc else None
            kubeconfigs = [Path(sim.kubeconfig_path("admin", f"cluster-{i}")).read_text()
                           for i in range(1, CLUSTERS + 1)]
            if os.environ.get("BENCH_HEALTH_DB") == "postgresql":
                from tests.support.postgres import PostgresServer

                server = PostgresServer()
                server.start()
                try:
                    asyncio.run(_run(server.create_database(name="bench_health"), base / "data", kubeconfigs))
                finally:
                    server.stop()
            else:
                asyncio.run(_run(f"sqlite+aiosqlite:///{base / 'shoal.db'}", base / "data", kubeconfigs))


if __name__ == "__main__":
    main()
