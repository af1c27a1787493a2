"""Permission requests (申请权限): apply, list, approve, reject."""

from __future__ import annotations

from fastapi import APIRouter, Query

from shoal.api.deps import CtxDep, CurrentPrincipal, SessionDep
from shoal.api.schemas import Decision, RequestCreate, RequestPublic
from shoal.iam import requests as service

router = APIRouter(prefix="/api/v1/permission-requests", tags=["permission requests"])


@router.get("", response_model=list[RequestPublic], summary="Your requests and those you may decide")
async def list_requests(
    principal: CurrentPrincipal, session: SessionDep,
    status: service.RequestStatus | None = Query(default=None), mine: bool = False,
    limit: int = Query(default=50, ge=1, le=500), offset: int = Query(default=0, ge=0, le=2**31),
) -> list[RequestPublic]:
    rows = await service.list_requests(session, principal, status=status.value if status else None, mine=mine,
                                       limit=limit, offset=offset)
    return [RequestPublic.model_validate(r) for r in rows]


@router.post("", response_model=RequestPublic, status_code=201, summary="Apply for a business right or project role")
async def apply(body: RequestCreate, principal: CurrentPrincipal, session: SessionDep, ctx: CtxDep) -> RequestPublic:
    row = await service.apply(session, principal, ctx.directory, kind=body.kind, reason=body.reason,
                              project_code=body.project_code, business_id=body.business_id, role=body.role)
    return RequestPublic.model_validate(row)


@router.get("/{request_id}", response_model=RequestPublic, summary="Show a request")
async def get_request(request_id: int, principal: CurrentPrincipal, session: SessionDep) -> RequestPublic:
    return RequestPublic.model_validate(await service.get_request(session, principal, request_id))


@router.post("/{request_id}/approve", response_model=RequestPublic, summary="Approve: grants the right")
async def approve(request_id: int, body: Decision, principal: CurrentPrincipal, session: SessionDep) -> RequestPublic:
    return RequestPublic.model_validate(
        await service.decide(session, principal, request_id, approve=True, note=body.note))


@router.post("/{request_id}/reject", response_model=RequestPublic, summary="Reject")
async def reject(request_id: int, body: Decision, principal: CurrentPrincipal, session: SessionDep) -> RequestPublic:
    return RequestPublic.model_validate(
        await service.decide(session, principal, request_id, approve=False, note=body.note))
