"""Create, list and enable projects; manage their members.

Called by API routes, web pages and the CLI alike. Enabling (R1–R4) binds a
project to one business that the actor maintains (admins: any business) and
makes the binder a project manager.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from shoal.audit import service as audit
from shoal.business.directory import BusinessDirectory, find_business, maintains
from shoal.core.errors import Conflict, Invalid, NotFound, PermissionDenied
from shoal.iam.accounts import get_user
from shoal.iam.authz import Action, Principal, Role, can, require, visible_project_codes
from shoal.store.models import Project, ProjectMember
from shoal.store.types import utcnow

__all__ = [
    "CLUSTER_COUNTERS",
    "ProjectPage",
    "add_member",
    "create_project",
    "enable_project",
    "find_project",
    "get_project",
    "list_members",
    "list_projects",
    "remove_member",
]

CODE_RE = re.compile(r"^[a-z][a-z0-9-]{1,31}$")

#: Later capabilities register how many clusters a project has, so rebinding can be refused.
CLUSTER_COUNTERS: list[Callable[[AsyncSession, str], Awaitable[int]]] = []


@dataclass(frozen=True)
class ProjectPage:
    items: list[Project]
    total: int


def _check_name(name: str) -> str:
    name = name.strip()
    if not 2 <= len(name) <= 64:
        raise Invalid("error.project_name", field="name")
    return name


async def find_project(session: AsyncSession, code: str) -> Project:
    """Look a project up by code without a permission check (callers decide what it is for)."""
    project = await session.scalar(select(Project).where(Project.code == code))
    if project is None:
        raise NotFound("error.project_not_found", code=code)
    return project


async def create_project(
    session: AsyncSession, actor: Principal, code: str, name: str, description: str = ""
) -> Project:
    require(actor, Action.PROJECT_CREATE)
    if not CODE_RE.match(code):
        raise Invalid("error.project_code", hint="hint.project_code", field="code", value=code)
    name = _check_name(name)
    if len(description) > 1000:
        raise Invalid("error.description_long", field="description", max=1000)
    if await session.scalar(select(Project.id).where(Project.code == code)) is not None:
        raise Conflict("error.project_exists", code=code)
    project = Project(code=code, name=name, description=description, created_by=actor.username)
    project.members.append(ProjectMember(user_id=actor.user_id, role=Role.MANAGER.value))
    session.add(project)
    await session.flush()
    await session.refresh(project, ["members"])
    await audit.record(session, actor, "project.create", target_type="project", target_id=code,
                       project_code=code, detail={"name": name})
    return project


async def get_project(session: AsyncSession, actor: Principal, code: str) -> Project:
    project = await find_project(session, code)
    require(actor, Action.PROJECT_VIEW, project)
    return project


async def list_projects(
    session: AsyncSession, actor: Principal, *, search: str = "", limit: int = 50, offset: int = 0
) -> ProjectPage:
    stmt = select(Project)
    codes = visible_project_codes(actor)
    if codes is not None:
        stmt = stmt.where(Project.code.in_(codes))
    if search:
        pattern = f"%{search.strip()}%"
        stmt = stmt.where(or_(Project.code.ilike(pattern), Project.name.ilike(pattern)))
    total = int(await session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    rows = await session.scalars(stmt.order_by(Project.code).limit(limit).offset(offset))
    return ProjectPage(items=list(rows.all()), total=total)


async def _cluster_count(session: AsyncSession, code: str) -> int:
    return sum([await counter(session, code) for counter in CLUSTER_COUNTERS])


async def enable_project(
    session: AsyncSession, actor: Principal, directory: BusinessDirectory, code: str, business_id: int
) -> Project:
    """Bind ``code`` to a business and enable the container service (R2–R4)."""
    project = await find_project(session, code)
    require(actor, Action.PROJECT_EDIT, project)
    business = await find_business(session, directory, business_id)
    if not await maintains(session, directory, actor, business_id):
        raise PermissionDenied("error.not_maintainer", hint="hint.apply_business",
                               id=business_id, name=business.name)
    if project.enabled and project.business_id != business_id:
        clusters = await _cluster_count(session, code)
        if clusters:
            raise Conflict("error.rebind_with_clusters", hint="hint.rebind", code=code, count=clusters)
    previous = project.business_id
    project.business_id = business.id
    project.business_name = business.name
    project.enabled = True
    project.enabled_by = actor.username
    project.enabled_at = utcnow()
    await _upsert_member(session, project, actor.user_id, Role.MANAGER)
    await audit.record(session, actor, "project.enable", target_type="project", target_id=code,
                       project_code=code, detail={"business_id": business.id, "previous": previous})
    return project


async def _upsert_member(session: AsyncSession, project: Project, user_id: int, role: Role) -> None:
    member = next((m for m in project.members if m.user_id == user_id), None)
    if member is None:
        project.members.append(ProjectMember(user_id=user_id, role=role.value))
    else:
        member.role = role.value
    await session.flush()
    await session.refresh(project, ["members"])


async def grant_role(session: AsyncSession, project: Project, username: str, role: Role) -> None:
    """Give ``username`` ``role`` in ``project``; callers have checked the right to do so."""
    user = await get_user(session, username)
    await _upsert_member(session, project, user.id, role)


async def add_member(session: AsyncSession, actor: Principal, code: str, username: str, role: str) -> Project:
    project = await find_project(session, code)
    require(actor, Action.PROJECT_EDIT, project)
    try:
        parsed = Role(role)
    except ValueError as e:
        raise Invalid("error.bad_role", field="role", value=role) from e
    await grant_role(session, project, username, parsed)
    await audit.record(session, actor, "project.member.add", target_type="user", target_id=username,
                       project_code=code, detail={"role": parsed.value})
    return project


async def remove_member(session: AsyncSession, actor: Principal, code: str, username: str) -> Project:
    project = await find_project(session, code)
    require(actor, Action.PROJECT_EDIT, project)
    user = await get_user(session, username)
    member = next((m for m in project.members if m.user_id == user.id), None)
    if member is None:
        raise NotFound("error.member_not_found", name=username, code=code)
    managers = [m for m in project.members if m.role == Role.MANAGER.value]
    if member.role == Role.MANAGER.value and len(managers) == 1:
        raise Conflict("error.last_manager", hint="hint.last_manager", code=code)
    project.members.remove(member)
    await session.flush()
    await session.refresh(project, ["members"])
    await audit.record(session, actor, "project.member.remove", target_type="user", target_id=username,
                       project_code=code)
    return project


async def list_members(session: AsyncSession, actor: Principal, code: str) -> list[ProjectMember]:
    project = await get_project(session, actor, code)
    return sorted(project.members, key=lambda m: m.user.username)


async def count_visible(session: AsyncSession, actor: Principal) -> int:
    codes = visible_project_codes(actor)
    stmt = select(func.count()).select_from(Project)
    if codes is not None:
        stmt = stmt.where(Project.code.in_(codes))
    return int(await session.scalar(stmt) or 0)


def may_edit(actor: Principal, project: Project) -> bool:
    return can(actor, Action.PROJECT_EDIT, project)
