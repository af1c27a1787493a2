"""Platform administration: the built-in business directory and local users.

Each page declares the platform action it needs (``business_manage``,
``user_manage``) through ``require``, like the API routes do; the services
check again. Besides adding, admins disable and re-enable accounts, set a
user's password, and edit the maintainers of a built-in business; every form
that changes something asks for confirmation first (``data-confirm``).
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from shoal.api.deps import SESSION_COOKIE, CtxDep, SessionDep
from shoal.api.problems import language_of
from shoal.api.routes.users import forget_gateway_callers
from shoal.business import builtin
from shoal.business.directory import BusinessInfo, find_business
from shoal.context import AppContext
from shoal.core.errors import Conflict
from shoal.core.i18n import translate
from shoal.iam import accounts
from shoal.iam.authz import Action, Principal, require
from shoal.store.models import User
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


async def _maintainers_page(request: Request, session: AsyncSession, ctx: AppContext, principal: Principal,
                            business_id: int, *, error: FormError | None = None, form: dict[str, str] | None = None,
                            status: int = 200) -> Response:
    require(principal, Action.BUSINESS_MANAGE)
    info = await find_business(session, ctx.directory, business_id)
    return render(request, "admin/maintainers.html", {
        "business": info, "writable": ctx.directory.writable, "error": error,
        "form": form or {"maintainers": ", ".join(info.maintainers)},
    }, status=status)


@router.get("/businesses/{business_id}/maintainers")
async def maintainers_form(request: Request, business_id: Annotated[int, Path(ge=1, lt=2**53)],
                           principal: PagePrincipal, session: SessionDep, ctx: CtxDep) -> Response:
    return await _maintainers_page(request, session, ctx, principal, business_id)


@router.post("/businesses/{business_id}/maintainers")
async def set_maintainers(request: Request, business_id: Annotated[int, Path(ge=1, lt=2**53)],
                          principal: PagePrincipal, session: SessionDep, ctx: CtxDep,
                          maintainers: Annotated[str, Form(max_length=4000)] = "") -> Response:
    require(principal, Action.BUSINESS_MANAGE)
    result = await attempt(request, session, principal,
                           builtin.set_maintainers(session, principal, ctx.directory, business_id,
                                                   _names(maintainers)),
                           action="business.set_maintainers", target_type="business", target_id=str(business_id))
    if isinstance(result, FormError):
        if result.status == 404:
            return await _businesses_page(request, session, ctx, principal, error=result, status=404)
        return await _maintainers_page(request, session, ctx, principal, business_id, error=result,
                                       form={"maintainers": maintainers}, status=result.status)
    await session.commit()
    return redirect("/admin/businesses", flash_key="ui.flash.maintainers_saved", id=result.id, name=result.name,
                    names=", ".join(result.maintainers) or "—")


# -- users ------------------------------------------------------------------------------------------------


async def _users_page(request: Request, session: AsyncSession, principal: Principal, *, page: int = 1,
                      error: FormError | None = None, form: dict[str, str] | None = None,
                      status: int = 200) -> Response:
    users = await accounts.list_users(session, principal)
    pager = Pager(page=page, total=len(users))
    return render(request, "admin/users.html", {
        "rows": users[pager.offset:pager.offset + pager.size], "pager": pager, "params": {},
        "error": error, "form": form or {},
        # Who may not be disabled from here: yourself, and the last active admin (the service refuses too).
        "last_admin": _last_active_admin(users),
    }, status=status)


def _last_active_admin(users: list[User]) -> str | None:
    admins = [u.username for u in users if u.is_admin and u.is_active]
    return admins[0] if len(admins) == 1 else None


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


async def _set_active(request: Request, session: AsyncSession, principal: Principal, username: str,
                      active: bool) -> Response:
    verb = "enable" if active else "disable"
    result = await attempt(request, session, principal,
                           accounts.set_user_active(session, principal, username, active),
                           action=f"user.{verb}", target_type="user", target_id=username)
    if isinstance(result, FormError):
        return await _users_page(request, session, principal, error=result, status=result.status)
    await session.commit()
    if not active:
        forget_gateway_callers(request)
    flash_key = "ui.flash.user_enabled" if active else "ui.flash.user_disabled"
    return redirect("/admin/users", flash_key=flash_key, name=result.username)


@router.post("/users/{username}/disable")
async def disable_user(request: Request, username: Annotated[str, Path(min_length=1, max_length=64)],
                       principal: PagePrincipal, session: SessionDep) -> Response:
    return await _set_active(request, session, principal, username, False)


@router.post("/users/{username}/enable")
async def enable_user(request: Request, username: Annotated[str, Path(min_length=1, max_length=64)],
                      principal: PagePrincipal, session: SessionDep) -> Response:
    return await _set_active(request, session, principal, username, True)


async def _password_page(request: Request, session: AsyncSession, principal: Principal, username: str, *,
                         error: FormError | None = None, status: int = 200) -> Response:
    require(principal, Action.USER_MANAGE)
    user = await accounts.get_user(session, username)
    return render(request, "admin/password.html", {"user": user, "error": error}, status=status)


@router.get("/users/{username}/password")
async def password_form(request: Request, username: Annotated[str, Path(min_length=1, max_length=64)],
                        principal: PagePrincipal, session: SessionDep) -> Response:
    return await _password_page(request, session, principal, username)


@router.post("/users/{username}/password")
async def reset_password(request: Request, username: Annotated[str, Path(min_length=1, max_length=64)],
                         principal: PagePrincipal, session: SessionDep,
                         password: Annotated[str, Form(max_length=256)] = "",
                         confirm: Annotated[str, Form(max_length=256)] = "") -> Response:
    require(principal, Action.USER_MANAGE)
    if password != confirm:
        lang = language_of(request)
        error = FormError("error.password_mismatch", translate("error.password_mismatch", lang), None, "confirm",
                          400)
        return await _password_page(request, session, principal, username, error=error, status=400)
    result = await attempt(request, session, principal,
                           accounts.reset_password(session, principal, username, password,
                                                   keep_session=request.cookies.get(SESSION_COOKIE)),
                           action="user.password_reset", target_type="user", target_id=username)
    if isinstance(result, FormError):
        if result.status == 404:
            return await _users_page(request, session, principal, error=result, status=404)
        return await _password_page(request, session, principal, username, error=result, status=result.status)
    await session.commit()
    return redirect("/admin/users", flash_key="ui.flash.password_reset", name=result.username)
