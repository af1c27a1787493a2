"""The audit log page: who did what to which target, with filters and pages.

Scoping is the audit service's (admins see everything; others see their own
actions and those in projects they may view).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from shoal.api.deps import SessionDep
from shoal.audit import service
from shoal.web.deps import PagePrincipal
from shoal.web.nav import NavItem
from shoal.web.paging import Pager, page_number
from shoal.web.render import render

__all__ = ["nav", "router"]

router = APIRouter(include_in_schema=False)
nav = (NavItem("ui.nav.audit", "/audit", "audit", order=30),)

OUTCOMES = ("success", "failure", "denied")


@router.get("/audit")
async def audit_page(
    request: Request, principal: PagePrincipal, session: SessionDep,
    user: Annotated[str, Query(max_length=64)] = "",
    action: Annotated[str, Query(max_length=64)] = "",
    project: Annotated[str, Query(max_length=32)] = "",
    outcome: Annotated[str, Query(max_length=16)] = "",
    page: str = "1",
) -> Response:
    params = {"user": user.strip(), "action": action.strip(), "project": project.strip(),
              "outcome": outcome if outcome in OUTCOMES else ""}
    flt = service.AuditFilter(username=params["user"] or None, action=params["action"] or None,
                              project_code=params["project"] or None, outcome=params["outcome"] or None)
    total = await service.count(session, principal, flt)
    pager = Pager(page=page_number(page), total=total)
    rows = await service.query(session, principal, flt, limit=pager.size, offset=pager.offset)
    return render(request, "audit/list.html", {
        "rows": rows, "pager": pager, "params": params, "outcomes": OUTCOMES,
        "filtered": any(params.values()),
    })
