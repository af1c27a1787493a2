"""Account administration in headless Chromium on the shared server, with screenshots.

An admin disables a user (who is thrown out at once), enables them again, sets
their password; the user changes it, picks Chinese and finds it again in a
fresh browser; the admin edits a business's maintainers; the audit page is
narrowed to the last hour. Every change asks for confirmation first.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import LiveServer, unique, unique_business_id
from tests.conftest import ADMIN_PASSWORD

pytestmark = pytest.mark.browser
VIEWPORT = {"width": 1360, "height": 860}


def _login(page: Page, url: str, username: str, password: str) -> None:
    page.goto(url + "/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")
    expect(page.get_by_test_id("whoami")).to_have_text(username)


def _confirm(page: Page, text: str) -> None:
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_contain_text(text)
    dialog.locator("[data-confirm-ok]").click()


def test_disable_reset_change_password_language_and_maintainers(shared_server: LiveServer, chromium: Browser,
                                                                  screenshots: Path) -> None:
    url, name, biz = shared_server.url, unique("dora"), unique_business_id()
    admin_ctx = chromium.new_context(viewport=VIEWPORT, locale="en-US")
    admin_ctx.set_default_timeout(10_000)
    admin = admin_ctx.new_page()
    _login(admin, url, "admin", ADMIN_PASSWORD)
    admin.goto(url + "/admin/users")
    admin.get_by_test_id("new-user").click()
    admin.fill("#u-name", name)
    admin.fill("#u-pass", "dora-password-1")
    admin.locator("#add-user button[type=submit]").click()
    row = admin.locator(f"tr[data-user={name}]")
    expect(row).to_be_visible()

    user_ctx = chromium.new_context(viewport=VIEWPORT, locale="en-US")
    user_ctx.set_default_timeout(10_000)
    user = user_ctx.new_page()
    _login(user, url, name, "dora-password-1")

    # -- disable: asks first; cancelling does nothing; confirming throws the user out at once ----------
    admin.get_by_test_id(f"disable-{name}").click()
    expect(admin.locator("#confirm-dialog")).to_contain_text(f"Disable {name}?")
    admin.screenshot(path=str(screenshots / "30-disable-confirm.png"), full_page=True)
    admin.locator("#confirm-dialog [data-close-dialog]").click()
    expect(row).to_contain_text("Active")
    admin.get_by_test_id(f"disable-{name}").click()
    _confirm(admin, f"Disable {name}?")
    expect(admin.locator(".flash")).to_contain_text(f"{name} is disabled")
    expect(row).to_contain_text("Disabled")
    admin.screenshot(path=str(screenshots / "31-user-disabled.png"), full_page=True)
    user.goto(url + "/")
    expect(user).to_have_url(url + "/login?next=/")
    admin.get_by_test_id(f"enable-{name}").click()
    _confirm(admin, f"Enable {name} again?")
    expect(row).to_contain_text("Active")

    # -- the admin sets a password; the user signs in with it and changes it themselves ----------------
    admin.get_by_test_id(f"password-{name}").click()
    admin.fill("#rp-pass", "set-by-admin-1")
    admin.fill("#rp-confirm", "set-by-admin-1")
    admin.locator("[data-testid=reset-password] button[type=submit]").click()
    _confirm(admin, f"Set a new password for {name}?")
    expect(admin.locator(".flash")).to_contain_text(f"New password set for {name}.")
    _login(user, url, name, "set-by-admin-1")
    user.locator("[data-nav=lock]").click()
    user.fill("#pw-current", "set-by-admin-1")
    user.fill("#pw-new", "chosen-by-dora-1")
    user.fill("#pw-confirm", "chosen-by-dora-1")
    user.screenshot(path=str(screenshots / "32-change-password.png"), full_page=True)
    user.locator("[data-testid=change-password] button[type=submit]").click()
    expect(user.locator(".flash")).to_contain_text("Your password has been changed.")

    # -- the language she picks follows her to a fresh English browser --------------------------------
    user.locator("[data-lang='zh-CN']").first.click()
    expect(user.locator("h1")).to_have_text("修改密码")
    user_ctx.close()
    fresh_ctx = chromium.new_context(viewport=VIEWPORT, locale="en-US")
    fresh_ctx.set_default_timeout(10_000)
    fresh = fresh_ctx.new_page()
    _login(fresh, url, name, "chosen-by-dora-1")
    expect(fresh.locator("[data-nav=projects]")).to_have_text("项目")
    fresh.screenshot(path=str(screenshots / "33-language-remembered-zh.png"), full_page=True)
    fresh_ctx.close()

    # -- maintainers of a business ----------------------------------------------------------------------
    admin.goto(url + "/admin/businesses")
    admin.get_by_test_id("new-business").click()
    admin.fill("#b-id", str(biz))
    admin.fill("#b-name", "Maintained")
    admin.fill("#b-maint", "admin")
    admin.locator("#add-business button[type=submit]").click()
    admin.get_by_test_id(f"maintainers-{biz}").click()
    admin.fill("#bm-maint", f"admin, {name}")
    admin.screenshot(path=str(screenshots / "34-maintainers.png"), full_page=True)
    admin.locator("[data-testid=maintainers-editor] button[type=submit]").click()
    _confirm(admin, f"Save the maintainers of Maintained (#{biz})?")
    expect(admin.locator(f"tr[data-business='{biz}']")).to_contain_text(name)

    # -- the audit page, narrowed to the last hour and to this user --------------------------------------
    admin.goto(f"{url}/audit?user=admin&action=user.")
    admin.select_option("#f-period", "1h")  # htmx swaps the results in place
    expect(admin).to_have_url(re.compile(r"/audit\?.*period=1h"))
    for action in ("user.disable", "user.enable", "user.password_reset"):
        expect(admin.locator(f"tr[data-action='{action}']").filter(has_text=name)).to_have_count(1)
    admin.screenshot(path=str(screenshots / "35-audit-last-hour.png"), full_page=True)
    admin_ctx.close()
