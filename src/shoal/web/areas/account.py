"""The signed-in user's own API tokens: list, create (shown once), revoke.

Tokens are what ``shoal`` (the CLI) and automation send as ``Authorization:
Bearer``; the service stores only their digest, so a new token is shown on the
page that created it and never again.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from shoal.api.deps import SessionDep
from shoal.iam import accounts
from shoal.iam.authz import Principal
from shoal.store.types import utcnow
from shoal.web.deps import FormError, PagePrincipal, attempt
from shoal.web.nav import NavItem
from shoal.web.render import redirect, render

__all__ = ["nav", "router"]

router = APIRouter(prefix="/account", include_in_schema=False)
nav = (NavItem("ui.nav.tokens", "/account/tokens", "key", order=95, section_key="ui.nav.section.account"),)

EXPIRY_CHOICES = ("30d", "90d", "1y", "never")


async def _tokens_page(request: Request, session: AsyncSession, principal: Principal, *,
                       created: tuple[str, str] | None = None, error: FormError | None = None,
                       form: dict[str, str] | None = None, status: int = 200) -> Response:
    tokens = await accounts.list_tokens(session, principal)
    return render(request, "account/tokens.html", {
        "tokens": sorted(tokens, key=lambda t: t.id, reverse=True), "created": created, "error": error,
        "form": form or {}, "expiry_choices": EXPIRY_CHOICES, "now": utcnow(),
    }, status=status)


@router.get("/tokens")
async def tokens(request: Request, principal: PagePrincipal, session: SessionDep) -> Response:
    return await _tokens_page(request, session, principal)


@router.post("/tokens")
async def create_token(request: Request, principal: PagePrincipal, session: SessionDep,
                       name: Annotated[str, Form(max_length=128)] = "",
                       expires: Annotated[str, Form(max_length=16)] = "90d") -> Response:
    async def create() -> tuple[str, str]:
        row, token = await accounts.create_token(session, principal, name=name.strip(),
                                                 expires_in=accounts.parse_duration(expires))
        return row.name, token

    result = await attempt(request, session, principal, create(), action="token.create", target_type="token")
    if isinstance(result, FormError):
        return await _tokens_page(request, session, principal, error=result,
                                  form={"name": name, "expires": expires}, status=result.status)
    await session.commit()
    # Shown in this response only: the token is stored hashed and cannot be displayed again.
    return await _tokens_page(request, session, principal, created=result, status=201)


@router.post("/tokens/{token_id}/revoke")
async def revoke_token(request: Request, token_id: Annotated[int, Path(ge=1, lt=2**31)],
                       principal: PagePrincipal, session: SessionDep) -> Response:
    result = await attempt(request, session, principal, accounts.revoke_token(session, principal, token_id),
                           action="token.revoke", target_type="token", target_id=str(token_id))
    if isinstance(result, FormError):
        return await _tokens_page(request, session, principal, error=result, status=result.status)
    await session.commit()
    return redirect("/account/tokens", flash_key="ui.flash.token_revoked", name=result.name or f"#{token_id}")
