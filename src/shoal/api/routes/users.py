"""Users and API tokens."""

from __future__ import annotations

from fastapi import APIRouter, Query

from shoal.api.deps import CurrentPrincipal, SessionDep
from shoal.api.routes.auth import token_created
from shoal.api.schemas import TokenCreate, TokenCreated, TokenPublic, UserCreate, UserPublic
from shoal.iam import accounts

router = APIRouter(prefix="/api/v1", tags=["users"])


@router.get("/users", response_model=list[UserPublic], summary="List users (admins)")
async def list_users(principal: CurrentPrincipal, session: SessionDep) -> list[UserPublic]:
    return [UserPublic.model_validate(u) for u in await accounts.list_users(session, principal)]


@router.post("/users", response_model=UserPublic, status_code=201, summary="Create a user (admins)")
async def create_user(body: UserCreate, principal: CurrentPrincipal, session: SessionDep) -> UserPublic:
    user = await accounts.create_user(session, principal, body.username, body.password,
                                      is_admin=body.is_admin, display_name=body.display_name)
    return UserPublic.model_validate(user)


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
