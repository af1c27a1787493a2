"""Every API route refuses an anonymous caller (401) and a user without the right (403).

Every route the app serves under /api/ must be covered: by a row of the tables
below, or by a ``PERMISSION_ROUTES`` set of (method, template) in the test module
of the capability that owns it (which then tests those refusals itself).
``test_table_covers_every_api_route`` fails for a route nobody covers.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import httpx
import pytest

from shoal.api.app import create_app
from shoal.context import AppContext
from tests.support.api import make_user

PUBLIC = {("POST", "/api/v1/auth/login"), ("POST", "/api/v1/auth/token")}

# (method, route template, concrete path, body, status for an outsider, what the outsider must not see)
REFUSALS: list[tuple[str, str, str, dict[str, Any] | None, int]] = [
    ("GET", "/api/v1/users", "/api/v1/users", None, 403),
    ("POST", "/api/v1/users", "/api/v1/users", {"username": "mallory", "password": "password-1"}, 403),
    ("GET", "/api/v1/tokens", "/api/v1/tokens?user=admin", None, 403),
    ("POST", "/api/v1/tokens", "/api/v1/tokens", {"username": "admin"}, 403),
    ("DELETE", "/api/v1/tokens/{token_id}", "/api/v1/tokens/1", None, 403),
    ("POST", "/api/v1/users/{username}/disable", "/api/v1/users/bob/disable", None, 403),
    ("POST", "/api/v1/users/{username}/enable", "/api/v1/users/bob/enable", None, 403),
    ("PUT", "/api/v1/users/{username}/password", "/api/v1/users/admin/password", {"password": "taken-over-1"}, 403),
    ("GET", "/api/v1/projects/{code}", "/api/v1/projects/secret", None, 403),
    ("GET", "/api/v1/projects/{code}/businesses", "/api/v1/projects/secret/businesses", None, 403),
    ("POST", "/api/v1/projects/{code}/enable", "/api/v1/projects/secret/enable", {"business_id": 100}, 403),
    ("GET", "/api/v1/projects/{code}/members", "/api/v1/projects/secret/members", None, 403),
    ("POST", "/api/v1/projects/{code}/members", "/api/v1/projects/secret/members",
     {"username": "eve", "role": "manager"}, 403),
    ("DELETE", "/api/v1/projects/{code}/members/{username}", "/api/v1/projects/secret/members/admin", None, 403),
    ("POST", "/api/v1/businesses", "/api/v1/businesses", {"id": 300, "name": "x"}, 403),
    ("DELETE", "/api/v1/businesses/{business_id}", "/api/v1/businesses/100", None, 403),
    ("PUT", "/api/v1/businesses/{business_id}/maintainers", "/api/v1/businesses/100/maintainers",
     {"maintainers": ["eve"]}, 403),
    ("GET", "/api/v1/permission-requests/{request_id}", "/api/v1/permission-requests/1", None, 404),
    ("POST", "/api/v1/permission-requests/{request_id}/approve", "/api/v1/permission-requests/1/approve", {}, 403),
    ("POST", "/api/v1/permission-requests/{request_id}/reject", "/api/v1/permission-requests/1/reject", {}, 403),
]
# Routes every signed-in user may call; their answers are scoped to what the caller may see.
SCOPED = [
    ("GET", "/api/v1/auth/me", "/api/v1/auth/me", None),
    ("POST", "/api/v1/auth/logout", "/api/v1/auth/logout", None),
    ("GET", "/api/v1/projects", "/api/v1/projects", None),
    ("POST", "/api/v1/projects", "/api/v1/projects", {"code": "eves", "name": "Eve's"}),
    ("GET", "/api/v1/businesses", "/api/v1/businesses", None),
    ("GET", "/api/v1/permission-requests", "/api/v1/permission-requests", None),
    ("POST", "/api/v1/permission-requests", "/api/v1/permission-requests",
     {"kind": "project_role", "project_code": "secret", "role": "viewer", "reason": "let me in"}),
    ("GET", "/api/v1/audit", "/api/v1/audit", None),
    ("GET", "/api/v1/account", "/api/v1/account", None),
    ("PUT", "/api/v1/account/password", "/api/v1/account/password",
     {"current_password": "password-123", "new_password": "password-456"}),
    ("PUT", "/api/v1/account/language", "/api/v1/account/language", {"language": "en"}),
]


def _declared_elsewhere() -> set[tuple[str, str]]:
    tests_root = Path(__file__).resolve().parents[1]
    declared: set[tuple[str, str]] = set()
    for path in sorted(tests_root.rglob("test_*.py")):
        if path == Path(__file__).resolve() or "PERMISSION_ROUTES" not in path.read_text():
            continue
        module = importlib.import_module(".".join(path.relative_to(tests_root.parent).with_suffix("").parts))
        declared |= set(module.PERMISSION_ROUTES)
    return declared


def test_table_covers_every_api_route(ctx: AppContext) -> None:
    app = create_app(ctx, with_web=False)
    served = {(method.upper(), path) for path, ops in app.openapi()["paths"].items() if path.startswith("/api/")
              for method in ops}
    named = PUBLIC | {(m, t) for m, t, *_ in REFUSALS} | {(m, t) for m, t, *_ in SCOPED} | _declared_elsewhere()
    assert served - named == set(), "add these routes to the permission table"
    assert named - served == set(), "the table names routes that no longer exist"


@pytest.fixture
async def world(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> dict[str, str]:
    """A project 'secret' bound to business 100 with a pending request by bob; eve has no rights."""
    await client.post("/api/v1/businesses", json={"id": 100, "name": "Biz", "maintainers": ["admin"]},
                      headers=admin_headers)
    await client.post("/api/v1/projects", json={"code": "secret", "name": "Secret"}, headers=admin_headers)
    await client.post("/api/v1/projects/secret/enable", json={"business_id": 100}, headers=admin_headers)
    bob = await make_user(client, admin_headers, "bob")
    r = await client.post("/api/v1/permission-requests", headers=bob,
                          json={"kind": "project_role", "project_code": "secret", "role": "viewer", "reason": "please"})
    assert r.json()["id"] == 1
    return await make_user(client, admin_headers, "eve")


@pytest.mark.parametrize(("method", "template", "path", "body", "status"), REFUSALS,
                         ids=[f"{m} {t}" for m, t, *_ in REFUSALS])
async def test_outsider_is_refused(client: httpx.AsyncClient, world: dict[str, str], method: str, template: str,
                                   path: str, body: dict[str, Any] | None, status: int) -> None:
    r = await client.request(method, path, json=body, headers=world)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["message"]


@pytest.mark.parametrize(("method", "template", "path", "body"),
                         [(m, t, p, b) for m, t, p, b, _ in REFUSALS] + SCOPED,
                         ids=[f"{m} {t}" for m, t, *_ in REFUSALS + SCOPED])  # type: ignore[operator]
async def test_anonymous_is_refused(client: httpx.AsyncClient, method: str, template: str,
                                    path: str, body: dict[str, Any] | None) -> None:
    r = await client.request(method, path, json=body)
    assert r.status_code == 401, r.text
    assert r.json()["code"] == "error.unauthenticated"


async def test_scoped_lists_hide_what_outsider_may_not_see(client: httpx.AsyncClient, world: dict[str, str]) -> None:
    projects = (await client.get("/api/v1/projects", headers=world)).json()
    assert projects["total"] == 0 and projects["items"] == []
    assert (await client.get("/api/v1/businesses", headers=world)).json()["items"] == []
    assert (await client.get("/api/v1/permission-requests", headers=world)).json() == []
    audit = (await client.get("/api/v1/audit", headers=world)).json()
    assert all(e["username"] == "eve" for e in audit["items"])


async def test_refusals_are_audited(client: httpx.AsyncClient, world: dict[str, str],
                                    admin_headers: dict[str, str]) -> None:
    await client.post("/api/v1/projects/secret/enable", json={"business_id": 100}, headers=world)
    audit = (await client.get("/api/v1/audit?username=eve&outcome=denied", headers=admin_headers)).json()
    assert audit["total"] == 1
    assert audit["items"][0]["action"] == "enable_project"


# Operations routes outside /api/: health checks are open, metrics need their own token (SHOAL_METRICS_TOKEN),
# which no user token replaces; with none configured they are closed to everyone.
OPERATIONS = [("GET", "/healthz", 200), ("GET", "/readyz", 200), ("GET", "/metrics", 403)]


@pytest.mark.parametrize(("method", "path", "status"), OPERATIONS, ids=[f"{m} {p}" for m, p, _ in OPERATIONS])
async def test_operations_routes(client: httpx.AsyncClient, world: dict[str, str], admin_headers: dict[str, str],
                                 method: str, path: str, status: int) -> None:
    for headers in ({}, world, admin_headers):
        r = await client.request(method, path, headers=headers)
        assert r.status_code == status, (headers, r.text)


def test_operations_table_covers_every_route_outside_api(ctx: AppContext) -> None:
    app = create_app(ctx, with_web=False)
    served = {(method.upper(), path) for path, ops in app.openapi()["paths"].items()
              if not path.startswith("/api/") for method in ops}
    assert served == {(m, p) for m, p, _ in OPERATIONS}
