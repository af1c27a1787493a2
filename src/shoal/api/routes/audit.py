"""The audit log, scoped to what the caller may see."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query

from shoal.api.deps import CurrentPrincipal, SessionDep
from shoal.api.schemas import AuditPublic, Page
from shoal.audit import service

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


@router.get("", response_model=Page[AuditPublic], summary="Audit entries, newest first")
async def list_audit(
    principal: CurrentPrincipal, session: SessionDep,
    username: str | None = Query(default=None, max_length=64),
    action: str | None = Query(default=None, max_length=64),
    project: str | None = Query(default=None, max_length=32),
    outcome: str | None = Query(default=None, max_length=16),
    since: datetime | None = None, until: datetime | None = None,
    limit: int = Query(default=50, ge=1, le=500), offset: int = Query(default=0, ge=0, le=2**31),
) -> Page[AuditPublic]:
    flt = service.AuditFilter(username=username, action=action, project_code=project, outcome=outcome,
                              since=since, until=until)
    rows = await service.query(session, principal, flt, limit=limit, offset=offset)
    total = await service.count(session, principal, flt)
    return Page(items=[AuditPublic.model_validate(r) for r in rows], total=total, limit=limit, offset=offset)
