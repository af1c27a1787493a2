"""Who is calling and which cluster they call, resolved once and reused for a few seconds.

Who calls it: the gateway, for every request. Resolving a token (one query),
loading the user's roles (one query) and decrypting a cluster's credential cost
more than forwarding a small request does, and ``kubectl`` sends bursts of them
(discovery, then the request, then a watch): both are cached for
``GatewaySettings.auth_cache_seconds`` / ``cluster_cache_seconds``.

What the caches mean for security: revoking a gateway token through Shoal
forgets it at once on this replica (:meth:`Callers.forget_token`); any other
change — a revoked API token, a removed project role, a disabled user — takes
effect within the cache time on every replica. Setting the times to 0 turns
caching off.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from shoal.clusters.models import Cluster, ClusterStatus
from shoal.core.errors import NotFound, Unauthenticated
from shoal.core.security import SecretBox, SecretDecryptError, hash_token
from shoal.gateway import tokens
from shoal.gateway.models import ClusterGateway
from shoal.iam.accounts import load_principal
from shoal.iam.authz import Principal
from shoal.kube.credentials import Credential
from shoal.store.db import Database
from shoal.store.types import utcnow

__all__ = ["Caller", "Callers", "ClusterTarget", "Clusters"]

T = TypeVar("T")

#: Entries kept per cache before it is emptied (a crude bound against a flood of distinct tokens).
_MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class Caller:
    principal: Principal
    token_id: int
    cluster_id: str | None
    expires_at: datetime | None


@dataclass(frozen=True)
class ClusterTarget:
    """What the gateway needs of a cluster; ``credential`` is None when it cannot be decrypted."""

    id: str
    name: str
    project_code: str
    status: str
    credential: Credential | None
    impersonate: bool

    def __repr__(self) -> str:
        return f"ClusterTarget(id={self.id!r}, project={self.project_code!r}, credential=<hidden>)"


async def _once(pending: dict[str, asyncio.Future[T]], key: str, load: Callable[[], Awaitable[T]]) -> T:
    """Run ``load`` once for every caller asking for ``key`` while it runs.

    When a cache entry expires under load, the requests in flight for that token or
    cluster (kubectl bursts, 32 benchmark clients) wait for one query instead of each
    making their own. A caller that is cancelled does not cancel the shared load.
    """
    future = pending.get(key)
    if future is None:
        future = asyncio.ensure_future(load())
        pending[key] = future
        future.add_done_callback(functools.partial(_settled, pending, key))
    return await asyncio.shield(future)


def _settled(pending: dict[str, asyncio.Future[T]], key: str, future: asyncio.Future[T]) -> None:
    pending.pop(key, None)
    if not future.cancelled():
        future.exception()  # retrieved here too, so a load nobody waits for any more is not reported as lost


class Callers:
    """Bearer token -> :class:`Caller`, cached by the token's digest."""

    def __init__(self, db: Database, ttl: float) -> None:
        self.db = db
        self.ttl = ttl
        #: bumped whenever an entry is forgotten, so admissions kept elsewhere (``gateway.core``) are dropped
        self.generation = 0
        self._cache: dict[str, tuple[float, Caller]] = {}
        self._pending: dict[str, asyncio.Future[Caller]] = {}

    async def resolve(self, token: str) -> Caller:
        digest = hash_token(token)
        hit = self._cache.get(digest)
        if hit is not None and hit[0] > time.monotonic():
            caller = hit[1]
            if caller.expires_at is None or caller.expires_at > utcnow():
                return caller
            self._cache.pop(digest, None)
            raise Unauthenticated("error.token_expired", hint="hint.gateway_token")
        return await _once(self._pending, digest, lambda: self._fill(digest, token))

    async def _fill(self, digest: str, token: str) -> Caller:
        async with self.db.session() as session:
            caller = await self._load(session, token)
        if self.ttl > 0:
            if len(self._cache) >= _MAX_ENTRIES:
                self._cache.clear()
            self._cache[digest] = (time.monotonic() + self.ttl, caller)
        return caller

    @staticmethod
    async def _load(session: AsyncSession, token: str) -> Caller:
        row, user = await tokens.resolve_token(session, token)
        principal = await load_principal(session, user, via="gateway")
        return Caller(principal=principal, token_id=row.id, cluster_id=row.cluster_id, expires_at=row.expires_at)

    def forget_token(self, token_id: int) -> None:
        self.generation += 1
        for digest, (_, caller) in list(self._cache.items()):
            if caller.token_id == token_id:
                self._cache.pop(digest, None)

    def clear(self) -> None:
        self.generation += 1
        self._cache.clear()


class Clusters:
    """Cluster id -> :class:`ClusterTarget` with its decrypted credential, cached briefly."""

    def __init__(self, db: Database, secrets: SecretBox, ttl: float, impersonate_default: bool) -> None:
        self.db = db
        self.secrets = secrets
        self.ttl = ttl
        self.impersonate_default = impersonate_default
        self.generation = 0  # as Callers.generation
        self._cache: dict[str, tuple[float, ClusterTarget]] = {}
        self._pending: dict[str, asyncio.Future[ClusterTarget]] = {}

    async def get(self, cluster_id: str) -> ClusterTarget:
        hit = self._cache.get(cluster_id)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        return await _once(self._pending, cluster_id, lambda: self._fill(cluster_id))

    async def _fill(self, cluster_id: str) -> ClusterTarget:
        async with self.db.session() as session:
            cluster = await session.get(Cluster, cluster_id)
            if cluster is None or cluster.status == ClusterStatus.DELETED.value:
                raise NotFound("error.gateway_no_cluster", id=cluster_id)
            setting = await session.get(ClusterGateway, cluster_id)
        target = ClusterTarget(
            id=cluster.id, name=cluster.name, project_code=cluster.project_code, status=cluster.status,
            credential=self._decrypt(cluster.credential),
            impersonate=setting.impersonate if setting is not None else self.impersonate_default)
        if self.ttl > 0:
            if len(self._cache) >= _MAX_ENTRIES:
                self._cache.clear()
            self._cache[cluster_id] = (time.monotonic() + self.ttl, target)
        return target

    def _decrypt(self, ciphertext: str) -> Credential | None:
        if not ciphertext:
            return None
        try:
            return Credential.from_json(self.secrets.decrypt(ciphertext))
        except (SecretDecryptError, ValueError, TypeError):
            return None

    def forget(self, cluster_id: str) -> None:
        self.generation += 1
        self._cache.pop(cluster_id, None)
