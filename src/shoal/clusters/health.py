"""The health loop: probe every live cluster's ``/version`` and flip RUNNING <-> CONNECT-FAILURE.

Who runs it: ``shoal server`` starts one :class:`HealthLoop` beside the task
worker (``SHOAL_CLUSTER_HEALTH_ENABLED=false`` turns it off); ``bench/health.py``
drives :meth:`HealthLoop.sweep` directly.

Pacing. Each cluster has ``health_next_at``. A healthy cluster is probed again
after ``health_interval`` shortened by up to ``health_jitter`` (so probes spread
out and a state change is seen within one interval); a failing one backs off,
``interval * 2**(failures-1)`` capped by ``health_max_backoff``, so thousands of
dead clusters do not hog the probe slots. A probe times out after
``health_timeout``; at most ``health_concurrency`` run at once.

Claiming. Due clusters are claimed in batches by pushing their
``health_next_at`` forward in the same transaction that selects them (``FOR
UPDATE SKIP LOCKED`` on PostgreSQL; a compare-and-set on SQLite), so several
server replicas share the work without probing a cluster twice. Results are
written with one executemany per batch; a cluster deleted or re-imported in the
meantime is left alone (the update re-checks the status).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, bindparam, or_, select, update

from shoal.clusters.models import Cluster, ClusterStatus
from shoal.clusters.settings import ClusterSettings
from shoal.context import AppContext
from shoal.core.errors import ShoalError
from shoal.core.security import SecretDecryptError
from shoal.kube import Credential, KubeClient
from shoal.store.types import utcnow

__all__ = ["HealthLoop", "ProbeResult", "SweepStats", "run_beside"]

log = logging.getLogger("shoal.clusters.health")

WATCHED = (ClusterStatus.RUNNING.value, ClusterStatus.CONNECT_FAILURE.value)


_TABLE: Table = Cluster.__table__  # type: ignore[assignment]


def _watched(column: Any) -> Any:
    # spelled out rather than IN (…): an expanding IN cannot be used with executemany
    return or_(column == WATCHED[0], column == WATCHED[1])


@dataclass(frozen=True)
class _Due:
    id: str
    credential: str
    failures: int
    failing_since: datetime | None


@dataclass(frozen=True)
class ProbeResult:
    cluster_id: str
    ok: bool
    error: str = ""
    version: str = ""
    latency_ms: float = 0.0


@dataclass
class SweepStats:
    claimed: int = 0
    ok: int = 0
    failed: int = 0
    flipped: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)


class HealthLoop:
    """Probes due clusters in batches until stopped."""

    def __init__(self, app: AppContext, settings: ClusterSettings | None = None) -> None:
        self.app = app
        self.settings = settings or ClusterSettings()
        self._slots = asyncio.Semaphore(self.settings.health_concurrency)
        self._clients: OrderedDict[str, tuple[str, KubeClient]] = OrderedDict()
        self._retired: list[KubeClient] = []

    def __repr__(self) -> str:
        return f"HealthLoop(interval={self.settings.health_interval:g}s, db={self.app.db!r})"

    @property
    def poll_seconds(self) -> float:
        return min(1.0, self.settings.health_interval / 4)

    def next_delay(self, failures: int) -> float:
        """Seconds until the next probe: the interval when healthy, exponential backoff when failing."""
        base = self.settings.health_interval
        if failures > 0:
            base = min(base * 2 ** (failures - 1), max(self.settings.health_max_backoff, base))
        return base * (1 - random.uniform(0, self.settings.health_jitter))

    async def run(self, stop: asyncio.Event | None = None) -> None:
        stop = stop or asyncio.Event()
        log.info("health loop started (interval %gs, concurrency %d)", self.settings.health_interval,
                 self.settings.health_concurrency)
        try:
            while not stop.is_set():
                try:
                    stats = await self.sweep()
                except Exception:
                    log.exception("health sweep failed; trying again shortly")
                    stats = SweepStats()
                if stats.claimed >= self.settings.health_batch:
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.poll_seconds)
        finally:
            await asyncio.shield(self.close())

    async def _claim(self) -> list[_Due]:
        now = utcnow()
        lease = now + timedelta(seconds=self.settings.health_timeout * 3 + self.settings.health_interval)
        due = Cluster.status.in_(WATCHED) & (Cluster.health_next_at <= now)
        stmt = (select(Cluster.id, Cluster.credential, Cluster.health_failures, Cluster.health_failing_since)
                .where(due).order_by(Cluster.health_next_at).limit(self.settings.health_batch))
        if not self.app.db.is_sqlite:
            stmt = stmt.with_for_update(skip_locked=True)
        async with self.app.db.session() as session:
            rows = (await session.execute(stmt)).all()
            if not rows:
                return []
            ids = [r[0] for r in rows]
            # compare-and-set: on SQLite another replica may have selected the same rows; only those
            # this UPDATE still finds due are ours (on PostgreSQL the row locks already made them ours)
            claim = (update(Cluster).where(Cluster.id.in_(ids), Cluster.status.in_(WATCHED),
                                           Cluster.health_next_at <= now)
                     .values(health_next_at=lease).returning(Cluster.id)
                     .execution_options(synchronize_session=False))
            claimed = set((await session.scalars(claim)).all())
        return [_Due(r[0], r[1], r[2] or 0, r[3]) for r in rows if r[0] in claimed]

    def _client(self, cluster_id: str, encrypted: str) -> KubeClient:
        """The kept-alive client of a cluster (a new one when its credential changed), LRU-bounded."""
        cached = self._clients.get(cluster_id)
        if cached is not None and cached[0] == encrypted:
            self._clients.move_to_end(cluster_id)
            return cached[1]
        credential = Credential.from_json(self.app.secrets.decrypt(encrypted))
        client = KubeClient(credential, timeout=self.settings.health_timeout)
        if cached is not None:
            self._retired.append(cached[1])
        self._clients[cluster_id] = (encrypted, client)
        while len(self._clients) > self.settings.health_keep_connections:
            self._retired.append(self._clients.popitem(last=False)[1][1])
        return client

    async def _close_retired(self) -> None:
        retired, self._retired = self._retired, []
        await asyncio.gather(*(c.close() for c in retired), return_exceptions=True)

    async def close(self) -> None:
        """Close every kept connection (the loop's end, or a benchmark's)."""
        self._retired.extend(client for _, client in self._clients.values())
        self._clients.clear()
        await self._close_retired()

    async def probe(self, cluster_id: str, encrypted: str) -> ProbeResult:
        """GET /version with the cluster's credential; any failure becomes a one-line reason.

        With ``health_keep_connections`` above zero, connections of that many clusters stay
        open between sweeps, so a probe costs a request instead of a TLS handshake — when the
        API server (and any load balancer before it) keeps idle connections that long.
        """
        try:
            kube = self._client(cluster_id, encrypted)
        except (SecretDecryptError, ValueError, TypeError):
            return ProbeResult(cluster_id, False, "the stored credential cannot be decrypted")
        except ShoalError as e:
            return ProbeResult(cluster_id, False, str(e)[:1000])
        async with self._slots:
            started = time.perf_counter()
            try:
                info = await kube.version()
            except ShoalError as e:
                return ProbeResult(cluster_id, False, str(e)[:1000],
                                   latency_ms=(time.perf_counter() - started) * 1000)
        return ProbeResult(cluster_id, True, version=str(info.get("gitVersion", "")),
                           latency_ms=(time.perf_counter() - started) * 1000)

    async def sweep(self) -> SweepStats:
        """Claim one batch of due clusters, probe them, record the outcomes."""
        started = time.perf_counter()
        stats = SweepStats()
        batch = await self._claim()
        stats.claimed = len(batch)
        if not batch:
            return stats
        results = await asyncio.gather(*(self.probe(d.id, d.credential) for d in batch))
        await self._close_retired()
        await self._record(batch, results, stats)
        stats.seconds = time.perf_counter() - started
        return stats

    async def _record(self, batch: list[_Due], results: list[ProbeResult], stats: SweepStats) -> None:
        now = utcnow()
        ok_rows: list[dict[str, Any]] = []
        bad_rows: list[dict[str, Any]] = []
        for due, result in zip(batch, results, strict=True):
            stats.latencies_ms.append(result.latency_ms)
            if result.ok:
                stats.ok += 1
                ok_rows.append({"b_id": due.id, "b_next": now + timedelta(seconds=self.next_delay(0)),
                                "b_latency": round(result.latency_ms, 2), "b_version": result.version})
            else:
                stats.failed += 1
                failures = due.failures + 1
                bad_rows.append({"b_id": due.id, "b_next": now + timedelta(seconds=self.next_delay(failures)),
                                 "b_failures": failures, "b_error": result.error,
                                 "b_since": due.failing_since or now})
        async with self.app.db.session() as session:
            conn = await session.connection()
            if ok_rows:
                flipped = await conn.execute(
                    update(_TABLE).where(_TABLE.c.id == bindparam("b_id"),
                                                    _TABLE.c.status == ClusterStatus.CONNECT_FAILURE.value)
                    .values(status=ClusterStatus.RUNNING.value, updated_at=now), ok_rows)
                stats.flipped += max(flipped.rowcount, 0)
                await conn.execute(
                    update(_TABLE).where(_TABLE.c.id == bindparam("b_id"),
                                                    _watched(_TABLE.c.status))
                    .values(health_next_at=bindparam("b_next"), health_checked_at=now, health_failures=0,
                            health_error="", health_failing_since=None, health_latency_ms=bindparam("b_latency"),
                            version=bindparam("b_version")), ok_rows)
            if bad_rows:
                flipped = await conn.execute(
                    update(_TABLE).where(_TABLE.c.id == bindparam("b_id"),
                                                    _TABLE.c.status == ClusterStatus.RUNNING.value)
                    .values(status=ClusterStatus.CONNECT_FAILURE.value, updated_at=now), bad_rows)
                stats.flipped += max(flipped.rowcount, 0)
                await conn.execute(
                    update(_TABLE).where(_TABLE.c.id == bindparam("b_id"),
                                                    _watched(_TABLE.c.status))
                    .values(health_next_at=bindparam("b_next"), health_checked_at=now,
                            health_failures=bindparam("b_failures"), health_error=bindparam("b_error"),
                            health_failing_since=bindparam("b_since"), health_latency_ms=None), bad_rows)
        if stats.flipped:
            log.info("health sweep: %d ok, %d failing, %d changed status", stats.ok, stats.failed, stats.flipped)


async def run_beside(main: Awaitable[None], app: AppContext, settings: ClusterSettings | None = None) -> None:
    """``shoal server``: run ``main`` with the health loop beside it; stop the loop with it."""
    settings = settings or ClusterSettings()
    if not settings.health_enabled:
        await main
        return
    stop = asyncio.Event()
    loop_task = asyncio.create_task(HealthLoop(app, settings).run(stop), name="cluster-health-loop")
    try:
        await main
    finally:
        stop.set()
        loop_task.cancel()
        await asyncio.gather(loop_task, return_exceptions=True)
