"""Click through R1–R4 in headless Chromium against a real server, saving screenshots.

An admin creates a user and businesses, creates a project and enables it; a
second user who maintains nothing sees why and the help text, applies (申请权限),
the admin approves on /requests, and the second user enables their project. The
second user works in Chinese, so the brief's own labels are checked too.

The server is shared with the other browser tests: everything here is named with
this module's own suffix, and requests are found by the number the page shows.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import LiveServer, unique_business_id
from tests.conftest import ADMIN_PASSWORD

pytestmark = pytest.mark.browser
VIEWPORT = {"width": 1360, "height": 860}


@dataclass(frozen=True)
class Names:
    """What this module creates on the shared server; the second test continues where the first stopped."""

    suffix: str
    bob: str
    demo: str
    bobs: str
    payments: int
    logistics: int


@pytest.fixture(scope="module")
def names() -> Names:
    suffix = secrets.token_hex(3)
    return Names(suffix=suffix, bob=f"bob{suffix}", demo=f"demo{suffix}", bobs=f"bobs{suffix}",
                 payments=unique_business_id(), logistics=unique_business_id())


def _login(page: Page, url: str, username: str, password: str) -> None:
    page.goto(url + "/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")
    expect(page.get_by_test_id("whoami")).to_have_text(username)


def _shot(page: Page, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def _request_number(page: Page) -> str:
    """The number of the request just submitted, as the flash message shows it (#12)."""
    match = re.search(r"#(\d+)", page.locator(".flash").inner_text())
    assert match, "the flash message names no request"
    return match.group(1)


def test_enable_apply_approve_enable(shared_server: LiveServer, chromium: Browser, screenshots: Path,
                                     names: Names) -> None:
    url, bob_name = shared_server.url, names.bob
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
    admin.fill("#u-name", bob_name)
    admin.fill("#u-display", "Bob Chen")
    admin.fill("#u-pass", "bob-password-1")
    admin.locator("#add-user button[type=submit]").click()
    expect(admin.locator(f"tr[data-user={bob_name}]")).to_be_visible()

    admin.goto(url + "/admin/businesses")
    for biz_id, name in ((names.payments, "Payments"), (names.logistics, "Logistics")):
        admin.get_by_test_id("new-business").click()
        admin.fill("#b-id", str(biz_id))
        admin.fill("#b-name", name)
        admin.fill("#b-maint", "admin")
        admin.locator("#add-business button[type=submit]").click()
        expect(admin.locator(f"tr[data-business='{biz_id}']")).to_be_visible()
    _shot(admin, screenshots, "02-admin-businesses")

    # -- the admin creates a project and enables it (R1, R3, R4) --------------------------------------
    admin.goto(url + "/")
    admin.get_by_test_id("new-project").click()
    admin.fill("#p-name", "Demo Shop")
    admin.fill("#p-code", names.demo)
    admin.fill("#p-desc", "The storefront team")
    _shot(admin, screenshots, "03-create-project-dialog")
    admin.locator("#create-project button[type=submit]").click()
    expect(admin).to_have_url(f"{url}/projects/{names.demo}")
    expect(admin.get_by_test_id("enable-page")).to_be_visible()
    # R3: an admin sees every business directly, including ones he does not maintain
    for biz_id in (names.payments, names.logistics):
        expect(admin.locator(f".choice[data-business='{biz_id}']")).to_be_visible()
    admin.locator(f".choice[data-business='{names.payments}']").click()
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
    _login(bob, url, bob_name, "bob-password-1")
    bob.get_by_test_id("new-project").click()
    bob.fill("#p-name", "鲍勃的项目")
    bob.fill("#p-code", names.bobs)
    bob.locator("#create-project button[type=submit]").click()
    expect(bob).to_have_url(f"{url}/projects/{names.bobs}")
    expect(bob.get_by_test_id("no-business")).to_be_visible()
    expect(bob.locator(".hero h2")).to_have_text("启用容器服务")
    bob.get_by_test_id("help-button").click()
    expect(bob.get_by_test_id("help-text")).to_be_visible()
    expect(bob.get_by_test_id("help-text")).to_contain_text("申请权限")
    _shot(bob, screenshots, "07-help-zh")
    bob.locator("#help-dialog [data-close-dialog]").last.click()
    bob.select_option("#apply-business", str(names.logistics))
    bob.fill("#apply-reason", "上线物流项目需要绑定该业务")
    _shot(bob, screenshots, "08-no-business-apply-zh")
    bob.get_by_test_id("apply-submit").click()
    expect(bob.get_by_test_id("pending-request")).to_be_visible()
    expect(bob.locator(".flash")).to_contain_text(re.compile(r"申请 #\d+ 已提交"))
    request_id = _request_number(bob)

    # -- the admin approves on /requests ---------------------------------------------------------------
    admin.goto(url + "/requests")
    row = admin.locator(f"tr[data-request='{request_id}']")
    expect(row).to_contain_text("Logistics")
    row.locator("input[name=note]").fill("Welcome aboard")
    _shot(admin, screenshots, "09-requests-todo")
    admin.get_by_test_id(f"approve-{request_id}").click()
    expect(admin.locator(".flash")).to_contain_text(f"Request #{request_id} approved")

    # -- bob sees the outcome and enables his project (R2, R4) ------------------------------------------
    bob.goto(url + "/requests?view=mine")
    expect(bob.locator(f"tr[data-request='{request_id}'] [data-status]")).to_have_text("已通过")
    _shot(bob, screenshots, "10-my-requests-zh")
    bob.goto(f"{url}/projects/{names.bobs}")
    expect(bob.locator(".choice")).to_have_count(1)
    bob.get_by_test_id("enable-submit").click()
    bob.locator("#confirm-dialog [data-confirm-ok]").click()
    expect(bob.get_by_test_id("bound-business")).to_have_text("Logistics")
    expect(bob.locator(".flash")).to_contain_text("已启用容器服务")
    _shot(bob, screenshots, "11-overview-zh")

    bob_ctx.close()

    # -- the record of it all ------------------------------------------------------------------------------
    admin.goto(url + "/audit?action=project.enable")
    enables = admin.locator("tr[data-action='project.enable']")
    expect(enables.filter(has_text=names.demo)).to_have_count(1)
    expect(enables.filter(has_text=names.bobs)).to_have_count(1)
    _shot(admin, screenshots, "12-audit")
    admin.goto(f"{url}/?q={names.suffix}")
    expect(admin.locator("tr[data-project]")).to_have_count(2)
    _shot(admin, screenshots, "13-projects")
    assert admin.evaluate("typeof window.htmx") == "object", "htmx did not load: run scripts/vendor_assets.sh"
    admin.fill("input[name=q]", names.bobs)  # live search through htmx, no page load
    expect(admin.locator("tr[data-project]")).to_have_count(1)
    expect(admin).to_have_url(f"{url}/?q={names.bobs}")
    admin_ctx.close()


def test_members_confirm_and_no_access(shared_server: LiveServer, chromium: Browser, screenshots: Path,
                                       names: Names) -> None:
    """Continues the flow above: removal asks first; a non-member gets the apply form."""
    url, bob_name = shared_server.url, names.bob
    admin_ctx = chromium.new_context(viewport=VIEWPORT, locale="en-US")
    admin_ctx.set_default_timeout(10_000)
    admin = admin_ctx.new_page()
    _login(admin, url, "admin", ADMIN_PASSWORD)
    admin.goto(f"{url}/projects/{names.demo}/members")
    admin.fill("#m-user", bob_name)
    admin.select_option("#m-role", "developer")
    admin.locator("[data-testid=add-member-form] button[type=submit]").click()
    member = admin.locator(f"tr[data-member={bob_name}]")
    expect(member).to_contain_text("Developer")
    _shot(admin, screenshots, "14-members")
    member.locator("button[type=submit]").click()
    dialog = admin.locator("#confirm-dialog")
    expect(dialog).to_contain_text(f"Remove {bob_name} from Demo Shop?")
    dialog.locator("[data-close-dialog]").click()  # cancel: nothing happens
    expect(member).to_be_visible()
    member.locator("button[type=submit]").click()
    dialog.locator("[data-confirm-ok]").click()
    expect(admin.locator(".flash")).to_contain_text(f"{bob_name} was removed")
    expect(member).to_have_count(0)

    bob_ctx = chromium.new_context(viewport=VIEWPORT, locale="en-US")
    bob_ctx.set_default_timeout(10_000)
    bob = bob_ctx.new_page()
    _login(bob, url, bob_name, "bob-password-1")
    bob.goto(f"{url}/projects/{names.demo}")
    expect(bob.get_by_test_id("no-access")).to_be_visible()
    bob.fill("#reason", "I fix the storefront")
    _shot(bob, screenshots, "15-no-access")
    bob.locator("[data-testid=apply-role-form] button[type=submit]").click()
    expect(bob.get_by_test_id("pending-request")).to_be_visible()
    request_id = _request_number(bob)
    bob.goto(url + "/no/such/page")
    expect(bob.get_by_test_id("error-message")).to_have_text("There is no page at /no/such/page.")
    _shot(bob, screenshots, "16-not-found")

    # the language switch in the top bar turns the console Chinese and stays on the same page
    # (bob's own choice: it is remembered for him, so the shared admin account keeps English)
    bob.goto(url + "/audit?outcome=success")
    bob.locator("[data-lang='zh-CN']").first.click()
    expect(bob).to_have_url(url + "/audit?outcome=success")
    expect(bob.locator("h1")).to_have_text("审计")
    _shot(bob, screenshots, "18-audit-zh")
    bob.goto(url + "/")
    expect(bob.locator("[data-nav=projects]")).to_have_text("项目")
    _shot(bob, screenshots, "19-projects-zh")

    bob.locator("form[action='/logout'] button").click()
    expect(bob).to_have_url(url + "/login")
    bob.goto(url + "/no/such/page")
    expect(bob.get_by_test_id("error-message")).to_be_visible()  # anonymous: a bare error page, no sidebar
    _shot(bob, screenshots, "17-not-found-anonymous")
    bob_ctx.close()

    admin.goto(url + "/requests")
    admin.locator(f"tr[data-request='{request_id}'] input[name=note]").fill("Ask the storefront lead first")
    admin.get_by_test_id(f"reject-{request_id}").click()
    expect(admin.locator("#confirm-dialog")).to_contain_text(f"Reject request #{request_id} of {bob_name}?")
    admin.locator("#confirm-dialog [data-confirm-ok]").click()
    expect(admin.locator(".flash")).to_contain_text(f"Request #{request_id} of {bob_name} rejected.")

    admin.goto(url + "/account/tokens")
    admin.get_by_test_id("new-token").click()
    admin.fill("#tk-name", "ci-pipeline")
    admin.locator("#new-token button[type=submit]").click()
    expect(admin.get_by_test_id("new-token-value")).to_contain_text("Copy it now")
    _shot(admin, screenshots, "20-api-tokens")
    admin_ctx.close()
