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
