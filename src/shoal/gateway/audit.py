"""The audit of proxied requests: one entry per request, written in batches, reads sampled.

Who calls it: the gateway, when a request ends (or is refused). An entry names
the user, cluster, verb, path (no query string), status and duration — never a
body, a header or a token. Writes, exec/attach/port-forward/proxy and every
refusal or failure are always kept; successful reads (get/list/watch and
discovery) are kept with probability ``GatewaySettings.audit_reads``.

Successful reads that are alike — same user, cluster, verb, path, status and
source — within one flush interval become one entry whose detail counts them
(``count``) and keeps the slowest duration (``duration_ms``), unless
``audit_aggregate_reads`` is off: a busy kubectl loop or dashboard then costs one
row per second instead of thousands, and every request is still counted.

Entries are buffered and inserted every ``audit_flush_seconds`` in one
transaction by a single named background task, which the gateway starts on
its first entry and stops (after a last flush) in :meth:`GatewayAudit.aclose`
when the server shuts down: a busy gateway does one insert per second instead
of one per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from typing import Any

from sqlalchemy import Table

from shoal.store.db import Database
from shoal.store.models import AuditEntry
from shoal.store.types import utcnow

__all__ = ["GatewayAudit"]

log = logging.getLogger("shoal.gateway.audit")
_TABLE: Table = AuditEntry.__table__  # type: ignore[assignment]
#: Entries held before the oldest are dropped (with a logged count) when the database cannot keep up.
_MAX_BUFFER = 100_000


class GatewayAudit:
    def __init__(self, db: Database, *, flush_seconds: float, read_share: float, aggregate_reads: bool = True,
                 sample: Callable[[], float] = random.random) -> None:
        self.db = db
        self.aggregate_reads = aggregate_reads
        self._reads: dict[tuple[Any, ...], dict[str, Any]] = {}
        self.flush_seconds = flush_seconds
        self.read_share = read_share
        self._sample = sample
        self._buffer: list[dict[str, Any]] = []
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0
        self.written = 0

    def keep(self, *, read: bool, success: bool) -> bool:
        """Whether to write this request's entry (reads that succeeded are sampled)."""
        if not (read and success):
            return True
        return self.read_share >= 1.0 or self._sample() < self.read_share

    def add(self, *, username: str, source: str, cluster_id: str, project_code: str | None, verb: str,
            outcome: str, detail: dict[str, Any]) -> dict[str, Any]:
        """Buffer one entry; returns it (``count_read`` updates it until the next flush)."""
        if len(self._buffer) >= _MAX_BUFFER:
            dropped = self._buffer.pop(0)
            self.dropped += dropped["detail"].get("count", 1)
        entry = {"time": utcnow(), "username": username[:64], "action": f"gateway.{verb}"[:64],
                 "target_type": "cluster", "target_id": cluster_id[:128], "project_code": project_code,
                 "outcome": outcome, "source": source[:64], "detail": detail}
        self._buffer.append(entry)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="gateway-audit-writer")
        return entry

    def count_read(self, key: tuple[Any, ...], duration_ms: float) -> bool:
        """Count a successful read into the buffered entry of the same ``key``; False if there is none yet."""
        entry = self._reads.get(key)
        if entry is None:
            return False
        detail = entry["detail"]
        detail["count"] += 1
        if duration_ms > detail["duration_ms"]:
            detail["duration_ms"] = duration_ms
        return True

    def remember_read(self, key: tuple[Any, ...], entry: dict[str, Any]) -> None:
        entry["detail"]["count"] = 1
        self._reads[key] = entry

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.flush_seconds)
            try:
                await self.flush()
            except Exception:  # keep auditing after a database hiccup; the entries stay buffered
                log.exception("could not write %d gateway audit entries", len(self._buffer))

    async def flush(self) -> int:
        """Write what is buffered now; returns the number of entries written."""
        rows, self._buffer = self._buffer, []
        self._reads.clear()
        if not rows:
            return 0
        try:
            # A Core executemany on the table: the ORM's bulk insert costs ~10x more per row here.
            async with self.db.engine.begin() as connection:
                await connection.execute(_TABLE.insert(), rows)
        except BaseException:
            self._buffer[:0] = rows
            raise
        self.written += len(rows)
        return len(rows)

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        try:
            await self.flush()
        except Exception:
            log.exception("could not write the last %d gateway audit entries", len(self._buffer))
