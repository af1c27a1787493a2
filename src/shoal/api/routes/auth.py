"""Login, logout, who-am-I, and token login for the CLI.

Both logins go through ``iam.login.password_login`` (throttling, argon2 off the
event loop, audit), as does the web login form; a blocked login is a 429
problem with Retry-After.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from shoal.api.deps import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    CtxDep,
    CurrentPrincipal,
    SessionDep,
    client_address,
    csrf_token_for,
)
from shoal.api.schemas import LoginBody, Me, TokenCreated, TokenLogin, TokenPublic
from shoal.iam import accounts
from shoal.iam.login import password_login
from shoal.store.models import ApiToken

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


_THROTTLED: dict[int | str, dict[str, Any]] = {
    429: {"description": "Too many failed logins for this account or from this address; wait Retry-After seconds"},
}


@router.post("/login", response_model=Me, summary="Log in to the web UI (sets the session cookie)",
             responses=_THROTTLED)
async def login(body: LoginBody, request: Request, response: Response, ctx: CtxDep, session: SessionDep) -> Me:
    user, principal = await password_login(ctx.db, session, ctx.settings.auth, body.username, body.password,
                                           source=client_address(request), via="web")
    token = await accounts.create_session(session, user, ctx.settings.auth.session_hours)
    csrf = csrf_token_for(ctx.settings.secret_key, token)
    max_age = ctx.settings.auth.session_hours * 3600
    response.set_cookie(SESSION_COOKIE, token, max_age=max_age, httponly=True, samesite="lax",
                        secure=ctx.settings.secure_cookies)
    response.set_cookie(CSRF_COOKIE, csrf, max_age=max_age, httponly=False, samesite="lax",
                        secure=ctx.settings.secure_cookies)
    return Me(username=user.username, is_admin=user.is_admin, roles=dict(principal.roles), csrf_token=csrf)


@router.post("/logout", status_code=204, summary="End the web session")
async def logout(request: Request, response: Response, principal: CurrentPrincipal, session: SessionDep) -> None:
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        await accounts.end_session(session, cookie)
    response.delete_cookie(SESSION_COOKIE)
    response.delete_cookie(CSRF_COOKIE)


@router.get("/me", response_model=Me, summary="Who is calling")
async def me(principal: CurrentPrincipal) -> Me:
    return Me(username=principal.username, is_admin=principal.is_admin,
              roles={k: v.value for k, v in principal.roles.items()})


@router.post("/token", response_model=TokenCreated, status_code=201, responses=_THROTTLED,
             summary="Exchange a username and password for an API token (used by 'shoal login')")
async def token_login(body: TokenLogin, request: Request, ctx: CtxDep, session: SessionDep) -> TokenCreated:
    user, principal = await password_login(ctx.db, session, ctx.settings.auth, body.username, body.password,
                                           source=client_address(request), via="api")
    row, token = await accounts.create_token(session, principal, name=body.name,
                                             expires_in=accounts.parse_duration(body.expires))
    return token_created(row, token, user.username)


def token_created(row: ApiToken, token: str, username: str) -> TokenCreated:
    public = TokenPublic.model_validate(row)
    return TokenCreated(**public.model_dump(), token=token, username=username)
