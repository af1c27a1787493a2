"""The web console over ASGI: who sees which page, forms with CSRF, the enable flow, languages."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from shoal.context import AppContext
from tests.conftest import ADMIN_PASSWORD
from tests.web.helpers import SignIn, User, browser, hidden, login, make_user


@pytest.fixture
async def admin(ctx: AppContext) -> AsyncIterator[User]:
    async with browser(ctx) as client:
        yield User(client, await login(client, "admin", ADMIN_PASSWORD))


@pytest.fixture
def users(ctx: AppContext, admin: User) -> SignIn:
    """``async with users("bob") as bob``: a new user, signed in in their own browser."""

    @asynccontextmanager
    async def signed_in(name: str) -> AsyncIterator[User]:
        await make_user(admin.client, admin.csrf, name)
        async with browser(ctx) as client:
            yield User(client, await login(client, name, "password-123"))

    return signed_in


async def test_anonymous_page_redirects_to_login_with_next(ctx: AppContext) -> None:
    async with browser(ctx) as client:
        r = await client.get("/projects/demo?x=1")
        assert r.status_code == 303
        assert r.headers["location"] == "/login?next=/projects/demo%3Fx%3D1"
        page = await client.get(r.headers["location"])
        assert page.status_code == 200 and 'name="next" value="/projects/demo?x=1"' in page.text


async def test_wrong_password_is_refused_in_the_users_language(ctx: AppContext) -> None:
    for lang, text in (("en", "Wrong username or password."), ("zh-CN", "用户名或密码错误。")):
        async with browser(ctx, lang=lang) as client:
            page = await client.get("/login")
            r = await client.post("/login", data={"username": "admin", "password": "nope-nope",
                                                  "login_csrf": hidden(page.text, "login_csrf")})
            assert r.status_code == 401
            assert text in r.text
            assert "shoal_session" not in client.cookies


async def test_login_form_needs_its_own_token(ctx: AppContext) -> None:
    async with browser(ctx) as client:
        r = await client.post("/login", data={"username": "admin", "password": ADMIN_PASSWORD})
        assert r.status_code == 403
        assert "CSRF" in r.text and "<html" in r.text


async def test_post_without_csrf_token_is_refused(admin: User) -> None:
    r = await admin.client.post("/projects", data={"code": "nocsrf", "name": "No CSRF"})
    assert r.status_code == 403
    assert "CSRF" in r.text
    r = await admin.client.post("/projects", data={"code": "nocsrf", "name": "No CSRF", "csrf_token": "forged"})
    assert r.status_code == 403
    listing = await admin.get("/")
    assert "nocsrf" not in listing.text
    r = await admin.client.post("/logout")
    assert r.status_code == 403


async def test_admin_creates_business_and_project_then_enables(admin: User) -> None:
    r = await admin.submit("/admin/businesses", {"id": "100", "name": "Demo Biz", "maintainers": "admin"})
    assert r.status_code == 303
    page = await admin.get(r.headers["location"])
    assert "Business Demo Biz (#100) added." in page.text and 'data-business="100"' in page.text
    r = await admin.submit("/projects", {"code": "demo", "name": "Demo"})
    assert r.status_code == 303 and r.headers["location"] == "/projects/demo"
    page = await admin.get("/projects/demo")
    assert 'data-testid="enable-page"' in page.text
    assert 'data-business="100"' in page.text
    assert "you see every business" in page.text  # R3: admins see the list directly
    r = await admin.submit("/projects/demo/enable", {"business_id": "100"})
    assert r.status_code == 303
    page = await admin.get("/projects/demo")
    assert 'data-testid="bound-business">Demo Biz<' in page.text
    assert "No clusters yet" in page.text
    assert 'href="/projects/demo/clusters/import" data-testid="import-cluster"' in page.text  # R4: clusters next
    listing = await admin.get("/?q=dem")
    assert 'data-project="demo"' in listing.text


async def test_create_project_error_is_shown_in_the_dialog(admin: User) -> None:
    r = await admin.submit("/projects", {"code": "Bad Code", "name": "X1"})
    assert r.status_code == 400
    assert "is not a valid project code" in r.text
    assert 'id="create-project" class="" data-open-on-load' in r.text


async def test_non_maintainer_sees_why_help_and_applies_then_admin_approves(
    admin: User, users: SignIn
) -> None:
    await admin.submit("/admin/businesses", {"id": "200", "name": "Biz 200", "maintainers": "admin"})
    async with users("bob") as bob:
        r = await bob.submit("/projects", {"code": "bobs", "name": "Bob's"})
        assert r.status_code == 303
        page = await bob.get("/projects/bobs")
        assert 'data-testid="no-business"' in page.text
        assert 'data-testid="help-text"' in page.text
        assert 'data-testid="apply-business-form"' in page.text
        # enabling anyway is refused with the reason, on the page
        r = await bob.submit("/projects/bobs/enable", {"business_id": "200"})
        assert r.status_code == 403 and "You do not maintain business 200" in r.text
        r = await bob.submit("/projects/bobs/apply-business", {"business_id": "200", "reason": "need it for bobs"})
        assert r.status_code == 303
        page = await bob.get("/projects/bobs")
        assert 'data-testid="pending-request"' in page.text
        todo = await admin.get("/requests")
        assert 'data-testid="approve-1"' in todo.text
        assert 'data-testid="nav-count">1<' in todo.text  # the sidebar tells the admin something waits
        assert 'data-testid="nav-count"' not in page.text  # but not bob, whose own request it is
        r = await admin.submit("/requests/1/approve", {"note": "ok"})
        assert r.status_code == 303
        mine = await bob.get("/requests?view=mine")
        assert 'data-status="approved"' in mine.text and "“ok”" in mine.text
        page = await bob.get("/projects/bobs")
        assert 'data-business="200"' in page.text and 'data-testid="enable-form"' in page.text
        r = await bob.submit("/projects/bobs/enable", {"business_id": "200"})
        assert r.status_code == 303
        page = await bob.get("/projects/bobs")
        assert 'data-testid="bound-business">Biz 200<' in page.text


async def test_non_member_gets_the_apply_form_not_a_raw_403(
    admin: User, users: SignIn
) -> None:
    await admin.submit("/projects", {"code": "secret", "name": "Secret"})
    async with users("dave") as dave:
        page = await dave.get("/projects/secret")
        assert page.status_code == 403
        assert 'data-testid="apply-role-form"' in page.text
        r = await dave.submit("/projects/secret/apply-role", {"role": "viewer", "reason": "to read"})
        assert r.status_code == 303
        page = await dave.get("/projects/secret")
        assert 'data-testid="pending-request"' in page.text
        r = await dave.submit("/requests/1/approve")
        assert r.status_code == 403 and "project_edit" in r.text and "data-error-code" in r.text
        await admin.submit("/requests/1/approve")
        page = await dave.get("/projects/secret")
        assert page.status_code == 200 and 'data-testid="enable-page"' in page.text
        assert 'data-testid="not-manager"' in page.text and 'data-testid="apply-manager-form"' in page.text
        r = await dave.submit("/projects/secret/apply-role", {"role": "manager", "reason": "x"})
        assert r.status_code == 400 and "Give a reason of 4–1000 characters." in r.text
        r = await dave.submit("/projects/secret/apply-role", {"role": "manager", "reason": "I run it now"})
        assert r.status_code == 303


async def test_members_add_change_remove(admin: User, users: SignIn) -> None:
    await admin.submit("/projects", {"code": "team", "name": "Team"})
    async with users("erin"):
        r = await admin.submit("/projects/team/members", {"username": "erin", "role": "developer"})
        assert r.status_code == 303
        page = await admin.get("/projects/team/members")
        assert 'data-member="erin"' in page.text and "data-confirm=" in page.text
        r = await admin.submit("/projects/team/members", {"username": "nobody", "role": "viewer"})
        assert r.status_code == 404 and "User &#39;nobody&#39; does not exist." in r.text
        r = await admin.submit("/projects/team/members/admin/remove")
        assert r.status_code == 409 and "no manager left" in r.text
        r = await admin.submit("/projects/team/members/erin/remove")
        assert r.status_code == 303
        page = await admin.get("/projects/team/members")
        assert 'data-member="erin"' not in page.text


async def test_admin_pages_are_for_admins_only(admin: User, users: SignIn) -> None:
    async with users("frank") as frank:
        listing = await admin.get("/admin/users")
        assert 'data-user="frank"' in listing.text
        home = await frank.get("/")
        assert "/admin/users" not in home.text and "/admin/businesses" not in home.text
        for path, action in (("/admin/users", "user_manage"), ("/admin/businesses", "business_manage")):
            r = await frank.get(path)
            assert r.status_code == 403 and action in r.text
        r = await frank.submit("/admin/users", {"username": "mallory", "password": "password-123"})
        assert r.status_code == 403


async def test_audit_page_filters_and_pages(admin: User) -> None:
    for i in range(23):
        await admin.submit("/projects", {"code": f"p{i:02d}", "name": f"Project {i}"})
    await admin.submit("/projects", {"code": "p00", "name": "Again"})
    page = await admin.get("/audit?action=project.create")
    assert page.text.count('data-action="project.create"') == 20
    assert 'data-total="24"' in page.text
    page2 = await admin.get("/audit?action=project.create&page=2")
    assert page2.text.count('data-action="project.create"') == 4
    failed = await admin.get("/audit?outcome=failure&user=admin")
    assert failed.text.count('data-action="project.create"') == 1
    projects = await admin.get("/?page=2")
    assert projects.text.count("data-project=") == 3


async def test_language_switch_changes_labels(admin: User) -> None:
    page = await admin.get("/")
    assert "New project" in page.text and '<html lang="en">' in page.text
    r = await admin.get("/lang/zh-CN?next=/")
    assert r.status_code == 303 and r.cookies.get("shoal_lang") == "zh-CN"
    page = await admin.get("/")
    assert "新建项目" in page.text and "审计" in page.text and '<html lang="zh-CN">' in page.text
    await admin.submit("/projects", {"code": "zh", "name": "中文项目"})
    page = await admin.get("/projects/zh")
    assert "启用容器服务" in page.text and "查看帮助" in page.text
    r = await admin.get("/lang/xx?next=//evil.example")
    assert r.headers["location"] == "/"


async def test_unknown_page_is_a_friendly_html_404(admin: User) -> None:
    r = await admin.get("/no/such/page")
    assert r.status_code == 404
    assert "There is no page at /no/such/page." in r.text and 'class="sidebar"' in r.text
    r = await admin.get("/projects/ghost")
    assert r.status_code == 404 and "Project &#39;ghost&#39; does not exist." in r.text


async def test_pages_are_not_cached_or_framed(admin: User) -> None:
    r = await admin.get("/")
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["x-frame-options"] == "DENY" and "frame-ancestors 'none'" in r.headers["content-security-policy"]


async def test_api_still_answers_json(admin: User) -> None:
    r = await admin.client.get("/api/v1/projects/ghost", headers={"Accept": "application/json"})
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")


async def test_form_post_after_the_session_ended_returns_to_the_form_page(ctx: AppContext) -> None:
    async with browser(ctx) as client:
        r = await client.post("/projects/demo/enable", data={"business_id": "1"},
                              headers={"Referer": "http://shoal.test/projects/demo"})
        assert r.status_code == 303 and r.headers["location"] == "/login?next=/projects/demo"
        r = await client.get("/?q=x", headers={"HX-Request": "true"})
        assert r.status_code == 204 and r.headers["hx-redirect"] == "/login?next=/%3Fq%3Dx"


async def test_logout_ends_the_session(admin: User) -> None:
    r = await admin.submit("/logout")
    assert r.status_code == 303 and r.headers["location"] == "/login"
    r = await admin.get("/")
    assert r.status_code == 303


async def test_manager_changes_business_but_not_once_there_are_clusters(admin: User) -> None:
    from shoal.projects import service

    for biz in ("1", "2"):
        await admin.submit("/admin/businesses", {"id": biz, "name": f"B{biz}", "maintainers": ""})
    await admin.submit("/projects", {"code": "rb", "name": "Rebind"})
    await admin.submit("/projects/rb/enable", {"business_id": "1"})
    page = await admin.get("/projects/rb")
    assert 'data-testid="rebind-button"' in page.text
    r = await admin.submit("/projects/rb/enable", {"business_id": "2"})
    assert r.status_code == 303

    async def two_clusters(_session: object, code: str) -> int:
        return 2 if code == "rb" else 0

    service.CLUSTER_COUNTERS.append(two_clusters)
    try:
        r = await admin.submit("/projects/rb/enable", {"business_id": "1"})
    finally:
        service.CLUSTER_COUNTERS.remove(two_clusters)
    assert r.status_code == 409
    assert "already has 2 cluster(s)" in r.text and 'data-testid="bound-business">B2<' in r.text


async def test_project_manager_decides_role_requests_for_their_project(admin: User, users: SignIn) -> None:
    async with users("carol") as carol, users("dan") as dan:
        await carol.submit("/projects", {"code": "cp", "name": "Carol's"})
        await dan.submit("/projects/cp/apply-role", {"role": "developer", "reason": "I build things"})
        todo = await carol.get("/requests")
        assert 'data-view="todo"' in todo.text and 'data-testid="approve-1"' in todo.text
        mine = await dan.get("/requests")
        assert 'data-testid="approve-1"' not in mine.text and 'data-status="pending"' in mine.text
        r = await carol.submit("/requests/1/reject", {"note": "not yet"})
        assert r.status_code == 303
        page = await dan.get("/projects/cp")
        assert page.status_code == 403 and 'data-status="rejected"' in page.text and "not yet" in page.text
        await dan.submit("/projects/cp/apply-role", {"role": "developer", "reason": "please, again"})
        await carol.submit("/requests/2/approve")
        page = await dan.get("/projects/cp")
        assert page.status_code == 200 and 'data-testid="not-manager"' in page.text


async def test_login_never_loops_back_to_itself(admin: User) -> None:
    r = await admin.get("/login?next=/login%3Fnext%3D/")
    assert r.status_code == 303 and r.headers["location"] == "/"
    r = await admin.get("/login?next=https://evil.example/")
    assert r.headers["location"] == "/"


async def test_admin_with_an_empty_directory_is_sent_to_add_a_business(admin: User) -> None:
    await admin.submit("/projects", {"code": "first", "name": "First"})
    page = await admin.get("/projects/first")
    assert 'data-testid="directory-empty"' in page.text and 'href="/admin/businesses"' in page.text
    assert 'data-testid="no-business"' not in page.text


async def test_api_token_is_shown_once_works_and_can_be_revoked(admin: User) -> None:
    r = await admin.submit("/account/tokens", {"name": "ci", "expires": "30d"})
    assert r.status_code == 201
    token = re.search(r'readonly value="([^"]+)"', r.text)
    assert token is not None
    api = {"Authorization": f"Bearer {token.group(1)}", "Accept": "application/json"}
    assert (await admin.client.get("/api/v1/auth/me", headers=api)).json()["username"] == "admin"
    page = await admin.get("/account/tokens")
    assert token.group(1) not in page.text and 'data-token="' in page.text
    token_id = re.search(r'data-token="(\d+)"', page.text)
    assert token_id is not None
    r = await admin.submit(f"/account/tokens/{token_id.group(1)}/revoke")
    assert r.status_code == 303
    assert (await admin.client.get("/api/v1/auth/me", headers=api)).status_code == 401
    r = await admin.submit("/account/tokens", {"name": "bad", "expires": "soon"})
    assert r.status_code == 400 and "is not a duration" in r.text
