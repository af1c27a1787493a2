"""Login, logout, who-am-I, and token login for the CLI."""

from __future__ import annotations

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
from shoal.audit import service as audit
from shoal.core.errors import Unauthenticated
from shoal.iam import accounts
from shoal.store.models import ApiToken, User

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


async def _login(session: SessionDep, request: Request, username: str, password: str) -> User:
    try:
        return await accounts.authenticate_password(session, username, password)
    except Unauthenticated:
        ctx = request.app.state.ctx
        async with ctx.db.session() as other:
            await audit.record(other, None, "auth.login", target_type="user", target_id=username[:64],
                               outcome="failure", username=username[:64],
                               detail={"source": client_address(request)})
        raise


@router.post("/login", response_model=Me, summary="Log in to the web UI (sets the session cookie)")
async def login(body: LoginBody, request: Request, response: Response, ctx: CtxDep, session: SessionDep) -> Me:
    user = await _login(session, request, body.username, body.password)
    token = await accounts.create_session(session, user, ctx.settings.auth.session_hours)
    principal = await accounts.load_principal(session, user, via="web", source=client_address(request))
    await audit.record(session, principal, "auth.login", target_type="user", target_id=user.username)
    csrf = csrf_token_for(ctx.settings.secret_key, token)
    max_age = ctx.settings.auth.session_hours * 3600
    response.set_cookie(SESSION_COOKIE, token, max_age=max_age, httponly=True, samesite="lax",
                        secure=ctx.settings.cookie_secure)
    response.set_cookie(CSRF_COOKIE, csrf, max_age=max_age, httponly=False, samesite="lax",
                        secure=ctx.settings.cookie_secure)
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


@router.post("/token", response_model=TokenCreated, status_code=201,
             summary="Exchange a username and password for an API token (used by 'shoal login')")
async def token_login(body: TokenLogin, request: Request, session: SessionDep) -> TokenCreated:
    user = await _login(session, request, body.username, body.password)
    principal = await accounts.load_principal(session, user, source=client_address(request))
    row, token = await accounts.create_token(session, principal, name=body.name,
                                             expires_in=accounts.parse_duration(body.expires))
    return token_created(row, token, user.username)


def token_created(row: ApiToken, token: str, username: str) -> TokenCreated:
    public = TokenPublic.model_validate(row)
    return TokenCreated(**public.model_dump(), token=token, username=username)
