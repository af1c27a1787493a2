"""Gateway tokens: short-lived bearer tokens for kubeconfigs and consoles, bound to a user (and a cluster).

Who calls it: the kubeconfig API and page (issue), the token API (list, revoke)
and the gateway's caller lookup (resolve). They are ``api_tokens`` rows of kind
``gateway``, stored as SHA-256 digests like every other token; ``cluster_id``
binds one to a cluster, so a leaked kubeconfig opens that cluster only. Rights
are never stored in the token: each request is authorised against the user's
roles of the moment.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shoal.audit import service as audit
from shoal.clusters.models import Cluster, ClusterStatus
from shoal.core.errors import Invalid, NotFound, PermissionDenied, Unauthenticated
from shoal.core.security import hash_token, new_token
from shoal.iam.accounts import get_user, parse_duration
from shoal.iam.authz import Action, Principal, require
from shoal.store.models import ApiToken, User
from shoal.store.types import utcnow

__all__ = ["GATEWAY_KIND", "TOKEN_KINDS", "get_cluster", "issue_token", "list_tokens", "parse_expiry",
           "resolve_token", "revoke_token"]

GATEWAY_KIND = "gateway"
#: Kinds of token the gateway accepts: API tokens (scripts) and gateway tokens (kubeconfigs, consoles).
TOKEN_KINDS = ("api", GATEWAY_KIND)


def parse_expiry(text: str, maximum: str) -> timedelta:
    """A gateway token lifetime (``8h``, ``7d``); never unlimited and never past ``maximum``."""
    limit = parse_duration(maximum) or timedelta(days=3650)
    wanted = parse_duration(text)
    if wanted is None or wanted > limit:
        raise Invalid("error.gateway_expiry", hint="hint.gateway_expiry", field="expires", value=text, max=maximum)
    return wanted


async def get_cluster(session: AsyncSession, actor: Principal, cluster_id: str,
                      action: Action = Action.CLUSTER_VIEW) -> Cluster:
    """A live cluster ``actor`` may act on with ``action``."""
    cluster = await session.get(Cluster, cluster_id)
    if cluster is None or cluster.status == ClusterStatus.DELETED.value:
        raise NotFound("error.gateway_no_cluster", id=cluster_id)
    require(actor, action, cluster)
    return cluster


async def issue_token(session: AsyncSession, actor: Principal, cluster: Cluster, *, expires_in: timedelta,
                      name: str = "kubeconfig") -> tuple[ApiToken, str]:
    """Mint a gateway token for ``actor`` bound to ``cluster`` (which they may view); shown once."""
    require(actor, Action.CLUSTER_VIEW, cluster)
    user = await get_user(session, actor.username)
    token = new_token()
    row = ApiToken(user_id=user.id, kind=GATEWAY_KIND, name=name[:128], token_hash=hash_token(token),
                   created_by=actor.username, expires_at=utcnow() + expires_in, cluster_id=cluster.id)
    session.add(row)
    await session.flush()
    await audit.record(session, actor, "gateway.token.create", target_type="cluster", target_id=cluster.id,
                       project_code=cluster.project_code,
                       detail={"token": row.id, "expires_at": row.expires_at.isoformat() if row.expires_at else None})
    return row, token


async def resolve_token(session: AsyncSession, token: str) -> tuple[ApiToken, User]:
    """The token row and its active user, or ``Unauthenticated`` naming why not."""
    row = await session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    now = utcnow()
    if row is None or row.kind not in TOKEN_KINDS:
        raise Unauthenticated("error.bad_token", hint="hint.gateway_token")
    if row.revoked_at is not None:
        raise Unauthenticated("error.token_revoked", hint="hint.gateway_token")
    if row.expires_at is not None and row.expires_at <= now:
        raise Unauthenticated("error.token_expired", hint="hint.gateway_token")
    if not row.user.is_active:
        raise Unauthenticated("error.user_inactive")
    if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=1):
        row.last_used_at = now
    return row, row.user


async def list_tokens(session: AsyncSession, actor: Principal, username: str | None = None,
                      cluster_id: str | None = None) -> list[ApiToken]:
    """Gateway tokens of ``actor`` (admins: of ``username``), newest first."""
    target = username or actor.username
    if target != actor.username:
        require(actor, Action.USER_MANAGE)
    user = await get_user(session, target)
    stmt = select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.kind == GATEWAY_KIND)
    if cluster_id:
        stmt = stmt.where(ApiToken.cluster_id == cluster_id)
    return list((await session.scalars(stmt.order_by(ApiToken.id.desc()))).all())


async def revoke_token(session: AsyncSession, actor: Principal, token_id: int) -> ApiToken:
    """Revoke a gateway token of one's own (admins: anyone's); the gateway refuses it from then on."""
    row = await session.get(ApiToken, token_id)
    if row is None or row.kind != GATEWAY_KIND:
        raise NotFound("error.token_not_found", id=token_id)
    if row.user_id != actor.user_id and not actor.is_admin:
        raise PermissionDenied("error.permission_denied_platform", error_code="error.permission_denied",
                               action=Action.USER_MANAGE.value)
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    await audit.record(session, actor, "gateway.token.revoke", target_type="token", target_id=str(token_id),
                       detail={"user": row.user.username, "cluster": row.cluster_id})
    return row
