"""Account administration through the API and the CLI: disable/enable, passwords, language, maintainers.

The refusals of these routes (403 for non-admins, 401 anonymous) are rows of
``tests/integration/test_route_permissions.py``; here are what they do, what they
refuse, and what they write to the audit log.
"""

from __future__ import annotations

import httpx
import pytest
from typer.testing import CliRunner

from shoal.api.app import create_app
from shoal.business.bkcmdb import BkCmdbDirectory
from shoal.cli import app as cli
from shoal.context import AppContext, build_context
from shoal.core.config import BusinessSettings, Settings
from shoal.core.errors import Conflict
from shoal.iam import accounts
from shoal.iam.authz import Principal
from tests.conftest import ADMIN_PASSWORD, ADMIN_TOKEN
from tests.support.api import make_user

EN = {"Accept-Language": "en"}


async def _audit(client: httpx.AsyncClient, admin: dict[str, str], action: str) -> list[dict[str, object]]:
    r = await client.get("/api/v1/audit", params={"action": action}, headers=admin)
    items: list[dict[str, object]] = r.json()["items"]
    return items


async def _login_token(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await client.post("/api/v1/auth/token", json={"username": username, "password": password,
                                                          "name": "t", "expires": "1d"}, headers=EN)


async def test_disabled_user_is_refused_at_once_and_enabled_again(client: httpx.AsyncClient,
                                                                  admin_headers: dict[str, str]) -> None:
    bob = await make_user(client, admin_headers, "bob")
    login = await client.post("/api/v1/auth/login", json={"username": "bob", "password": "password-123"})
    assert login.status_code == 200
    session_cookie = client.cookies.get("shoal_session")
    assert session_cookie and (await client.get("/api/v1/auth/me")).status_code == 200
    client.cookies.clear()

    r = await client.post("/api/v1/users/bob/disable", headers=admin_headers)
    assert r.status_code == 200 and r.json()["is_active"] is False
    refused = await client.get("/api/v1/auth/me", headers={**bob, **EN})
    assert refused.status_code == 401 and refused.json()["message"] == "This account is disabled."
    assert (await client.get("/api/v1/auth/me", cookies={"shoal_session": session_cookie})).status_code == 401
    assert (await _login_token(client, "bob", "password-123")).status_code == 401
    again = await client.post("/api/v1/users/bob/disable", headers=admin_headers)  # idempotent
    assert again.status_code == 200

    r = await client.post("/api/v1/users/bob/enable", headers=admin_headers)
    assert r.status_code == 200 and r.json()["is_active"] is True
    assert (await client.get("/api/v1/auth/me", headers=bob)).status_code == 200  # nothing was revoked
    assert [e["target_id"] for e in await _audit(client, admin_headers, "user.disable")] == ["bob"]
    assert [e["target_id"] for e in await _audit(client, admin_headers, "user.enable")] == ["bob"]


async def test_admin_cannot_disable_self_and_a_missing_user_is_404(client: httpx.AsyncClient,
                                                                   admin_headers: dict[str, str]) -> None:
    r = await client.post("/api/v1/users/admin/disable", headers={**admin_headers, **EN})
    assert r.status_code == 409 and r.json()["code"] == "error.disable_self"
    assert r.json()["hint"] == "Ask another platform administrator to do it."
    r = await client.post("/api/v1/users/ghost/disable", headers=admin_headers)
    assert r.status_code == 404 and r.json()["code"] == "error.user_not_found"
    denied = (await client.get("/api/v1/audit", params={"outcome": "failure"}, headers=admin_headers)).json()
    assert denied["total"] >= 2  # refusals are audited by the error handler


async def test_the_last_active_admin_cannot_be_disabled(ctx: AppContext, client: httpx.AsyncClient,
                                                        admin_headers: dict[str, str]) -> None:
    await make_user(client, admin_headers, "carol", admin_user=True)
    carol_token = (await _login_token(client, "carol", "password-123")).json()["token"]
    carol = {"Authorization": f"Bearer {carol_token}"}
    assert (await client.post("/api/v1/users/admin/disable", headers=carol)).status_code == 200
    # carol is now the only active admin; a principal acting for the platform (say a server-side command)
    # must still not remove her
    system = Principal(user_id=0, username="system", is_admin=True)
    async with ctx.db.session() as session:
        with pytest.raises(Conflict) as refused:
            await accounts.set_user_active(session, system, "carol", False)
    assert refused.value.code == "error.last_admin"
    assert (await client.post("/api/v1/users/admin/enable", headers=carol)).status_code == 200


async def test_admin_resets_a_password_and_ends_the_users_web_sessions(client: httpx.AsyncClient,
                                                                       admin_headers: dict[str, str]) -> None:
    bob = await make_user(client, admin_headers, "bob")
    await client.post("/api/v1/auth/login", json={"username": "bob", "password": "password-123"})
    cookie = client.cookies.get("shoal_session")
    client.cookies.clear()
    short = await client.put("/api/v1/users/bob/password", json={"password": "short"}, headers=admin_headers)
    assert short.status_code == 400 and short.json()["code"] == "error.password_short"
    r = await client.put("/api/v1/users/bob/password", json={"password": "brand-new-pass"}, headers=admin_headers)
    assert r.status_code == 204
    assert (await _login_token(client, "bob", "password-123")).status_code == 401
    assert (await _login_token(client, "bob", "brand-new-pass")).status_code == 201
    assert (await client.get("/api/v1/auth/me", cookies={"shoal_session": str(cookie)})).status_code == 401
    assert (await client.get("/api/v1/auth/me", headers=bob)).status_code == 200  # API tokens keep working
    entry = (await _audit(client, admin_headers, "user.password_reset"))[0]
    assert entry["target_id"] == "bob" and entry["detail"] == {"sessions_ended": 1}
    r = await client.put("/api/v1/users/ghost/password", json={"password": "brand-new-pass"}, headers=admin_headers)
    assert r.status_code == 404


async def test_change_own_password_needs_the_current_one(client: httpx.AsyncClient,
                                                         admin_headers: dict[str, str]) -> None:
    bob = await make_user(client, admin_headers, "bob")
    wrong = await client.put("/api/v1/account/password", headers={**bob, **EN},
                             json={"current_password": "not-it-at-all", "new_password": "another-pass-1"})
    assert wrong.status_code == 400 and wrong.json()["code"] == "error.current_password"
    assert wrong.json()["field"] == "current_password" and wrong.json()["hint"]
    same = await client.put("/api/v1/account/password", headers=bob,
                            json={"current_password": "password-123", "new_password": "password-123"})
    assert same.status_code == 400 and same.json()["code"] == "error.password_unchanged"
    short = await client.put("/api/v1/account/password", headers=bob,
                             json={"current_password": "password-123", "new_password": "short"})
    assert short.status_code == 400 and short.json()["code"] == "error.password_short"
    ok = await client.put("/api/v1/account/password", headers=bob,
                          json={"current_password": "password-123", "new_password": "another-pass-1"})
    assert ok.status_code == 204
    assert (await _login_token(client, "bob", "another-pass-1")).status_code == 201
    assert (await _audit(client, admin_headers, "user.password_change"))[0]["username"] == "bob"

    r = await client.post("/api/v1/users", json={"username": "robot", "password": None}, headers=admin_headers)
    assert r.status_code == 201
    token = (await client.post("/api/v1/tokens", json={"username": "robot"}, headers=admin_headers)).json()["token"]
    r = await client.put("/api/v1/account/password", headers={"Authorization": f"Bearer {token}"},
                         json={"current_password": "x", "new_password": "another-pass-1"})
    assert r.status_code == 409 and r.json()["code"] == "error.no_password"


async def test_language_is_remembered(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> None:
    bob = await make_user(client, admin_headers, "bob")
    assert (await client.get("/api/v1/account", headers=bob)).json()["language"] is None  # follows the browser
    r = await client.put("/api/v1/account/language", json={"language": "en"}, headers=bob)
    assert r.status_code == 200 and r.json() == {"username": "bob", "display_name": "bob", "is_admin": False,
                                                 "language": "en"}
    bad = await client.put("/api/v1/account/language", json={"language": "fr"}, headers={**bob, **EN})
    assert bad.status_code == 400 and bad.json()["hint"] == "Choose one of: zh-CN, en."
    assert (await client.get("/api/v1/account", headers=bob)).json()["language"] == "en"
    assert [e["detail"] for e in await _audit(client, admin_headers, "user.language")] == [{"language": "en"}]


async def test_admin_edits_the_maintainers_of_a_business(client: httpx.AsyncClient,
                                                         admin_headers: dict[str, str]) -> None:
    bob = await make_user(client, admin_headers, "bob")
    await make_user(client, admin_headers, "carol")
    await client.post("/api/v1/businesses", json={"id": 100, "name": "Pay", "maintainers": ["admin"]},
                      headers=admin_headers)
    assert (await client.get("/api/v1/businesses", headers=bob)).json()["items"] == []
    r = await client.put("/api/v1/businesses/100/maintainers", json={"maintainers": ["bob", "carol", "bob"]},
                         headers=admin_headers)
    assert r.status_code == 200 and r.json() == {"id": 100, "name": "Pay", "maintainers": ["bob", "carol"]}
    assert [b["id"] for b in (await client.get("/api/v1/businesses", headers=bob)).json()["items"]] == [100]
    entry = (await _audit(client, admin_headers, "business.set_maintainers"))[0]
    assert entry["detail"] == {"added": ["bob", "carol"], "removed": ["admin"]}

    unknown = await client.put("/api/v1/businesses/100/maintainers", json={"maintainers": ["ghost"]},
                               headers={**admin_headers, **EN})
    assert unknown.status_code == 400 and "ghost" in unknown.json()["message"]
    missing = await client.put("/api/v1/businesses/999/maintainers", json={"maintainers": []}, headers=admin_headers)
    assert missing.status_code == 404
    r = await client.put("/api/v1/businesses/100/maintainers", json={"maintainers": []}, headers=admin_headers)
    assert r.json()["maintainers"] == []
    assert (await client.get("/api/v1/businesses", headers=bob)).json()["items"] == []


async def test_maintainers_of_a_bkcmdb_business_are_refused_with_a_reason(ctx: AppContext, settings: Settings,
                                                                          admin_headers: dict[str, str]) -> None:
    # The refusal comes before any call to CMDB, so the adapter points nowhere.
    cmdb = BkCmdbDirectory(BusinessSettings(directory="bkcmdb", cmdb_url="http://127.0.0.1:9", cmdb_timeout=1,
                                            cmdb_allow_http=True))
    context = build_context(settings, directory=cmdb)
    try:
        app = create_app(context, with_web=False)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://shoal.test") as c:
            r = await c.put("/api/v1/businesses/100/maintainers", json={"maintainers": ["admin"]},
                            headers={**admin_headers, **EN})
            assert r.status_code == 409 and r.json()["code"] == "error.business_maintainers_readonly"
            assert "BK-CMDB" in r.json()["message"] and "approve their permission request" in r.json()["hint"]
            r = await c.put("/api/v1/businesses/100/maintainers", json={"maintainers": ["admin"]},
                            headers={**admin_headers, "Accept-Language": "zh-CN"})
            assert "蓝鲸配置平台" in r.json()["message"]
    finally:
        await context.db.dispose()


# -- the CLI ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_cli_user_disable_enable_passwd_and_set_maintainers(api_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOAL_URL", api_server)
    monkeypatch.setenv("SHOAL_TOKEN", ADMIN_TOKEN)
    monkeypatch.setenv("SHOAL_LANG", "en")
    monkeypatch.setenv("SHOAL_CONFIG", "/nonexistent/shoal.json")
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()

    def run(*args: str, stdin: str | None = None) -> tuple[int, str]:
        result = runner.invoke(cli, list(args), input=stdin, catch_exceptions=False)
        return result.exit_code, result.output

    assert run("user", "create", "bob", "--password-stdin", stdin="password-123\n")[0] == 0
    token = httpx.post(api_server + "/api/v1/auth/token", json={"username": "bob", "password": "password-123"}).json()
    bob = {"Authorization": f"Bearer {token['token']}"}

    assert run("user", "disable", "bob") == (0, "disabled user bob\n")
    assert httpx.get(api_server + "/api/v1/auth/me", headers=bob).status_code == 401
    code, text = run("user", "disable", "admin")
    assert code == 1 and "You cannot disable your own account." in text
    assert run("user", "enable", "bob") == (0, "enabled user bob\n")
    assert httpx.get(api_server + "/api/v1/auth/me", headers=bob).status_code == 200

    code, text = run("user", "passwd", "bob", "--password-stdin", stdin="bob-new-password\n")
    assert code == 0 and "password of bob set" in text
    assert httpx.post(api_server + "/api/v1/auth/token",
                      json={"username": "bob", "password": "bob-new-password"}).status_code == 201
    code, text = run("user", "passwd", "--password-stdin", stdin="wrong-password\nanother-pass-1\n")
    assert code == 1 and "The current password is wrong." in text
    code, text = run("user", "passwd", "--password-stdin", stdin=f"{ADMIN_PASSWORD}\nanother-pass-1\n")
    assert code == 0 and "password changed" in text

    assert run("business", "add", "100", "Pay", "--maintainer", "admin")[0] == 0
    code, text = run("business", "set-maintainers", "100", "--maintainer", "bob", "--maintainer", "admin")
    assert (code, text) == (0, "business 100 (Pay) maintained by admin, bob\n")
    code, text = run("business", "set-maintainers", "100")
    assert code == 1 and "--clear" in text
    assert run("business", "set-maintainers", "100", "--clear") == (0, "business 100 (Pay) maintained by -\n")
