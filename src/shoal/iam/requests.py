"""Permission requests (申请权限, R3): ask for a business right or a project role.

Project-role requests are decided by that project's managers (or admins);
business requests by admins. Approval grants the right in the same transaction.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from shoal.audit import service as audit
from shoal.business.directory import BusinessDirectory, find_business, maintains
from shoal.core.errors import Conflict, Invalid, NotFound, PermissionDenied
from shoal.iam.authz import ROLE_ACTIONS, Action, Principal, ProjectRef, Role, can, require
from shoal.projects.service import find_project, grant_role
from shoal.store.models import BusinessMaintainer, PermissionRequest
from shoal.store.types import utcnow

__all__ = ["RequestKind", "RequestStatus", "apply", "decide", "get_request", "list_requests", "may_decide"]

MIN_REASON = 4
MAX_REASON = 1000


class RequestKind(StrEnum):
    BUSINESS = "business"
    PROJECT_ROLE = "project_role"


class RequestStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


async def apply(
    session: AsyncSession,
    actor: Principal,
    directory: BusinessDirectory,
    *,
    kind: str,
    reason: str,
    project_code: str | None = None,
    business_id: int | None = None,
    role: str | None = None,
) -> PermissionRequest:
    reason = reason.strip()
    if not MIN_REASON <= len(reason) <= MAX_REASON:
        raise Invalid("error.reason_length", field="reason", min=MIN_REASON, max=MAX_REASON)
    try:
        parsed_kind = RequestKind(kind)
    except ValueError as e:
        raise Invalid("error.bad_request_kind", field="kind", value=kind) from e
    if parsed_kind is RequestKind.PROJECT_ROLE:
        if not project_code or not role:
            raise Invalid("error.request_needs_project_role", field="role")
        try:
            wanted = Role(role)
        except ValueError as e:
            raise Invalid("error.bad_role", field="role", value=role) from e
        project = await find_project(session, project_code)
        current = actor.role_in(project.code)
        if current is not None and ROLE_ACTIONS[wanted] <= ROLE_ACTIONS[current]:
            raise Conflict("error.already_has_role", code=project.code, role=current.value)
        business_id = None
    else:
        if business_id is None:
            raise Invalid("error.request_needs_business", field="business_id")
        await find_business(session, directory, business_id)
        if await maintains(session, directory, actor, business_id):
            raise Conflict("error.already_maintainer", id=business_id)
        if project_code:
            await find_project(session, project_code)
        role = None
    duplicate = await session.scalar(
        select(PermissionRequest.id).where(
            PermissionRequest.requester == actor.username,
            PermissionRequest.kind == parsed_kind.value,
            PermissionRequest.status == RequestStatus.PENDING.value,
            PermissionRequest.business_id == business_id if business_id is not None
            else PermissionRequest.project_code == project_code,
        )
    )
    if duplicate is not None:
        raise Conflict("error.request_pending", id=duplicate)
    request = PermissionRequest(
        requester=actor.username, kind=parsed_kind.value, project_code=project_code,
        business_id=business_id, role=role, reason=reason,
    )
    session.add(request)
    await session.flush()
    await audit.record(session, actor, "request.create", target_type="permission_request",
                       target_id=str(request.id), project_code=project_code,
                       detail={"kind": parsed_kind.value, "role": role, "business_id": business_id})
    return request


def may_decide(actor: Principal, request: PermissionRequest) -> bool:
    """Whether ``actor`` may approve or reject ``request`` (pages use it to show the buttons)."""
    if request.kind == RequestKind.BUSINESS.value:
        return can(actor, Action.BUSINESS_MANAGE)
    return can(actor, Action.PROJECT_EDIT, ProjectRef(request.project_code or ""))


async def list_requests(
    session: AsyncSession, actor: Principal, *, status: str | None = None, mine: bool = False,
    limit: int = 50, offset: int = 0,
) -> list[PermissionRequest]:
    """Requests the actor made, plus (unless ``mine``) those the actor may decide."""
    stmt = select(PermissionRequest)
    if mine:
        stmt = stmt.where(PermissionRequest.requester == actor.username)
    elif not actor.is_admin:
        managed = [code for code in actor.roles if can(actor, Action.PROJECT_EDIT, ProjectRef(code))]
        stmt = stmt.where(or_(
            PermissionRequest.requester == actor.username,
            (PermissionRequest.kind == RequestKind.PROJECT_ROLE.value)
            & PermissionRequest.project_code.in_(managed),
        ))
    if status:
        stmt = stmt.where(PermissionRequest.status == status)
    rows = await session.scalars(stmt.order_by(PermissionRequest.id.desc()).limit(limit).offset(offset))
    return list(rows.all())


async def get_request(session: AsyncSession, actor: Principal, request_id: int) -> PermissionRequest:
    request = await session.get(PermissionRequest, request_id)
    if request is None or (request.requester != actor.username and not may_decide(actor, request)):
        raise NotFound("error.request_not_found", id=request_id)
    return request


async def decide(
    session: AsyncSession, actor: Principal, request_id: int, *, approve: bool, note: str = ""
) -> PermissionRequest:
    request = await session.get(PermissionRequest, request_id)
    if request is None:
        raise NotFound("error.request_not_found", id=request_id)
    if request.kind == RequestKind.BUSINESS.value:
        require(actor, Action.BUSINESS_MANAGE)
    else:
        project = await find_project(session, request.project_code or "")
        require(actor, Action.PROJECT_EDIT, project)
    if request.requester == actor.username and not actor.is_admin:
        raise PermissionDenied("error.self_approve")
    if request.status != RequestStatus.PENDING.value:
        raise Conflict("error.request_decided", id=request_id, status=request.status)
    request.status = (RequestStatus.APPROVED if approve else RequestStatus.REJECTED).value
    request.decided_by = actor.username
    request.decided_at = utcnow()
    request.decision_note = note.strip()[:1000]
    if approve:
        await _grant(session, actor, request)
    await audit.record(session, actor, "request.approve" if approve else "request.reject",
                       target_type="permission_request", target_id=str(request.id),
                       project_code=request.project_code,
                       detail={"requester": request.requester, "kind": request.kind})
    return request


async def _grant(session: AsyncSession, actor: Principal, request: PermissionRequest) -> None:
    if request.kind == RequestKind.BUSINESS.value:
        exists = await session.scalar(select(BusinessMaintainer.id).where(
            BusinessMaintainer.business_id == request.business_id,
            BusinessMaintainer.username == request.requester,
        ))
        if exists is None:
            session.add(BusinessMaintainer(business_id=request.business_id, username=request.requester,
                                           granted_by=actor.username))
            await session.flush()
    else:
        project = await find_project(session, request.project_code or "")
        await grant_role(session, project, request.requester, Role(request.role or Role.VIEWER.value))
