"""The signed-in user's own account: API tokens (list, create, revoke) and the password.

Tokens are what ``shoal`` (the CLI) and automation send as ``Authorization:
Bearer``; the service stores only their digest, so a new token is shown on the
page that created it and never again. Changing the password needs the current
one and ends the user's other web sessions (this one stays signed in).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from shoal.api.deps import SESSION_COOKIE, SessionDep
from shoal.api.problems import language_of
from shoal.core.i18n import translate
from shoal.iam import accounts
from shoal.iam.authz import Principal
from shoal.store.types import utcnow
from shoal.web.deps import FormError, PagePrincipal, attempt
from shoal.web.nav import NavItem
from shoal.web.render import redirect, render

__all__ = ["nav", "router"]

router = APIRouter(prefix="/account", include_in_schema=False)
nav = (NavItem("ui.nav.tokens", "/account/tokens", "key", order=95, section_key="ui.nav.section.account"),
       NavItem("ui.nav.password", "/account/password", "lock", order=95, section_key="ui.nav.section.account"))

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


def _password_page(request: Request, *, error: FormError | None = None, status: int = 200) -> Response:
    return render(request, "account/password.html", {"error": error}, status=status)


@router.get("/password")
async def password_form(request: Request, principal: PagePrincipal) -> Response:
    return _password_page(request)


@router.post("/password")
async def change_password(request: Request, principal: PagePrincipal, session: SessionDep,
                          current_password: Annotated[str, Form(max_length=256)] = "",
                          new_password: Annotated[str, Form(max_length=256)] = "",
                          confirm: Annotated[str, Form(max_length=256)] = "") -> Response:
    if new_password != confirm:
        message = translate("error.password_mismatch", language_of(request))
        return _password_page(request, error=FormError("error.password_mismatch", message, None, "confirm", 400),
                              status=400)
    result = await attempt(request, session, principal,
                           accounts.change_password(session, principal, current_password, new_password,
                                                    keep_session=request.cookies.get(SESSION_COOKIE)),
                           action="user.password_change", target_type="user", target_id=principal.username)
    if isinstance(result, FormError):
        return _password_page(request, error=result, status=result.status)
    await session.commit()
    return redirect("/account/password", flash_key="ui.flash.password_changed")
