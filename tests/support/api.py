"""Small helpers for API tests: create users and get their tokens through the API itself."""

from __future__ import annotations

import httpx


async def make_user(client: httpx.AsyncClient, admin: dict[str, str], name: str, *, admin_user: bool = False,
                    password: str = "password-123") -> dict[str, str]:
    """Create ``name`` and return Authorization headers for a fresh token of theirs."""
    r = await client.post("/api/v1/users", json={"username": name, "password": password, "is_admin": admin_user},
                          headers=admin)
    assert r.status_code == 201, r.text
    r = await client.post("/api/v1/tokens", json={"username": name, "name": "test", "expires": "1d"}, headers=admin)
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


async def enabled_project(client: httpx.AsyncClient, admin: dict[str, str], roles: dict[str, str | None],
                          *, code: str = "alpha", business_id: int = 100) -> dict[str, dict[str, str]]:
    """Project ``code`` bound to a new business, with users given ``roles`` (None: no role at all).

    Returns Authorization headers per username, plus ``admin``.
    """
    r = await client.post("/api/v1/businesses", json={"id": business_id, "name": "Biz", "maintainers": ["admin"]},
                          headers=admin)
    assert r.status_code == 201, r.text
    r = await client.post("/api/v1/projects", json={"code": code, "name": code.title()}, headers=admin)
    assert r.status_code == 201, r.text
    r = await client.post(f"/api/v1/projects/{code}/enable", json={"business_id": business_id}, headers=admin)
    assert r.status_code == 200, r.text
    users = {name: await make_user(client, admin, name) for name in roles}
    for name, role in roles.items():
        if role is not None:
            r = await client.post(f"/api/v1/projects/{code}/members", json={"username": name, "role": role},
                                  headers=admin)
            assert r.status_code in (200, 201), r.text
    return {"admin": admin, **users}
