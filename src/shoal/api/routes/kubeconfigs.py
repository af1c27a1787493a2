"""Per-user kubeconfigs for the kube gateway, their gateway tokens, and per-cluster gateway settings (R20).

Thin: validate, call ``gateway.kubeconfig`` / ``gateway.tokens`` /
``gateway.clusters``, return a schema. A kubeconfig needs ``cluster_view`` on the
cluster (what the holder may then do is decided per request by the gateway);
changing the impersonation setting needs ``cluster_manage``. Revoking a token
also clears it from this server's gateway cache at once.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from shoal.api.deps import CtxDep, CurrentPrincipal, SessionDep
from shoal.gateway import clusters as gateway_clusters
from shoal.gateway import tokens
from shoal.gateway.kubeconfig import issue_kubeconfig
from shoal.gateway.tls import ca_pem

router = APIRouter(prefix="/api/v1", tags=["gateway"])
ClusterIdPath = Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9-]+$")


class KubeconfigCreate(BaseModel):
    expires: str | None = Field(default=None, max_length=16,
                                description="Lifetime of the gateway token: 8h, 7d… (default from the server)")
    namespace: str | None = Field(default=None, max_length=63, description="Default namespace of the context")


class KubeconfigIssued(BaseModel):
    cluster_id: str
    server: str
    token_id: int
    expires_at: datetime | None
    kubeconfig: str = Field(description="YAML; its token is shown once, only its hash is stored.")


class GatewayTokenPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    cluster_id: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class GatewaySettingPublic(BaseModel):
    cluster_id: str
    impersonate: bool


class GatewaySettingUpdate(BaseModel):
    impersonate: bool


def _base_url(request: Request, ctx: CtxDep) -> str:
    return ctx.settings.public_url.rstrip("/") or str(request.base_url).rstrip("/")


@router.post("/clusters/{cluster_id}/kubeconfig", response_model=KubeconfigIssued, status_code=201,
             summary="A kubeconfig for you that reaches the cluster through the gateway")
async def create_kubeconfig(request: Request, body: KubeconfigCreate, principal: CurrentPrincipal,
                            session: SessionDep, ctx: CtxDep,
                            cluster_id: str = ClusterIdPath) -> KubeconfigIssued:
    gateway = ctx.settings.gateway
    expires_in = tokens.parse_expiry(body.expires or gateway.kubeconfig_expires, gateway.kubeconfig_max_expires)
    issued = await issue_kubeconfig(session, principal, cluster_id, base_url=_base_url(request, ctx),
                                    expires_in=expires_in, ca_pem=ca_pem(ctx.settings), namespace=body.namespace)
    await session.commit()  # usable the moment the answer arrives (the session would commit only after it)
    return KubeconfigIssued(cluster_id=issued.cluster_id, server=issued.server, token_id=issued.token_id,
                            expires_at=issued.expires_at, kubeconfig=issued.kubeconfig)


@router.get("/gateway/tokens", response_model=list[GatewayTokenPublic],
            summary="Your gateway tokens (admins: a user's), newest first")
async def list_gateway_tokens(principal: CurrentPrincipal, session: SessionDep,
                              user: str | None = Query(default=None, max_length=64),
                              cluster: str | None = Query(default=None, max_length=32)) -> list[GatewayTokenPublic]:
    rows = await tokens.list_tokens(session, principal, user, cluster)
    return [GatewayTokenPublic.model_validate(r) for r in rows]


@router.delete("/gateway/tokens/{token_id}", response_model=GatewayTokenPublic,
               summary="Revoke a gateway token (its kubeconfig stops working at once)")
async def revoke_gateway_token(request: Request, token_id: int, principal: CurrentPrincipal,
                               session: SessionDep) -> GatewayTokenPublic:
    row = await tokens.revoke_token(session, principal, token_id)
    await session.commit()
    request.app.state.gateway.callers.forget_token(token_id)
    return GatewayTokenPublic.model_validate(row)


@router.get("/clusters/{cluster_id}/gateway", response_model=GatewaySettingPublic,
            summary="The cluster's gateway settings")
async def read_gateway_setting(principal: CurrentPrincipal, session: SessionDep, ctx: CtxDep,
                               cluster_id: str = ClusterIdPath) -> GatewaySettingPublic:
    setting = await gateway_clusters.read_setting(session, principal, cluster_id,
                                                  ctx.settings.gateway.impersonate_default)
    return GatewaySettingPublic(cluster_id=setting.cluster_id, impersonate=setting.impersonate)


@router.put("/clusters/{cluster_id}/gateway", response_model=GatewaySettingPublic,
            summary="Turn impersonation of Shoal users on or off for the cluster (cluster_manage)")
async def update_gateway_setting(request: Request, body: GatewaySettingUpdate, principal: CurrentPrincipal,
                                 session: SessionDep, cluster_id: str = ClusterIdPath) -> GatewaySettingPublic:
    setting = await gateway_clusters.set_impersonation(session, principal, cluster_id, body.impersonate)
    await session.commit()
    request.app.state.gateway.clusters.forget(setting.cluster_id)
    return GatewaySettingPublic(cluster_id=setting.cluster_id, impersonate=setting.impersonate)
