"""The kubeconfig page of a cluster (R20): download a per-user kubeconfig, see and revoke one's gateway tokens.

``/projects/{code}/clusters/{id}/kubeconfig`` — anyone who may view the cluster
gets a kubeconfig whose server is the gateway and whose token is a fresh
gateway token of theirs bound to that cluster (``gateway.kubeconfig``); what
kubectl may then do is decided per request by their project role. The cluster
page links here with ``{% include "kubeconfig/_button.html" %}``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import Response

from shoal.api.deps import CtxDep, SessionDep
from shoal.core.errors import NotFound
from shoal.gateway import tokens
from shoal.gateway.kubeconfig import issue_kubeconfig
from shoal.gateway.tls import ca_pem
from shoal.store.types import utcnow
from shoal.web.deps import FormError, PagePrincipal, attempt
from shoal.web.nav import NavItem
from shoal.web.render import redirect, render

__all__ = ["nav", "router"]

router = APIRouter(include_in_schema=False)
nav: tuple[NavItem, ...] = ()

CodePath = Annotated[str, Path(min_length=1, max_length=32)]
ClusterIdPath = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9-]+$")]
EXPIRY_CHOICES = ("1h", "8h", "1d", "7d", "30d")


def _base_url(request: Request, ctx: CtxDep) -> str:
    return ctx.settings.public_url.rstrip("/") or str(request.base_url).rstrip("/")


async def _page(request: Request, session: SessionDep, ctx: CtxDep, principal: PagePrincipal, code: str,
                cluster_id: str, error: FormError | None = None) -> Response:
    cluster = await tokens.get_cluster(session, principal, cluster_id)
    if cluster.project_code != code:
        raise NotFound("error.gateway_no_cluster", id=cluster_id)
    rows = await tokens.list_tokens(session, principal, cluster_id=cluster.id)
    return render(request, "kubeconfig/page.html", {
        "cluster": cluster, "code": code, "tokens": rows, "now": utcnow(), "error": error,
        "expiry_choices": EXPIRY_CHOICES, "default_expiry": ctx.settings.gateway.kubeconfig_expires,
        "server": f"{_base_url(request, ctx)}/clusters/{cluster.id}", "https": _base_url(request, ctx).startswith(
            "https://"),
    }, status=error.status if error else 200)


@router.get("/projects/{code}/clusters/{cluster_id}/kubeconfig")
async def kubeconfig_page(request: Request, code: CodePath, cluster_id: ClusterIdPath, principal: PagePrincipal,
                          session: SessionDep, ctx: CtxDep) -> Response:
    return await _page(request, session, ctx, principal, code, cluster_id)


@router.post("/projects/{code}/clusters/{cluster_id}/kubeconfig")
async def download_kubeconfig(request: Request, code: CodePath, cluster_id: ClusterIdPath, principal: PagePrincipal,
                              session: SessionDep, ctx: CtxDep,
                              expires: Annotated[str, Form(max_length=16)] = "",
                              namespace: Annotated[str, Form(max_length=63)] = "") -> Response:
    gateway = ctx.settings.gateway

    async def issue() -> str:
        expires_in = tokens.parse_expiry(expires or gateway.kubeconfig_expires, gateway.kubeconfig_max_expires)
        issued = await issue_kubeconfig(session, principal, cluster_id, base_url=_base_url(request, ctx),
                                        expires_in=expires_in, ca_pem=ca_pem(ctx.settings),
                                        namespace=namespace.strip() or None)
        return issued.kubeconfig

    outcome = await attempt(request, session, principal, issue(), action="gateway.token.create",
                            target_type="cluster", target_id=cluster_id, project_code=code)
    if isinstance(outcome, FormError):
        return await _page(request, session, ctx, principal, code, cluster_id, error=outcome)
    await session.commit()
    return Response(outcome, media_type="application/yaml", headers={
        "Content-Disposition": f'attachment; filename="{cluster_id}.kubeconfig"', "Cache-Control": "no-store"})


@router.post("/projects/{code}/clusters/{cluster_id}/kubeconfig/tokens/{token_id}/revoke")
async def revoke_token(request: Request, code: CodePath, cluster_id: ClusterIdPath, token_id: int,
                       principal: PagePrincipal, session: SessionDep, ctx: CtxDep) -> Response:
    outcome = await attempt(request, session, principal, tokens.revoke_token(session, principal, token_id),
                            action="gateway.token.revoke", target_type="token", target_id=str(token_id))
    if isinstance(outcome, FormError):
        return await _page(request, session, ctx, principal, code, cluster_id, error=outcome)
    await session.commit()
    request.app.state.gateway.callers.forget_token(token_id)
    return redirect(f"/projects/{code}/clusters/{cluster_id}/kubeconfig", flash_key="ui.flash.kubeconfig_revoked",
                    id=token_id)
