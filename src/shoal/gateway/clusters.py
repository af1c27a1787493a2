"""Per-cluster gateway settings: whether the gateway impersonates the Shoal user.

Who calls it: the gateway settings API route. Reading needs ``cluster_view``,
changing ``cluster_manage``; changes are audited. A cluster without a row uses
``GatewaySettings.impersonate_default`` (on), so new imports impersonate.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from shoal.audit import service as audit
from shoal.gateway.models import ClusterGateway
from shoal.gateway.tokens import get_cluster
from shoal.iam.authz import Action, Principal
from shoal.store.types import utcnow

__all__ = ["GatewaySetting", "read_setting", "set_impersonation"]


@dataclass(frozen=True)
class GatewaySetting:
    cluster_id: str
    impersonate: bool


async def read_setting(session: AsyncSession, actor: Principal, cluster_id: str, default: bool) -> GatewaySetting:
    cluster = await get_cluster(session, actor, cluster_id)
    row = await session.get(ClusterGateway, cluster.id)
    return GatewaySetting(cluster.id, row.impersonate if row is not None else default)


async def set_impersonation(session: AsyncSession, actor: Principal, cluster_id: str,
                            impersonate: bool) -> GatewaySetting:
    cluster = await get_cluster(session, actor, cluster_id, Action.CLUSTER_MANAGE)
    row = await session.get(ClusterGateway, cluster.id)
    if row is None:
        row = ClusterGateway(cluster_id=cluster.id)
        session.add(row)
    row.impersonate = impersonate
    row.updated_by = actor.username
    row.updated_at = utcnow()
    await audit.record(session, actor, "gateway.settings.update", target_type="cluster", target_id=cluster.id,
                       project_code=cluster.project_code, detail={"impersonate": impersonate})
    return GatewaySetting(cluster.id, impersonate)
