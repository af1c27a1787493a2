"""Projects: the list, creating one, the project page with the enable flow (R1–R4), members.

The project page shows one of four things, decided by the domain services:
- no role in the project: why, and a form to apply for a role (申请权限);
- not enabled, and the user may enable: the businesses they maintain (R2; all
  of them for admins, R3) to bind, or — if there are none — why, a help text
  (查看帮助) and a form to apply for a business right (R3);
- not enabled, and the user may not enable: who can;
- enabled: the overview (binding and a clusters area, R4).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from shoal.api.deps import CtxDep, SessionDep
from shoal.api.problems import language_of
from shoal.business.directory import BusinessInfo, businesses_for
from shoal.context import AppContext
from shoal.core.errors import PermissionDenied
from shoal.core.i18n import translate
from shoal.iam import requests as permission_requests
from shoal.iam.authz import Action, Principal, Role, can
from shoal.projects import service
from shoal.store.models import PermissionRequest, Project
from shoal.web.deps import FormError, PagePrincipal, attempt
from shoal.web.nav import NavItem
from shoal.web.paging import Pager, page_number
from shoal.web.render import redirect, render

__all__ = ["ProjectTab", "nav", "project_tabs", "router"]

router = APIRouter(include_in_schema=False)
nav = (NavItem("ui.nav.projects", "/", "projects", order=10),)

CodePath = Annotated[str, Path(min_length=1, max_length=32)]
ROLES = [r.value for r in Role]


@dataclass(frozen=True)
class ProjectTab:
    """A tab in the project header; later areas (clusters, tasks…) append theirs to :data:`project_tabs`."""

    label_key: str
    suffix: str
    action: Action = Action.PROJECT_VIEW
    #: Only shown once the container service is enabled.
    needs_enabled: bool = False


project_tabs: list[ProjectTab] = [
    ProjectTab("ui.project.tab.overview", ""),
    ProjectTab("ui.project.tab.members", "/members"),
]


def tabs_for(principal: Principal, project: Project) -> list[dict[str, str]]:
    return [
        {"label_key": tab.label_key, "href": f"/projects/{project.code}{tab.suffix}", "suffix": tab.suffix}
        for tab in project_tabs
        if can(principal, tab.action, project) and (project.enabled or not tab.needs_enabled)
    ]


def _managers(project: Project) -> list[str]:
    return sorted(m.user.username for m in project.members if m.role == Role.MANAGER.value)


def _role_of(principal: Principal, project: Project) -> str | None:
    return next((m.role for m in project.members if m.user_id == principal.user_id), None)


# -- the list -------------------------------------------------------------------------------------------


async def _list_page(request: Request, session: AsyncSession, principal: Principal, *, q: str, page: int,
                     create_error: FormError | None = None, form: dict[str, str] | None = None,
                     status: int = 200) -> Response:
    pager = Pager(page=page)
    result = await service.list_projects(session, principal, search=q, limit=pager.size, offset=pager.offset)
    pager = Pager(page=page, total=result.total)
    rows = [{"project": p, "managers": _managers(p), "role": _role_of(principal, p)} for p in result.items]
    return render(request, "projects/list.html", {
        "rows": rows, "q": q, "pager": pager, "params": {"q": q},
        "create_error": create_error, "form": form or {},
    }, status=status)


@router.get("/")
async def project_list(request: Request, principal: PagePrincipal, session: SessionDep,
                       q: Annotated[str, Query(max_length=64)] = "", page: str = "1") -> Response:
    return await _list_page(request, session, principal, q=q.strip(), page=page_number(page))


@router.post("/projects")
async def create_project(
    request: Request, principal: PagePrincipal, session: SessionDep,
    code: Annotated[str, Form(max_length=64)] = "",
    name: Annotated[str, Form(max_length=128)] = "",
    description: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    code = code.strip()
    result = await attempt(request, session, principal,
                           service.create_project(session, principal, code, name, description),
                           action="project.create", target_type="project", target_id=code)
    if isinstance(result, FormError):
        return await _list_page(request, session, principal, q="", page=1, create_error=result,
                                form={"code": code, "name": name, "description": description}, status=result.status)
    await session.commit()
    return redirect(f"/projects/{result.code}", flash_key="ui.flash.project_created", code=result.code)


# -- the project page --------------------------------------------------------------------------------------


async def _my_requests(session: AsyncSession, principal: Principal, *, kind: str,
                       project_code: str | None = None) -> list[PermissionRequest]:
    rows = await permission_requests.list_requests(session, principal, mine=True, limit=200)
    return [r for r in rows if r.kind == kind and (project_code is None or r.project_code == project_code)][:5]


async def _business_names(session: AsyncSession, ctx: AppContext, ids: set[int]) -> dict[int, str]:
    names: dict[int, str] = {}
    for business_id in ids:
        info = await ctx.directory.get(session, business_id)
        if info is not None:
            names[business_id] = info.name
    return names


async def _no_access_page(request: Request, session: AsyncSession, principal: Principal, code: str, *,
                          error: FormError | None = None, form: dict[str, str] | None = None,
                          status: int = 403) -> Response:
    mine = await _my_requests(session, principal, kind=permission_requests.RequestKind.PROJECT_ROLE.value,
                              project_code=code)
    pending = next((r for r in mine if r.status == permission_requests.RequestStatus.PENDING.value), None)
    return render(request, "projects/no_access.html", {
        "code": code, "roles": ROLES, "requests": mine, "pending": pending, "error": error, "form": form or {},
    }, status=status)


async def _project_page(
    request: Request, session: AsyncSession, ctx: AppContext, principal: Principal, code: str, *,
    enable_error: FormError | None = None, apply_error: FormError | None = None,
    form: dict[str, str] | None = None, status: int = 200,
) -> Response:
    try:
        project = await service.get_project(session, principal, code)
    except PermissionDenied:
        return await _no_access_page(request, session, principal, code)
    context: dict[str, Any] = {
        "project": project, "tabs": tabs_for(principal, project), "tab": "", "managers": _managers(project),
        "my_role": _role_of(principal, project), "form": form or {},
        "enable_error": enable_error, "apply_error": apply_error,
    }
    may_enable = can(principal, Action.PROJECT_EDIT, project)
    if project.enabled:
        context["member_count"] = len(project.members)
        context["cluster_count"] = sum([await count(session, project.code) for count in service.CLUSTER_COUNTERS])
        # The clusters area, once installed, adds a project tab; the overview links to it rather than guessing.
        context["clusters_href"] = next((t["href"] for t in context["tabs"] if t["suffix"] == "/clusters"), "")
        context["may_create_cluster"] = can(principal, Action.CLUSTER_CREATE, project)
        context["choices"] = await businesses_for(session, ctx.directory, principal) if may_enable else []
        context["may_rebind"] = may_enable
        return render(request, "projects/overview.html", context, status=status)
    choices: list[BusinessInfo] = []
    directory_items: list[BusinessInfo] = []
    business_requests: list[PermissionRequest] = []
    if may_enable:
        choices = await businesses_for(session, ctx.directory, principal)
        if not choices:
            directory_items = await ctx.directory.all(session)
            business_requests = await _my_requests(session, principal,
                                                   kind=permission_requests.RequestKind.BUSINESS.value)
    names = {b.id: b.name for b in directory_items}
    names.update(await _business_names(session, ctx, {r.business_id for r in business_requests
                                                      if r.business_id is not None} - set(names)))
    context.update({
        "may_enable": may_enable, "choices": choices, "directory_items": directory_items,
        "directory_name": ctx.directory.name, "business_requests": business_requests, "business_names": names,
        "pending_ids": {r.business_id for r in business_requests
                        if r.status == permission_requests.RequestStatus.PENDING.value},
        "is_platform_admin": can(principal, Action.BUSINESS_MANAGE),
    })
    return render(request, "projects/enable.html", context, status=status)


@router.get("/projects/{code}")
async def project_page(request: Request, code: CodePath, principal: PagePrincipal, session: SessionDep,
                       ctx: CtxDep) -> Response:
    return await _project_page(request, session, ctx, principal, code)


def _parse_id(raw: str) -> int | None:
    raw = raw.strip()
    return int(raw) if raw.isdigit() and len(raw) < 17 else None


@router.post("/projects/{code}/enable")
async def enable(request: Request, code: CodePath, principal: PagePrincipal, session: SessionDep, ctx: CtxDep,
                 business_id: Annotated[str, Form(max_length=32)] = "") -> Response:
    parsed = _parse_id(business_id)
    if parsed is None:
        error = FormError("choose_business", _t(request, "ui.enable.choose_first"), None, "business_id", 400)
        return await _project_page(request, session, ctx, principal, code, enable_error=error, status=400)
    result = await attempt(request, session, principal,
                           service.enable_project(session, principal, ctx.directory, code, parsed),
                           action="project.enable", target_type="project", target_id=code, project_code=code)
    if isinstance(result, FormError):
        return await _project_page(request, session, ctx, principal, code, enable_error=result,
                                   status=result.status)
    await session.commit()
    return redirect(f"/projects/{code}", flash_key="ui.flash.enabled", name=result.business_name,
                    id=result.business_id)


@router.post("/projects/{code}/apply-business")
async def apply_business(request: Request, code: CodePath, principal: PagePrincipal, session: SessionDep,
                         ctx: CtxDep, business_id: Annotated[str, Form(max_length=32)] = "",
                         reason: Annotated[str, Form(max_length=2000)] = "") -> Response:
    form = {"business_id": business_id, "reason": reason}
    parsed = _parse_id(business_id)
    if parsed is None:
        error = FormError("choose_business", _t(request, "ui.apply.choose_business"), None, "business_id", 400)
        return await _project_page(request, session, ctx, principal, code, apply_error=error, form=form,
                                   status=400)
    result = await attempt(
        request, session, principal,
        permission_requests.apply(session, principal, ctx.directory, kind="business", reason=reason,
                                  project_code=code, business_id=parsed),
        action="request.create", target_type="permission_request", project_code=code,
    )
    if isinstance(result, FormError):
        return await _project_page(request, session, ctx, principal, code, apply_error=result, form=form,
                                   status=result.status)
    await session.commit()
    return redirect(f"/projects/{code}", flash_key="ui.flash.applied", id=result.id)


@router.post("/projects/{code}/apply-role")
async def apply_role(request: Request, code: CodePath, principal: PagePrincipal, session: SessionDep, ctx: CtxDep,
                     role: Annotated[str, Form(max_length=16)] = "viewer",
                     reason: Annotated[str, Form(max_length=2000)] = "") -> Response:
    result = await attempt(
        request, session, principal,
        permission_requests.apply(session, principal, ctx.directory, kind="project_role", reason=reason,
                                  project_code=code, role=role),
        action="request.create", target_type="permission_request", project_code=code,
    )
    if isinstance(result, FormError):
        form = {"role": role, "reason": reason}
        try:
            await service.get_project(session, principal, code)
        except PermissionDenied:
            return await _no_access_page(request, session, principal, code, error=result, form=form,
                                         status=result.status)
        return await _project_page(request, session, ctx, principal, code, apply_error=result, form=form,
                                   status=result.status)
    await session.commit()
    return redirect(f"/projects/{code}", flash_key="ui.flash.applied", id=result.id)


def _t(request: Request, key: str) -> str:
    return translate(key, language_of(request))


# -- members -------------------------------------------------------------------------------------------


async def _members_page(request: Request, session: AsyncSession, principal: Principal, code: str, *,
                        error: FormError | None = None, form: dict[str, str] | None = None,
                        status: int = 200) -> Response:
    try:
        project = await service.get_project(session, principal, code)
    except PermissionDenied:
        return await _no_access_page(request, session, principal, code)
    members = await service.list_members(session, principal, code)
    return render(request, "projects/members.html", {
        "project": project, "members": members, "tabs": tabs_for(principal, project), "tab": "/members",
        "roles": ROLES, "may_edit": can(principal, Action.PROJECT_EDIT, project),
        "error": error, "form": form or {},
    }, status=status)


@router.get("/projects/{code}/members")
async def members_page(request: Request, code: CodePath, principal: PagePrincipal,
                       session: SessionDep) -> Response:
    return await _members_page(request, session, principal, code)


@router.post("/projects/{code}/members")
async def add_member(request: Request, code: CodePath, principal: PagePrincipal, session: SessionDep,
                     username: Annotated[str, Form(max_length=64)] = "",
                     role: Annotated[str, Form(max_length=16)] = "viewer") -> Response:
    username = username.strip()
    result = await attempt(request, session, principal, service.add_member(session, principal, code, username, role),
                           action="project.member.add", target_type="user", target_id=username, project_code=code)
    if isinstance(result, FormError):
        return await _members_page(request, session, principal, code, error=result,
                                   form={"username": username, "role": role}, status=result.status)
    await session.commit()
    return redirect(f"/projects/{code}/members", flash_key="ui.flash.member_saved", name=username,
                    role=_t(request, f"ui.role.{role}"))


@router.post("/projects/{code}/members/{username}/remove")
async def remove_member(request: Request, code: CodePath, principal: PagePrincipal, session: SessionDep,
                        username: Annotated[str, Path(min_length=1, max_length=64)]) -> Response:
    result = await attempt(request, session, principal, service.remove_member(session, principal, code, username),
                           action="project.member.remove", target_type="user", target_id=username,
                           project_code=code)
    if isinstance(result, FormError):
        return await _members_page(request, session, principal, code, error=result, status=result.status)
    await session.commit()
    return redirect(f"/projects/{code}/members", flash_key="ui.flash.member_removed", name=username)
