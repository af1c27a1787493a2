"""The one authorisation function and the role table behind it.

Every permission decision in Shoal — API routes, web pages, CLI server-side
commands, task operations — is ``can(principal, action, resource)`` or its
raising twin ``require``. Routes declare the action they need; list queries use
``visible_project_codes`` so scoping lives in the query layer, not in templates.

Action names follow the original platform (BCS IAM) so operators recognise them;
the table is documented in docs/security.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from shoal.core.errors import PermissionDenied

__all__ = [
    "ROLE_ACTIONS",
    "Action",
    "Principal",
    "ProjectRef",
    "ProjectScoped",
    "Role",
    "can",
    "require",
    "visible_project_codes",
]


class Role(StrEnum):
    VIEWER = "viewer"
    DEVELOPER = "developer"
    MANAGER = "manager"


class Action(StrEnum):
    # project-scoped actions (BCS IAM names)
    PROJECT_VIEW = "project_view"
    PROJECT_EDIT = "project_edit"
    CLUSTER_CREATE = "cluster_create"
    CLUSTER_VIEW = "cluster_view"
    CLUSTER_USE = "cluster_use"
    CLUSTER_MANAGE = "cluster_manage"
    CLUSTER_DELETE = "cluster_delete"
    CLOUD_ACCOUNT_USE = "cloud_account_use"
    CLOUD_ACCOUNT_MANAGE = "cloud_account_manage"
    #: Read the lines typed in a project's web consoles (``console.command`` audit entries): they may
    #: hold secrets (``--from-literal=password=…``), so viewers and developers see only their own.
    CONSOLE_AUDIT_VIEW = "console_audit_view"
    # platform actions
    PROJECT_CREATE = "project_create"
    USER_MANAGE = "user_manage"
    BUSINESS_MANAGE = "business_manage"
    AUDIT_VIEW_ALL = "audit_view_all"


_VIEWER = frozenset({Action.PROJECT_VIEW, Action.CLUSTER_VIEW})
_DEVELOPER = _VIEWER | {Action.CLUSTER_USE, Action.CLOUD_ACCOUNT_USE}
_MANAGER = _DEVELOPER | {
    Action.PROJECT_EDIT,
    Action.CLUSTER_CREATE,
    Action.CLUSTER_MANAGE,
    Action.CLUSTER_DELETE,
    Action.CLOUD_ACCOUNT_MANAGE,
    Action.CONSOLE_AUDIT_VIEW,
}

ROLE_ACTIONS: dict[Role, frozenset[Action]] = {
    Role.VIEWER: _VIEWER,
    Role.DEVELOPER: frozenset(_DEVELOPER),
    Role.MANAGER: frozenset(_MANAGER),
}

#: Platform actions any signed-in user has: creating a project makes them its manager.
_EVERYONE = frozenset({Action.PROJECT_CREATE})


class ProjectScoped(Protocol):
    """Anything that belongs to a project: a project itself, a cluster, a task…"""

    @property
    def project_code(self) -> str: ...


@dataclass(frozen=True)
class ProjectRef:
    """A project named by code, for decisions about things that only carry the code."""

    project_code: str


@dataclass(frozen=True)
class Principal:
    """Who is asking: loaded once per request with all their project roles."""

    user_id: int
    username: str
    is_admin: bool = False
    roles: dict[str, Role] = field(default_factory=dict)
    via: str = "api"
    source: str = ""

    def role_in(self, project_code: str) -> Role | None:
        return self.roles.get(project_code)


def can(principal: Principal | None, action: Action, resource: ProjectScoped | None = None) -> bool:
    """Decide whether ``principal`` may perform ``action`` on ``resource``.

    ``resource`` is None for platform-wide actions. Admins may do everything.
    """
    if principal is None:
        return False
    if principal.is_admin:
        return True
    if action in _EVERYONE:
        return True
    if resource is None:
        return False
    role = principal.role_in(resource.project_code)
    return role is not None and action in ROLE_ACTIONS[role]


def require(principal: Principal | None, action: Action, resource: ProjectScoped | None = None) -> None:
    """Raise :class:`PermissionDenied` naming the missing action unless ``can`` says yes."""
    if can(principal, action, resource):
        return
    if resource is None:
        raise PermissionDenied("error.permission_denied_platform", error_code="error.permission_denied",
                               action=action.value)
    raise PermissionDenied("error.permission_denied", hint="hint.apply_permission", action=action.value,
                           target=resource.project_code)


def visible_project_codes(principal: Principal) -> set[str] | None:
    """Projects whose rows ``principal`` may read; None means all (admin)."""
    if principal.is_admin:
        return None
    return {code for code, role in principal.roles.items() if Action.PROJECT_VIEW in ROLE_ACTIONS[role]}
