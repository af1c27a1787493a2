"""The role table and the one authorisation function."""

from __future__ import annotations

import pytest

from shoal.core.errors import PermissionDenied
from shoal.iam.authz import Action, Principal, ProjectRef, Role, can, require, visible_project_codes

P = ProjectRef("demo")
OTHER = ProjectRef("other")


def who(role: Role | None = None, admin: bool = False) -> Principal:
    return Principal(user_id=1, username="u", is_admin=admin, roles={"demo": role} if role else {})


@pytest.mark.parametrize(
    ("role", "action", "allowed"),
    [
        (Role.VIEWER, Action.PROJECT_VIEW, True),
        (Role.VIEWER, Action.CLUSTER_VIEW, True),
        (Role.VIEWER, Action.CLUSTER_USE, False),
        (Role.VIEWER, Action.PROJECT_EDIT, False),
        (Role.DEVELOPER, Action.CLUSTER_USE, True),
        (Role.DEVELOPER, Action.CLUSTER_MANAGE, False),
        (Role.DEVELOPER, Action.CLOUD_ACCOUNT_MANAGE, False),
        (Role.MANAGER, Action.CLUSTER_MANAGE, True),
        (Role.MANAGER, Action.CLUSTER_DELETE, True),
        (Role.MANAGER, Action.CLOUD_ACCOUNT_MANAGE, True),
        (Role.MANAGER, Action.PROJECT_EDIT, True),
        (Role.MANAGER, Action.CONSOLE_AUDIT_VIEW, True),
        (Role.DEVELOPER, Action.CONSOLE_AUDIT_VIEW, False),
        (Role.VIEWER, Action.CONSOLE_AUDIT_VIEW, False),
    ],
)
def test_role_table(role: Role, action: Action, allowed: bool) -> None:
    assert can(who(role), action, P) is allowed
    assert can(who(role), action, OTHER) is False


def test_admin_anonymous_and_platform_actions() -> None:
    assert can(who(admin=True), Action.CLUSTER_DELETE, OTHER)
    assert can(who(admin=True), Action.USER_MANAGE)
    assert not can(who(Role.MANAGER), Action.USER_MANAGE)
    assert not can(None, Action.PROJECT_VIEW, P)
    assert can(who(), Action.PROJECT_CREATE)
    with pytest.raises(PermissionDenied) as info:
        require(who(Role.VIEWER), Action.CLUSTER_MANAGE, P)
    assert info.value.params["action"] == "cluster_manage"


def test_visible_projects() -> None:
    assert visible_project_codes(who(admin=True)) is None
    assert visible_project_codes(who(Role.VIEWER)) == {"demo"}
    assert visible_project_codes(who()) == set()
