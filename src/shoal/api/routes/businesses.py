"""The business directory (R2): list what you maintain; admins manage the built-in directory."""

from __future__ import annotations

from fastapi import APIRouter, Path

from shoal.api.deps import CtxDep, CurrentPrincipal, SessionDep
from shoal.api.schemas import MAX_ID, BusinessChoices, BusinessCreate, BusinessPublic, MaintainersUpdate
from shoal.business import builtin
from shoal.business.directory import businesses_for
from shoal.core.errors import Conflict
from shoal.iam.authz import Action, require

router = APIRouter(prefix="/api/v1/businesses", tags=["businesses"])


def _require_writable(ctx: CtxDep) -> None:
    if not ctx.directory.writable:
        raise Conflict("error.business_readonly")


@router.get("", response_model=BusinessChoices, summary="Businesses you maintain (all of them for admins)")
async def list_businesses(principal: CurrentPrincipal, session: SessionDep, ctx: CtxDep) -> BusinessChoices:
    items = await businesses_for(session, ctx.directory, principal)
    return BusinessChoices(
        items=[BusinessPublic(id=b.id, name=b.name, maintainers=list(b.maintainers)) for b in items],
        directory=ctx.directory.name, is_admin=principal.is_admin,
    )


@router.post("", response_model=BusinessPublic, status_code=201, summary="Add a business (admins, built-in directory)")
async def add_business(body: BusinessCreate, principal: CurrentPrincipal, session: SessionDep,
                       ctx: CtxDep) -> BusinessPublic:
    require(principal, Action.BUSINESS_MANAGE)
    _require_writable(ctx)
    info = await builtin.add_business(session, principal, body.id, body.name, body.maintainers)
    return BusinessPublic(id=info.id, name=info.name, maintainers=list(info.maintainers))


@router.delete("/{business_id}", status_code=204, summary="Remove a business (admins, built-in directory)")
async def remove_business(principal: CurrentPrincipal, session: SessionDep, ctx: CtxDep,
                          business_id: int = Path(ge=1, lt=MAX_ID)) -> None:
    require(principal, Action.BUSINESS_MANAGE)
    _require_writable(ctx)
    await builtin.remove_business(session, principal, business_id)


@router.put("/{business_id}/maintainers", response_model=BusinessPublic,
            summary="Replace the maintainers of a business (admins, built-in directory)")
async def set_maintainers(body: MaintainersUpdate, principal: CurrentPrincipal, session: SessionDep, ctx: CtxDep,
                          business_id: int = Path(ge=1, lt=MAX_ID)) -> BusinessPublic:
    info = await builtin.set_maintainers(session, principal, ctx.directory, business_id, body.maintainers)
    await session.commit()
    return BusinessPublic(id=info.id, name=info.name, maintainers=list(info.maintainers))
