"""Click through R1–R4 in headless Chromium against a real server, saving screenshots.

An admin creates a user and businesses, creates a project and enables it; a
second user who maintains nothing sees why and the help text, applies (申请权限),
the admin approves on /requests, and the second user enables their project. The
second user works in Chinese, so the brief's own labels are checked too.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import LiveServer
from tests.conftest import ADMIN_PASSWORD

pytestmark = pytest.mark.browser
VIEWPORT = {"width": 1360, "height": 860}


def _login(page: Page, url: str, username: str, password: str) -> None:
    page.goto(url + "/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")
    expect(page.get_by_test_id("whoami")).to_have_text(username)


def _shot(page: Page, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def test_enable_apply_approve_enable(live_server: LiveServer, chromium: Browser, screenshots: Path) -> None:
    url = live_server.url
    admin_ctx = chromium.new_context(viewport=VIEWPORT, locale="en-US")
    admin_ctx.set_default_timeout(10_000)
    admin = admin_ctx.new_page()

    # -- the admin signs in and prepares a user and two businesses -----------------------------------
    admin.goto(url + "/")
    expect(admin).to_have_url(url + "/login?next=/")
    _shot(admin, screenshots, "01-login")
    _login(admin, url, "admin", ADMIN_PASSWORD)

    admin.goto(url + "/admin/users")
    admin.get_by_test_id("new-user").click()
    admin.fill("#u-name", "bob")
    admin.fill("#u-display", "Bob Chen")
    admin.fill("#u-pass", "bob-password-1")
    admin.locator("#add-user button[type=submit]").click()
    expect(admin.locator("tr[data-user=bob]")).to_be_visible()

    admin.goto(url + "/admin/businesses")
    expect(admin.get_by_text("No businesses yet")).to_be_visible()
    for biz_id, name in (("100", "Payments"), ("200", "Logistics")):
        admin.get_by_test_id("new-business").click()
        admin.fill("#b-id", biz_id)
        admin.fill("#b-name", name)
        admin.fill("#b-maint", "admin")
        admin.locator("#add-business button[type=submit]").click()
        expect(admin.locator(f"tr[data-business='{biz_id}']")).to_be_visible()
    _shot(admin, screenshots, "02-admin-businesses")

    # -- the admin creates a project and enables it (R1, R3, R4) --------------------------------------
    admin.goto(url + "/")
    admin.get_by_test_id("new-project").click()
    admin.fill("#p-name", "Demo Shop")
    admin.fill("#p-code", "demo")
    admin.fill("#p-desc", "The storefront team")
    _shot(admin, screenshots, "03-create-project-dialog")
    admin.locator("#create-project button[type=submit]").click()
    expect(admin).to_have_url(url + "/projects/demo")
    expect(admin.get_by_test_id("enable-page")).to_be_visible()
    expect(admin.locator(".choice")).to_have_count(2)  # R3: an admin sees every business directly
    admin.locator(".choice[data-business='100']").click()
    _shot(admin, screenshots, "04-enable-admin")
    admin.get_by_test_id("enable-submit").click()
    confirm = admin.locator("#confirm-dialog")
    expect(confirm).to_be_visible()
    _shot(admin, screenshots, "05-enable-confirm")
    confirm.locator("[data-confirm-ok]").click()
    expect(admin.get_by_test_id("bound-business")).to_have_text("Payments")
    expect(admin.get_by_test_id("clusters-card")).to_contain_text("No clusters yet")
    _shot(admin, screenshots, "06-project-overview")

    # -- bob maintains nothing: he sees why, the help, and applies (R3), in Chinese ------------------
    bob_ctx = chromium.new_context(viewport=VIEWPORT, locale="zh-CN")
    bob_ctx.set_default_timeout(10_000)
    bob = bob_ctx.new_page()
    _login(bob, url, "bob", "bob-password-1")
    bob.get_by_test_id("new-project").click()
    bob.fill("#p-name", "鲍勃的项目")
    bob.fill("#p-code", "bobs")
    bob.locator("#create-project button[type=submit]").click()
    expect(bob).to_have_url(url + "/projects/bobs")
    expect(bob.get_by_test_id("no-business")).to_be_visible()
    expect(bob.locator(".hero h2")).to_have_text("启用容器服务")
    bob.get_by_test_id("help-button").click()
    expect(bob.get_by_test_id("help-text")).to_be_visible()
    expect(bob.get_by_test_id("help-text")).to_contain_text("申请权限")
    _shot(bob, screenshots, "07-help-zh")
    bob.locator("#help-dialog [data-close-dialog]").last.click()
    bob.select_option("#apply-business", "200")
    bob.fill("#apply-reason", "上线物流项目需要绑定该业务")
    _shot(bob, screenshots, "08-no-business-apply-zh")
    bob.get_by_test_id("apply-submit").click()
    expect(bob.get_by_test_id("pending-request")).to_be_visible()
    expect(bob.locator(".flash")).to_contain_text("申请 #1 已提交")

    # -- the admin approves on /requests ---------------------------------------------------------------
    admin.goto(url + "/requests")
    row = admin.locator("tr[data-request='1']")
    expect(row).to_contain_text("Logistics")
    row.locator("input[name=note]").fill("Welcome aboard")
    _shot(admin, screenshots, "09-requests-todo")
    admin.get_by_test_id("approve-1").click()
    expect(admin.locator(".flash")).to_contain_text("Request #1 approved")

    # -- bob sees the outcome and enables his project (R2, R4) ------------------------------------------
    bob.goto(url + "/requests?view=mine")
    expect(bob.locator("tr[data-request='1'] [data-status]")).to_have_text("已通过")
    _shot(bob, screenshots, "10-my-requests-zh")
    bob.goto(url + "/projects/bobs")
    expect(bob.locator(".choice")).to_have_count(1)
    bob.get_by_test_id("enable-submit").click()
    bob.locator("#confirm-dialog [data-confirm-ok]").click()
    expect(bob.get_by_test_id("bound-business")).to_have_text("Logistics")
    expect(bob.locator(".flash")).to_contain_text("已启用容器服务")
    _shot(bob, screenshots, "11-overview-zh")

    bob_ctx.close()

    # -- the record of it all ------------------------------------------------------------------------------
    admin.goto(url + "/audit")
    expect(admin.locator("tr[data-action='project.enable']")).to_have_count(2)
    _shot(admin, screenshots, "12-audit")
    admin.goto(url + "/")
    expect(admin.locator("tr[data-project]")).to_have_count(2)
    _shot(admin, screenshots, "13-projects")
    assert admin.evaluate("typeof window.htmx") == "object", "htmx did not load: run scripts/vendor_assets.sh"
    admin.fill("input[name=q]", "bob")  # live search through htmx, no page load
    expect(admin.locator("tr[data-project]")).to_have_count(1)
    expect(admin).to_have_url(url + "/?q=bob")


def test_members_confirm_and_no_access(live_server: LiveServer, chromium: Browser, screenshots: Path) -> None:
    """Runs after the flow above on the same server: removal asks first; a non-member gets the apply form."""
    url = live_server.url
    admin_ctx = chromium.new_context(viewport=VIEWPORT, locale="en-US")
    admin_ctx.set_default_timeout(10_000)
    admin = admin_ctx.new_page()
    _login(admin, url, "admin", ADMIN_PASSWORD)
    admin.goto(url + "/projects/demo/members")
    admin.fill("#m-user", "bob")
    admin.select_option("#m-role", "developer")
    admin.locator("[data-testid=add-member-form] button[type=submit]").click()
    expect(admin.locator("tr[data-member=bob]")).to_contain_text("Developer")
    _shot(admin, screenshots, "14-members")
    admin.locator("tr[data-member=bob] button[type=submit]").click()
    dialog = admin.locator("#confirm-dialog")
    expect(dialog).to_contain_text("Remove bob from Demo Shop?")
    dialog.locator("[data-close-dialog]").click()  # cancel: nothing happens
    expect(admin.locator("tr[data-member=bob]")).to_be_visible()
    admin.locator("tr[data-member=bob] button[type=submit]").click()
    dialog.locator("[data-confirm-ok]").click()
    expect(admin.locator(".flash")).to_contain_text("bob was removed")
    expect(admin.locator("tr[data-member=bob]")).to_have_count(0)

    bob_ctx = chromium.new_context(viewport=VIEWPORT, locale="en-US")
    bob_ctx.set_default_timeout(10_000)
    bob = bob_ctx.new_page()
    _login(bob, url, "bob", "bob-password-1")
    bob.goto(url + "/projects/demo")
    expect(bob.get_by_test_id("no-access")).to_be_visible()
    bob.fill("#reason", "I fix the storefront")
    _shot(bob, screenshots, "15-no-access")
    bob.locator("[data-testid=apply-role-form] button[type=submit]").click()
    expect(bob.get_by_test_id("pending-request")).to_be_visible()
    bob.goto(url + "/no/such/page")
    expect(bob.get_by_test_id("error-message")).to_have_text("There is no page at /no/such/page.")
    _shot(bob, screenshots, "16-not-found")
    bob.locator("button[title='Log out']").click()
    expect(bob).to_have_url(url + "/login")
    bob.goto(url + "/no/such/page")
    expect(bob.get_by_test_id("error-message")).to_be_visible()  # anonymous: a bare error page, no sidebar
    _shot(bob, screenshots, "17-not-found-anonymous")
    bob_ctx.close()

    admin.goto(url + "/requests")
    admin.locator("tr[data-request='2'] input[name=note]").fill("Ask the storefront lead first")
    admin.get_by_test_id("reject-2").click()
    expect(admin.locator("#confirm-dialog")).to_contain_text("Reject request #2 of bob?")
    admin.locator("#confirm-dialog [data-confirm-ok]").click()
    expect(admin.locator(".flash")).to_contain_text("Request #2 of bob rejected.")

    admin.goto(url + "/account/tokens")
    admin.get_by_test_id("new-token").click()
    admin.fill("#tk-name", "ci-pipeline")
    admin.locator("#new-token button[type=submit]").click()
    expect(admin.get_by_test_id("new-token-value")).to_contain_text("Copy it now")
    _shot(admin, screenshots, "20-api-tokens")

    # the language switch in the top bar turns the console Chinese and stays on the same page
    admin.goto(url + "/audit?outcome=success")
    admin.locator("[data-lang='zh-CN']").first.click()
    expect(admin).to_have_url(url + "/audit?outcome=success")
    expect(admin.locator("h1")).to_have_text("审计")
    _shot(admin, screenshots, "18-audit-zh")
    admin.goto(url + "/")
    expect(admin.locator("[data-nav=projects]")).to_have_text("项目")
    _shot(admin, screenshots, "19-projects-zh")
    admin_ctx.close()
