"""Platform administration: the built-in business directory and local users.

Each page declares the platform action it needs (``business_manage``,
``user_manage``) through ``require``, like the API routes do; the services
check again.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from shoal.api.deps import CtxDep, SessionDep
from shoal.api.problems import language_of
from shoal.business import builtin
from shoal.business.directory import BusinessInfo
from shoal.context import AppContext
from shoal.core.errors import Conflict
from shoal.core.i18n import translate
from shoal.iam import accounts
from shoal.iam.authz import Action, Principal, require
from shoal.web.deps import FormError, PagePrincipal, attempt
from shoal.web.nav import NavItem
from shoal.web.paging import Pager, page_number
from shoal.web.render import redirect, render

__all__ = ["nav", "router"]

router = APIRouter(prefix="/admin", include_in_schema=False)
nav = (
    NavItem("ui.nav.businesses", "/admin/businesses", "business", order=80, action=Action.BUSINESS_MANAGE,
            section_key="ui.nav.section.admin"),
    NavItem("ui.nav.users", "/admin/users", "users", order=90, action=Action.USER_MANAGE,
            section_key="ui.nav.section.admin"),
)

_SPLIT = re.compile(r"[\s,;，；]+")


def _names(raw: str) -> list[str]:
    return [n for n in _SPLIT.split(raw.strip()) if n]


# -- businesses ------------------------------------------------------------------------------------------


async def _businesses_page(request: Request, session: AsyncSession, ctx: AppContext, principal: Principal, *,
                           page: int = 1, error: FormError | None = None, form: dict[str, str] | None = None,
                           status: int = 200) -> Response:
    require(principal, Action.BUSINESS_MANAGE)
    items = await ctx.directory.all(session)
    pager = Pager(page=page, total=len(items))
    return render(request, "admin/businesses.html", {
        "rows": items[pager.offset:pager.offset + pager.size], "pager": pager, "params": {},
        "writable": ctx.directory.writable, "directory_name": ctx.directory.name,
        "error": error, "form": form or {},
    }, status=status)


@router.get("/businesses")
async def businesses(request: Request, principal: PagePrincipal, session: SessionDep, ctx: CtxDep,
                     page: str = "1") -> Response:
    return await _businesses_page(request, session, ctx, principal, page=page_number(page))


async def _require_writable(ctx: AppContext) -> None:
    if not ctx.directory.writable:
        raise Conflict("error.business_readonly")


@router.post("/businesses")
async def add_business(request: Request, principal: PagePrincipal, session: SessionDep, ctx: CtxDep,
                       id: Annotated[str, Form(max_length=32)] = "",
                       name: Annotated[str, Form(max_length=256)] = "",
                       maintainers: Annotated[str, Form(max_length=4000)] = "") -> Response:
    require(principal, Action.BUSINESS_MANAGE)
    form = {"id": id, "name": name, "maintainers": maintainers}
    raw = id.strip()
    if not (raw.isdigit() and len(raw) < 17):
        lang = language_of(request)
        error = FormError("error.business_id", translate("error.business_id", lang, value=raw), None, "id", 400)
        return await _businesses_page(request, session, ctx, principal, error=error, form=form, status=400)

    async def add() -> BusinessInfo:
        await _require_writable(ctx)
        return await builtin.add_business(session, principal, int(raw), name, _names(maintainers))

    result = await attempt(request, session, principal, add(), action="business.create", target_type="business",
                           target_id=raw)
    if isinstance(result, FormError):
        return await _businesses_page(request, session, ctx, principal, error=result, form=form,
                                      status=result.status)
    await session.commit()
    return redirect("/admin/businesses", flash_key="ui.flash.business_added", id=result.id, name=result.name)


@router.post("/businesses/{business_id}/remove")
async def remove_business(request: Request, business_id: Annotated[int, Path(ge=1, lt=2**53)],
                          principal: PagePrincipal, session: SessionDep, ctx: CtxDep) -> Response:
    require(principal, Action.BUSINESS_MANAGE)

    async def remove() -> None:
        await _require_writable(ctx)
        await builtin.remove_business(session, principal, business_id)

    result = await attempt(request, session, principal, remove(), action="business.delete",
                           target_type="business", target_id=str(business_id))
    if isinstance(result, FormError):
        return await _businesses_page(request, session, ctx, principal, error=result, status=result.status)
    await session.commit()
    return redirect("/admin/businesses", flash_key="ui.flash.business_removed", id=business_id)


# -- users ------------------------------------------------------------------------------------------------


async def _users_page(request: Request, session: AsyncSession, principal: Principal, *, page: int = 1,
                      error: FormError | None = None, form: dict[str, str] | None = None,
                      status: int = 200) -> Response:
    users = await accounts.list_users(session, principal)
    pager = Pager(page=page, total=len(users))
    return render(request, "admin/users.html", {
        "rows": users[pager.offset:pager.offset + pager.size], "pager": pager, "params": {},
        "error": error, "form": form or {},
    }, status=status)


@router.get("/users")
async def users(request: Request, principal: PagePrincipal, session: SessionDep, page: str = "1") -> Response:
    return await _users_page(request, session, principal, page=page_number(page))


@router.post("/users")
async def create_user(request: Request, principal: PagePrincipal, session: SessionDep,
                      username: Annotated[str, Form(max_length=64)] = "",
                      display_name: Annotated[str, Form(max_length=128)] = "",
                      password: Annotated[str, Form(max_length=256)] = "",
                      is_admin: Annotated[str, Form(max_length=8)] = "") -> Response:
    username = username.strip()
    result = await attempt(
        request, session, principal,
        accounts.create_user(session, principal, username, password, is_admin=bool(is_admin),
                             display_name=display_name.strip()),
        action="user.create", target_type="user", target_id=username,
    )
    if isinstance(result, FormError):
        form = {"username": username, "display_name": display_name, "is_admin": is_admin}
        return await _users_page(request, session, principal, error=result, form=form, status=result.status)
    await session.commit()
    return redirect("/admin/users", flash_key="ui.flash.user_created", name=result.username)
