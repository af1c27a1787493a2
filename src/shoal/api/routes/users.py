"""Users and API tokens; account administration (disable, passwords) and your own account."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from shoal.api.deps import SESSION_COOKIE, CurrentPrincipal, SessionDep
from shoal.api.routes.auth import token_created
from shoal.api.schemas import (
    AccountPublic,
    LanguageChoice,
    PasswordChange,
    PasswordReset,
    TokenCreate,
    TokenCreated,
    TokenPublic,
    UserCreate,
    UserPublic,
)
from shoal.iam import accounts
from shoal.store.models import User

router = APIRouter(prefix="/api/v1", tags=["users"])

Username = Annotated[str, Path(min_length=1, max_length=64, description="Username")]


@router.get("/users", response_model=list[UserPublic], summary="List users (admins)")
async def list_users(principal: CurrentPrincipal, session: SessionDep) -> list[UserPublic]:
    return [UserPublic.model_validate(u) for u in await accounts.list_users(session, principal)]


@router.post("/users", response_model=UserPublic, status_code=201, summary="Create a user (admins)")
async def create_user(body: UserCreate, principal: CurrentPrincipal, session: SessionDep) -> UserPublic:
    user = await accounts.create_user(session, principal, body.username, body.password,
                                      is_admin=body.is_admin, display_name=body.display_name)
    return UserPublic.model_validate(user)


def forget_gateway_callers(request: Request) -> None:
    """Drop the gateway's cached token -> caller answers, so a disabled user is refused there at once too."""
    gateway = getattr(request.app.state, "gateway", None)
    if gateway is not None:
        gateway.callers.clear()


@router.post("/users/{username}/disable", response_model=UserPublic,
             summary="Disable a user (admins): their tokens and sessions stop working at once")
async def disable_user(request: Request, principal: CurrentPrincipal, session: SessionDep,
                       username: Username) -> UserPublic:
    user = await accounts.set_user_active(session, principal, username, False)
    await session.commit()
    forget_gateway_callers(request)
    return UserPublic.model_validate(user)


@router.post("/users/{username}/enable", response_model=UserPublic, summary="Enable a disabled user again (admins)")
async def enable_user(principal: CurrentPrincipal, session: SessionDep, username: Username) -> UserPublic:
    user = await accounts.set_user_active(session, principal, username, True)
    await session.commit()
    return UserPublic.model_validate(user)


@router.put("/users/{username}/password", status_code=204,
            summary="Set a user's password (admins); their web sessions end")
async def reset_password(body: PasswordReset, request: Request, principal: CurrentPrincipal, session: SessionDep,
                         username: Username) -> Response:
    keep = request.cookies.get(SESSION_COOKIE) if principal.via == "web" else None
    await accounts.reset_password(session, principal, username, body.password, keep_session=keep)
    await session.commit()
    return Response(status_code=204)


def _account(user: User) -> AccountPublic:
    return AccountPublic(username=user.username, display_name=user.display_name, is_admin=user.is_admin,
                         language=accounts.saved_language(user))


@router.get("/account", response_model=AccountPublic, summary="Your own account")
async def my_account(principal: CurrentPrincipal, session: SessionDep) -> AccountPublic:
    return _account(await accounts.get_user(session, principal.username))


@router.put("/account/password", status_code=204,
            summary="Change your own password (the current one is required); your other web sessions end")
async def change_password(body: PasswordChange, request: Request, principal: CurrentPrincipal,
                          session: SessionDep) -> Response:
    keep = request.cookies.get(SESSION_COOKIE) if principal.via == "web" else None
    await accounts.change_password(session, principal, body.current_password, body.new_password, keep_session=keep)
    await session.commit()
    return Response(status_code=204)


@router.put("/account/language", response_model=AccountPublic,
            summary="Remember your UI language (zh-CN or en); pages prefer it to the browser's")
async def set_language(body: LanguageChoice, principal: CurrentPrincipal, session: SessionDep) -> AccountPublic:
    user = await accounts.set_language(session, principal, body.language)
    await session.commit()
    return _account(user)


@router.get("/tokens", response_model=list[TokenPublic], summary="List API tokens (yours, or a user's for admins)")
async def list_tokens(principal: CurrentPrincipal, session: SessionDep,
                      user: str | None = Query(default=None, max_length=64)) -> list[TokenPublic]:
    return [TokenPublic.model_validate(t) for t in await accounts.list_tokens(session, principal, user)]


@router.post("/tokens", response_model=TokenCreated, status_code=201, summary="Create an API token (shown once)")
async def create_token(body: TokenCreate, principal: CurrentPrincipal, session: SessionDep) -> TokenCreated:
    row, token = await accounts.create_token(session, principal, username=body.username, name=body.name,
                                             expires_in=accounts.parse_duration(body.expires))
    return token_created(row, token, body.username or principal.username)


@router.delete("/tokens/{token_id}", response_model=TokenPublic, summary="Revoke an API token")
async def revoke_token(token_id: int, principal: CurrentPrincipal, session: SessionDep) -> TokenPublic:
    return TokenPublic.model_validate(await accounts.revoke_token(session, principal, token_id))
