"""Projects, members, and enabling the container service (R1–R4)."""

from __future__ import annotations

from fastapi import APIRouter, Path, Query

from shoal.api.deps import CtxDep, CurrentPrincipal, SessionDep
from shoal.api.schemas import (
    BusinessChoices,
    BusinessPublic,
    EnableBody,
    MemberAdd,
    MemberPublic,
    Page,
    ProjectCreate,
    ProjectPublic,
)
from shoal.business.directory import businesses_for
from shoal.iam.authz import Principal
from shoal.projects import service
from shoal.store.models import Project

router = APIRouter(prefix="/api/v1/projects", tags=["projects"])
CodePath = Path(min_length=1, max_length=32)


def project_public(project: Project, principal: Principal) -> ProjectPublic:
    role = next((m.role for m in project.members if m.user_id == principal.user_id), None)
    return ProjectPublic(
        code=project.code, name=project.name, description=project.description, enabled=project.enabled,
        business_id=project.business_id, business_name=project.business_name, enabled_by=project.enabled_by,
        enabled_at=project.enabled_at, created_by=project.created_by, created_at=project.created_at,
        managers=sorted(m.user.username for m in project.members if m.role == "manager"),
        my_role=role,
    )


@router.get("", response_model=Page[ProjectPublic], summary="List the projects you may view")
async def list_projects(
    principal: CurrentPrincipal, session: SessionDep,
    search: str = Query(default="", max_length=64), limit: int = Query(default=50, ge=1, le=500),
    offset: int = Query(default=0, ge=0, le=2**31),
) -> Page[ProjectPublic]:
    page = await service.list_projects(session, principal, search=search, limit=limit, offset=offset)
    return Page(items=[project_public(p, principal) for p in page.items], total=page.total, limit=limit,
                offset=offset)


@router.post("", response_model=ProjectPublic, status_code=201, summary="Create a project (you become its manager)")
async def create_project(body: ProjectCreate, principal: CurrentPrincipal, session: SessionDep) -> ProjectPublic:
    project = await service.create_project(session, principal, body.code, body.name, body.description)
    return project_public(project, principal)


@router.get("/{code}", response_model=ProjectPublic, summary="Show a project")
async def get_project(principal: CurrentPrincipal, session: SessionDep, code: str = CodePath) -> ProjectPublic:
    return project_public(await service.get_project(session, principal, code), principal)


@router.get("/{code}/businesses", response_model=BusinessChoices,
            summary="Businesses you may bind this project to (R2/R3)")
async def business_choices(principal: CurrentPrincipal, session: SessionDep, ctx: CtxDep,
                           code: str = CodePath) -> BusinessChoices:
    await service.get_project(session, principal, code)
    items = await businesses_for(session, ctx.directory, principal)
    return BusinessChoices(
        items=[BusinessPublic(id=b.id, name=b.name, maintainers=list(b.maintainers)) for b in items],
        directory=ctx.directory.name, is_admin=principal.is_admin,
    )


@router.post("/{code}/enable", response_model=ProjectPublic,
             summary="Bind a business and enable the container service (R4)")
async def enable_project(body: EnableBody, principal: CurrentPrincipal, session: SessionDep, ctx: CtxDep,
                         code: str = CodePath) -> ProjectPublic:
    project = await service.enable_project(session, principal, ctx.directory, code, body.business_id)
    return project_public(project, principal)


@router.get("/{code}/members", response_model=list[MemberPublic], summary="List project members")
async def list_members(principal: CurrentPrincipal, session: SessionDep, code: str = CodePath) -> list[MemberPublic]:
    members = await service.list_members(session, principal, code)
    return [MemberPublic(username=m.user.username, role=m.role) for m in members]


@router.post("/{code}/members", response_model=list[MemberPublic], status_code=201,
             summary="Add a member or change their role")
async def add_member(body: MemberAdd, principal: CurrentPrincipal, session: SessionDep,
                     code: str = CodePath) -> list[MemberPublic]:
    project = await service.add_member(session, principal, code, body.username, body.role)
    return [MemberPublic(username=m.user.username, role=m.role) for m in project.members]


@router.delete("/{code}/members/{username}", response_model=list[MemberPublic], summary="Remove a member")
async def remove_member(principal: CurrentPrincipal, session: SessionDep, code: str = CodePath,
                        username: str = Path(min_length=1, max_length=64)) -> list[MemberPublic]:
    project = await service.remove_member(session, principal, code, username)
    return [MemberPublic(username=m.user.username, role=m.role) for m in project.members]
