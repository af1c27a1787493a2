"""Request dependencies: the app context, a database session, and who is calling.

Authentication accepts an API token (``Authorization: Bearer``) or the web
session cookie; with the cookie, unsafe methods must also carry the CSRF token
(header ``X-CSRF-Token`` or form field ``csrf_token``), which is an HMAC of the
session token so it cannot be forged without the server's key.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from shoal.context import AppContext
from shoal.core.errors import PermissionDenied, Unauthenticated
from shoal.core.security import tokens_equal
from shoal.iam.accounts import load_principal, resolve_token
from shoal.iam.authz import Principal

__all__ = [
    "CSRF_COOKIE",
    "SESSION_COOKIE",
    "CtxDep",
    "CurrentPrincipal",
    "OptionalPrincipal",
    "SessionDep",
    "csrf_token_for",
]

SESSION_COOKIE = "shoal_session"
CSRF_COOKIE = "shoal_csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_ctx(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


CtxDep = Annotated[AppContext, Depends(get_ctx)]


async def get_session(ctx: CtxDep) -> AsyncIterator[AsyncSession]:
    async with ctx.db.session() as session:
        yield session


# scope="function": commit before the response is sent, so a client that got 201 can read what it created
# at once, and a failed commit becomes an error response instead of a success already on the wire.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


def csrf_token_for(secret_key: str, session_token: str) -> str:
    return hmac.new(secret_key.encode(), b"csrf:" + session_token.encode(), hashlib.sha256).hexdigest()[:40]


def client_address(request: Request) -> str:
    return request.client.host if request.client else ""


async def _check_csrf(request: Request, ctx: AppContext, session_token: str) -> None:
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get("x-csrf-token", "")
    if not sent and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        sent = str((await request.form()).get("csrf_token", ""))
    if not sent or not tokens_equal(sent, csrf_token_for(ctx.settings.secret_key, session_token)):
        raise PermissionDenied("error.csrf", error_code="csrf_failed", hint="hint.csrf")


async def _authenticate(request: Request, ctx: AppContext, session: AsyncSession) -> Principal | None:
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("error.bad_token", hint="hint.unauthenticated")
        user = await resolve_token(session, token.strip(), ("api",))
        return await load_principal(session, user, via="api", source=client_address(request))
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        try:
            user = await resolve_token(session, cookie, ("session",))
        except Unauthenticated:
            return None
        await _check_csrf(request, ctx, cookie)
        return await load_principal(session, user, via="web", source=client_address(request))
    return None


async def optional_principal(request: Request, ctx: CtxDep, session: SessionDep) -> Principal | None:
    principal = await _authenticate(request, ctx, session)
    request.state.principal = principal
    return principal


async def current_principal(principal: Annotated[Principal | None, Depends(optional_principal)]) -> Principal:
    if principal is None:
        raise Unauthenticated("error.unauthenticated", hint="hint.unauthenticated")
    return principal


OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]
CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
