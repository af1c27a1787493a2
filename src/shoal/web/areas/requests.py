"""Permission requests (申请权限): apply, see my requests and their outcome, decide others'.

What a user may see and decide is the service's business (``iam.requests``):
the list it returns holds the user's own requests plus those they may decide,
and ``decide`` refuses anyone else. The page only arranges them in tabs.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from shoal.api.deps import CtxDep, SessionDep
from shoal.context import AppContext
from shoal.iam import requests as service
from shoal.iam.authz import Action, Principal, Role, can
from shoal.store.models import PermissionRequest
from shoal.web.deps import FormError, PagePrincipal, attempt
from shoal.web.nav import NavItem
from shoal.web.paging import Pager, page_number
from shoal.web.render import redirect, render

__all__ = ["nav", "router"]

router = APIRouter(include_in_schema=False)

VIEWS = ("todo", "mine", "all")
#: Enough to count what waits for a decision on any realistic installation, in one query.
TODO_SCAN = 500


def _decidable(principal: Principal, row: PermissionRequest) -> bool:
    """Worth showing approve/reject: pending, and not the user's own (admins may decide anything)."""
    if row.status != service.RequestStatus.PENDING.value:
        return False
    return row.requester != principal.username or can(principal, Action.BUSINESS_MANAGE)


async def _todo(session: AsyncSession, principal: Principal) -> list[PermissionRequest]:
    rows = await service.list_requests(session, principal, status=service.RequestStatus.PENDING.value,
                                       limit=TODO_SCAN)
    return [r for r in rows if _decidable(principal, r) and r.requester != principal.username]


async def _waiting_count(session: AsyncSession, principal: Principal) -> int:
    return len(await _todo(session, principal))


nav = (NavItem("ui.nav.requests", "/requests", "requests", order=20, badge=_waiting_count),)


async def _page(request: Request, session: AsyncSession, ctx: AppContext, principal: Principal, *,
                view: str, page: int, apply_error: FormError | None = None,
                form: dict[str, str] | None = None, status: int = 200) -> Response:
    todo = await _todo(session, principal)
    if view not in VIEWS:
        view = "todo" if todo else "mine"
    pager = Pager(page=page)
    if view == "todo":
        window = todo[pager.offset:pager.offset + pager.size + 1]
    else:
        window = await service.list_requests(session, principal, mine=view == "mine", limit=pager.size + 1,
                                             offset=pager.offset)
    pager = Pager(page=page, more=len(window) > pager.size)
    rows = window[:pager.size]
    ids = {r.business_id for r in rows if r.business_id is not None}
    directory = await ctx.directory.all(session)
    names = {b.id: b.name for b in directory}
    for business_id in ids - set(names):
        info = await ctx.directory.get(session, business_id)
        if info is not None:
            names[info.id] = info.name
    context: dict[str, Any] = {
        "view": view, "rows": rows, "pager": pager, "params": {"view": view}, "todo_count": len(todo),
        "decidable": {r.id for r in rows if _decidable(principal, r)}, "business_names": names,
        "directory_items": directory, "roles": [r.value for r in Role], "apply_error": apply_error,
        "form": form or {},
    }
    return render(request, "requests/list.html", context, status=status)


@router.get("/requests")
async def requests_page(request: Request, principal: PagePrincipal, session: SessionDep, ctx: CtxDep,
                        view: Annotated[str, Query(max_length=8)] = "", page: str = "1") -> Response:
    return await _page(request, session, ctx, principal, view=view, page=page_number(page))


@router.post("/requests")
async def apply(
    request: Request, principal: PagePrincipal, session: SessionDep, ctx: CtxDep,
    kind: Annotated[str, Form(max_length=16)] = "business",
    business_id: Annotated[str, Form(max_length=32)] = "",
    project_code: Annotated[str, Form(max_length=32)] = "",
    role: Annotated[str, Form(max_length=16)] = "viewer",
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    form = {"kind": kind, "business_id": business_id, "project_code": project_code, "role": role, "reason": reason}
    raw_id = business_id.strip()
    parsed = int(raw_id) if raw_id.isdigit() and len(raw_id) < 17 else None
    call = service.apply(
        session, principal, ctx.directory, kind=kind, reason=reason,
        project_code=project_code.strip() or None,
        business_id=parsed if kind == service.RequestKind.BUSINESS.value else None,
        role=role if kind == service.RequestKind.PROJECT_ROLE.value else None,
    )
    result = await attempt(request, session, principal, call, action="request.create",
                           target_type="permission_request", project_code=project_code.strip() or None)
    if isinstance(result, FormError):
        return await _page(request, session, ctx, principal, view="mine", page=1, apply_error=result, form=form,
                           status=result.status)
    await session.commit()
    return redirect("/requests?view=mine", flash_key="ui.flash.applied", id=result.id)


async def _decide(request: Request, principal: Principal, session: AsyncSession, ctx: AppContext,
                  request_id: int, note: str, *, approve: bool) -> Response:
    result = await attempt(
        request, session, principal,
        service.decide(session, principal, request_id, approve=approve, note=note),
        action="request.approve" if approve else "request.reject", target_type="permission_request",
        target_id=str(request_id),
    )
    if isinstance(result, FormError):
        return await _page(request, session, ctx, principal, view="todo", page=1, apply_error=result,
                           status=result.status)
    await session.commit()
    key = "ui.flash.approved" if approve else "ui.flash.rejected"
    return redirect("/requests?view=todo", flash_key=key, id=request_id, requester=result.requester)


@router.post("/requests/{request_id}/approve")
async def approve(request: Request, request_id: Annotated[int, Path(ge=1, lt=2**31)], principal: PagePrincipal,
                  session: SessionDep, ctx: CtxDep, note: Annotated[str, Form(max_length=1000)] = "") -> Response:
    return await _decide(request, principal, session, ctx, request_id, note, approve=True)


@router.post("/requests/{request_id}/reject")
async def reject(request: Request, request_id: Annotated[int, Path(ge=1, lt=2**31)], principal: PagePrincipal,
                 session: SessionDep, ctx: CtxDep, note: Annotated[str, Form(max_length=1000)] = "") -> Response:
    return await _decide(request, principal, session, ctx, request_id, note, approve=False)
