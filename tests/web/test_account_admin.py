"""Account administration pages: disable/enable, set and change passwords, the remembered language,
business maintainers, and the audit page's time filters."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest

from shoal.business.bkcmdb import BkCmdbDirectory
from shoal.context import AppContext, build_context
from shoal.core.config import BusinessSettings, Settings
from shoal.store.types import utcnow
from shoal.web.areas.audit import parse_moment
from tests.conftest import ADMIN_PASSWORD
from tests.support.fake_cmdb import APP_SECRET, make_app
from tests.support.threaded_server import ThreadedServer
from tests.web.helpers import SignIn, User, browser, hidden, login, make_user


@pytest.fixture
async def admin(ctx: AppContext) -> AsyncIterator[User]:
    async with browser(ctx) as client:
        yield User(client, await login(client, "admin", ADMIN_PASSWORD))


@pytest.fixture
def users(ctx: AppContext, admin: User) -> SignIn:
    @asynccontextmanager
    async def signed_in(name: str) -> AsyncIterator[User]:
        await make_user(admin.client, admin.csrf, name)
        async with browser(ctx) as client:
            yield User(client, await login(client, name, "password-123"))

    return signed_in


def _row(html: str, attr: str, value: str) -> str:
    match = re.search(rf'<tr {attr}="{re.escape(value)}">(.*?)</tr>', html, re.S)
    assert match, f"no row {attr}={value}"
    return match.group(1)


async def test_admin_disables_and_enables_a_user_with_confirmations(admin: User, users: SignIn) -> None:
    async with users("bob") as bob:
        page = await admin.get("/admin/users")
        row = _row(page.text, "data-user", "bob")
        assert 'action="/admin/users/bob/disable"' in row and "Disable bob? Their sessions and API tokens" in row
        own = _row(page.text, "data-user", "admin")
        assert "/disable" not in own and ">You<" in own  # no button to lock yourself out
        r = await admin.submit("/admin/users/bob/disable")
        assert r.status_code == 303
        page = await admin.get("/admin/users")
        assert "bob is disabled" in page.text
        row = _row(page.text, "data-user", "bob")
        assert "Disabled" in row and 'action="/admin/users/bob/enable"' in row
        r = await bob.get("/")  # bob's open session stops working at once
        assert r.status_code == 303 and r.headers["location"].startswith("/login")

        refused = await admin.submit("/admin/users/admin/disable")
        assert refused.status_code == 409 and "You cannot disable your own account." in refused.text

        assert (await admin.submit("/admin/users/bob/enable")).status_code == 303
        assert "bob is enabled again" in (await admin.get("/admin/users")).text
        audit = await admin.get("/audit?action=user.")
        assert 'data-action="user.disable"' in audit.text and 'data-action="user.enable"' in audit.text


async def test_non_admins_cannot_use_the_account_admin_pages(admin: User, users: SignIn) -> None:
    async with users("frank") as frank, users("gina"):
        for path in ("/admin/users/gina/password", "/admin/businesses/1/maintainers"):
            r = await frank.get(path)
            assert r.status_code == 403, path
        for path, data in (("/admin/users/gina/disable", {}), ("/admin/users/gina/password",
                                                                 {"password": "x" * 10, "confirm": "x" * 10}),
                           ("/admin/businesses/1/maintainers", {"maintainers": "frank"})):
            r = await frank.submit(path, data)
            assert r.status_code == 403, path
    listing = await admin.get("/admin/users")
    assert "Disabled" not in _row(listing.text, "data-user", "gina")


async def test_admin_sets_a_password(ctx: AppContext, admin: User, users: SignIn) -> None:
    async with users("bob") as bob:
        form = await admin.get("/admin/users/bob/password")
        assert form.status_code == 200 and "Set a new password for bob?" in form.text
        r = await admin.submit("/admin/users/bob/password", {"password": "new-password-1", "confirm": "typo-typo-1"})
        assert r.status_code == 400 and "The two new passwords differ." in r.text
        r = await admin.submit("/admin/users/bob/password", {"password": "short", "confirm": "short"})
        assert r.status_code == 400 and "at least 8 characters" in r.text
        r = await admin.submit("/admin/users/bob/password", {"password": "new-password-1",
                                                             "confirm": "new-password-1"})
        assert r.status_code == 303
        assert "New password set for bob." in (await admin.get("/admin/users")).text
        assert (await bob.get("/")).status_code == 303  # bob's session ended
    async with browser(ctx) as client:
        await login(client, "bob", "new-password-1")
    assert (await admin.get("/admin/users/ghost/password")).status_code == 404
    r = await admin.submit("/admin/users/admin/password", {"password": "admin-new-pass", "confirm": "admin-new-pass"})
    assert r.status_code == 303 and (await admin.get("/admin/users")).status_code == 200  # still signed in


async def test_user_changes_own_password_and_stays_signed_in(ctx: AppContext, users: SignIn) -> None:
    async with users("bob") as bob:
        async with browser(ctx) as other:  # bob's second browser
            await login(other, "bob", "password-123")
            page = await bob.get("/account/password")
            assert page.status_code == 200 and 'href="/account/password"' in page.text
            r = await bob.submit("/account/password", {"current_password": "wrong-one", "new_password": "bob-new-pass",
                                                      "confirm": "bob-new-pass"})
            assert r.status_code == 400 and "The current password is wrong." in r.text
            r = await bob.submit("/account/password", {"current_password": "password-123",
                                                      "new_password": "bob-new-pass", "confirm": "bob-new-pas"})
            assert r.status_code == 400 and "The two new passwords differ." in r.text
            r = await bob.submit("/account/password", {"current_password": "password-123",
                                                      "new_password": "bob-new-pass", "confirm": "bob-new-pass"})
            assert r.status_code == 303
            page = await bob.get("/account/password")
            assert page.status_code == 200 and "Your password has been changed." in page.text  # still signed in
            assert (await other.get("/")).status_code == 303  # the other browser was signed out
        async with browser(ctx) as client:
            await login(client, "bob", "bob-new-pass")


async def test_language_choice_follows_the_user_to_another_browser(ctx: AppContext, users: SignIn) -> None:
    async with users("bob") as bob:
        assert '<html lang="en">' in (await bob.get("/")).text
        r = await bob.get("/lang/zh-CN?next=/audit")
        assert r.status_code == 303 and r.headers["location"] == "/audit"
        assert '<html lang="zh-CN">' in (await bob.get("/audit")).text
    async with browser(ctx, lang="en") as fresh:  # a browser asking for English: bob's choice wins
        await login(fresh, "bob", "password-123")
        page = await fresh.get("/")
        assert '<html lang="zh-CN">' in page.text and "新建项目" in page.text
    async with browser(ctx, lang="en") as admin_browser:  # nobody else is affected
        await login(admin_browser, "admin", ADMIN_PASSWORD)
        assert '<html lang="en">' in (await admin_browser.get("/")).text
    async with browser(ctx, lang="en") as anonymous:  # without a session only the cookie is set
        r = await anonymous.get("/lang/zh-CN?next=/login")
        assert r.status_code == 303 and r.cookies.get("shoal_lang") == "zh-CN"


async def test_admin_edits_business_maintainers(admin: User, users: SignIn) -> None:
    async with users("bob"):
        await admin.submit("/admin/businesses", {"id": "100", "name": "Payments", "maintainers": "admin"})
        page = await admin.get("/admin/businesses")
        assert 'href="/admin/businesses/100/maintainers"' in page.text
        form = await admin.get("/admin/businesses/100/maintainers")
        assert form.status_code == 200 and 'value="admin"' in form.text
        assert "Save the maintainers of Payments (#100)?" in form.text
        r = await admin.submit("/admin/businesses/100/maintainers", {"maintainers": "bob, ghost"})
        assert r.status_code == 400 and "These users do not exist: ghost." in r.text
        assert 'value="bob, ghost"' in r.text  # what was typed is kept
        r = await admin.submit("/admin/businesses/100/maintainers", {"maintainers": "bob admin"})
        assert r.status_code == 303
        page = await admin.get("/admin/businesses")
        assert "Maintainers of Payments (#100): admin, bob." in page.text
        assert '<span class="tag">bob</span>' in _row(page.text, "data-business", "100")
        assert (await admin.get("/admin/businesses/999/maintainers")).status_code == 404
        r = await admin.submit("/admin/businesses/999/maintainers", {"maintainers": "bob"})
        assert r.status_code == 404


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_bkcmdb_maintainers_are_read_only_with_the_reason(ctx: AppContext, settings: Settings) -> None:
    businesses = [{"bk_biz_id": 100, "bk_biz_name": "Payments", "bk_biz_maintainer": "alice,admin"}]
    with ThreadedServer(make_app(businesses, [])) as fake:
        cmdb = BkCmdbDirectory(BusinessSettings(directory="bkcmdb", cmdb_url=fake.url, cmdb_app_secret=APP_SECRET,
                                                cmdb_timeout=5, cmdb_allow_http=True))
        context = build_context(settings, directory=cmdb)
        try:
            async with browser(context) as client:
                admin = User(client, await login(client, "admin", ADMIN_PASSWORD))
                listing = await admin.get("/admin/businesses")
                assert "/maintainers" not in listing.text and "Change the maintainers in BK-CMDB" in listing.text
                form = await admin.get("/admin/businesses/100/maintainers")
                assert form.status_code == 200 and 'data-testid="maintainers-readonly"' in form.text
                r = await admin.submit("/admin/businesses/100/maintainers", {"maintainers": "admin"})
                assert r.status_code == 409
                assert "come from BK-CMDB (bk_biz_maintainer); Shoal cannot change them" in r.text
                assert "Change the maintainers in BK-CMDB" in r.text
        finally:
            await context.db.dispose()


def test_time_fields_are_parsed_as_utc_and_until_includes_what_it_names() -> None:
    assert parse_moment("") is None
    assert parse_moment("2026-11-26") == datetime(2026, 11, 26, tzinfo=UTC)
    assert parse_moment("2026-11-26", end=True) == datetime(2026, 11, 27, tzinfo=UTC)
    assert parse_moment("2026-11-26T18:30", end=True) == datetime(2026, 11, 26, 18, 31, tzinfo=UTC)
    assert parse_moment("2026-11-26 18:30:05") == datetime(2026, 11, 26, 18, 30, 5, tzinfo=UTC)
    for bad in ("yesterday", "2026-13-01", "26/11/2026"):
        with pytest.raises(ValueError):
            parse_moment(bad)


async def test_audit_page_time_filters(admin: User) -> None:
    await admin.submit("/projects", {"code": "timed", "name": "Timed"})
    now = utcnow()
    minute = "%Y-%m-%dT%H:%M"
    page = await admin.get("/audit")
    assert 'name="since" type="datetime-local"' in page.text and 'name="period"' in page.text
    around = await admin.get(f"/audit?action=project.create&since={(now - timedelta(minutes=5)).strftime(minute)}"
                             f"&until={now.strftime(minute)}")
    assert around.text.count('data-action="project.create"') == 1
    assert f'value="{now.strftime(minute)}"' in around.text  # the fields keep what was asked
    later = await admin.get(f"/audit?action=project.create&since={(now + timedelta(minutes=2)).strftime(minute)}")
    assert 'data-action="project.create"' not in later.text and "No audit entries" in later.text
    earlier = await admin.get(f"/audit?action=project.create&until={(now - timedelta(days=1)).strftime('%Y-%m-%d')}")
    assert 'data-action="project.create"' not in earlier.text
    recent = await admin.get("/audit?action=project.create&period=1h")
    assert recent.text.count('data-action="project.create"') == 1 and 'value="1h" selected' in recent.text
    bad = await admin.get("/audit?since=yesterday")
    assert bad.status_code == 400 and "&#39;yesterday&#39; is not a date or time." in bad.text
    assert "2026-11-26T18:30 (UTC)" in bad.text
    assert hidden(bad.text, "csrf_token")  # still a whole page, with the filters to fix it
