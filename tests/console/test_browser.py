"""WebConsole in headless Chromium: a viewer opens kubectl on an imported kubesim cluster (R20).

From the cluster list's WebConsole button: ``kubectl get nodes`` shows the
nodes, a cordon is refused by the gateway (Forbidden), a pipe into grep shows
one node's line, shell escapes are refused with an explanation, a second tab
opens, the short idle timeout closes the session with a visible reason, and
the audit log lists the commands.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.browser.conftest import screenshots  # noqa: F401  (fixture)
from tests.console.conftest import IDLE_TIMEOUT, PASSWORD, World
from tests.support.chromium import launched_chromium

pytestmark = pytest.mark.browser

REFUSED = {
    "bash": "'bash' is not available",
    "ls /": "'ls' is not available",
    "kubectl get nodes; cat /etc/passwd": "';' is not supported",
    "kubectl get nodes > /tmp/x": "'>' is not supported",
    "$(id)": "'$(' is not supported",
}


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """A Chromium of this module's own, closed at its end (the browser package's one lives as long as that
    package, and its event loop would stop the asyncio tests that follow)."""
    with launched_chromium() as browser:
        yield browser


def _screen(page: Page) -> Locator:
    return page.locator(".console-pane:not([hidden]) .xterm-rows")


def _type(page: Page, line: str) -> None:
    page.locator(".console-pane:not([hidden]) .console-screen").click()
    page.keyboard.type(line)
    page.keyboard.press("Enter")


def test_viewer_console(console_world: World, chromium: Browser, screenshots: Path) -> None:  # noqa: F811
    url = console_world.shoal.url
    nodes = console_world.sim.cluster().node_names()
    context = chromium.new_context(viewport={"width": 1360, "height": 860}, locale="en-US")
    context.set_default_timeout(45_000)
    page = context.new_page()
    page.goto(url + "/login")
    page.fill("#username", "vera")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.get_by_test_id("whoami")).to_have_text("vera")

    page.goto(url + "/projects/alpha/clusters")
    expect(page.get_by_test_id("webconsole-button")).to_be_visible()
    page.screenshot(path=str(screenshots / "console-00-cluster-list.png"))
    page.locator(f'tr[data-cluster="{console_world.cluster_id}"]').get_by_test_id("webconsole-button").click()
    expect(page).to_have_url(url + f"/console/{console_world.cluster_id}")
    expect(page.get_by_test_id("console-status")).to_have_text("Connected")
    expect(_screen(page)).to_contain_text("kubectl>")

    _type(page, "kubectl get nodes")
    for name in nodes:
        expect(_screen(page)).to_contain_text(name)
    page.screenshot(path=str(screenshots / "console-01-get-nodes.png"))

    _type(page, f"kubectl cordon {nodes[0]}")
    expect(_screen(page)).to_contain_text(f'unable to cordon node "{nodes[0]}"')
    expect(_screen(page)).to_contain_text("may not patch nodes")
    _type(page, f"kubectl label node {nodes[0]} team=web")
    expect(_screen(page)).to_contain_text("Error from server (Forbidden)")
    page.screenshot(path=str(screenshots / "console-02-forbidden.png"))

    _type(page, "clear")
    _type(page, f"kubectl get nodes | grep {nodes[1]}")
    expect(_screen(page)).to_contain_text(re.compile(re.escape(nodes[1]) + r"\s+Ready"))
    _type(page, "clear")
    for line, message in REFUSED.items():
        _type(page, line)
        expect(_screen(page)).to_contain_text(message)
    page.screenshot(path=str(screenshots / "console-03-refused.png"))

    # a second console in its own tab
    page.get_by_test_id("console-add").click()
    expect(page.get_by_test_id("console-tab")).to_have_count(2)
    expect(page.get_by_test_id("console-status").nth(1)).to_have_text("Connected")
    expect(_screen(page)).to_contain_text("kubectl>")
    _type(page, "k get nodes -o name | wc -l")
    expect(_screen(page).locator("> div").filter(has_text=re.compile(r"^\s*3\s*$"))).to_have_count(1)
    page.screenshot(path=str(screenshots / "console-04-tabs.png"))

    # paste with Ctrl-Shift-V (from the clipboard), and copy a selection with Ctrl-Shift-C
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=url)
    page.evaluate("navigator.clipboard.writeText('kubectl version --client')")
    page.locator(".console-pane:not([hidden]) .console-screen").click()
    page.keyboard.press("Control+Shift+V")
    expect(_screen(page)).to_contain_text("kubectl> kubectl version --client")
    page.keyboard.press("Enter")
    expect(_screen(page)).to_contain_text("Client Version: v1.37")
    page.evaluate("navigator.clipboard.writeText('')")
    row = _screen(page).locator("> div").filter(has_text="Client Version").first
    row.dblclick(force=True, position={"x": 20, "y": 6})  # selects the first word
    page.keyboard.press("Control+Shift+C")
    for _ in range(50):
        copied = page.evaluate("navigator.clipboard.readText()")
        if copied:
            break
        page.wait_for_timeout(100)
    assert copied.strip() in ("Client", "Version", "Client Version"), copied

    # nobody types: both sessions close on the idle timeout, and say so
    closed = page.locator(".console-pane:not([hidden])").get_by_test_id("console-closed")
    expect(closed).to_be_visible(timeout=(IDLE_TIMEOUT + 45) * 1000)
    expect(closed).to_contain_text(f"no input for {IDLE_TIMEOUT} s")
    expect(closed).to_have_attribute("data-reason", "idle_timeout")
    expect(_screen(page)).to_contain_text("Session closed: no input for")
    page.screenshot(path=str(screenshots / "console-05-idle.png"))

    lines = {e["detail"]["line"] for e in console_world.audit(username="vera")}
    assert {"kubectl get nodes", f"kubectl cordon {nodes[0]}", f"kubectl get nodes | grep {nodes[1]}",
            *REFUSED} <= lines, lines
    page.goto(url + "/audit?action=console.command")  # vera's own entries
    expect(page.locator("table")).to_contain_text("console.command")
    page.screenshot(path=str(screenshots / "console-06-audit.png"), full_page=True)
    context.close()


def test_admin_replays_a_recording(console_world: World, chromium: Browser, screenshots: Path) -> None:  # noqa: F811
    with console_world.api() as admin:
        recorded = admin.get("/api/v1/console/recordings").json()
    if not recorded:  # this test runs alone: record a session first
        from tests.console.conftest import ConsoleClient

        term = ConsoleClient(console_world, "mona")
        term.read_until("kubectl> ")
        term.run("kubectl get nodes")
        term.run("exit", done="Session ended")
        term.wait_closed()
    password = (console_world.shoal.data_dir / "initial-admin-password").read_text().strip()
    context = chromium.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    context.set_default_timeout(45_000)
    page = context.new_page()
    page.goto(console_world.shoal.url + "/login")
    page.fill("#username", "admin")
    page.fill("#password", password)
    page.click("button[type=submit]")
    expect(page.get_by_test_id("whoami")).to_have_text("admin")
    page.goto(console_world.shoal.url + "/console/recordings")
    page.get_by_test_id("replay-link").first.click()
    replay = page.get_by_test_id("console-replay")
    expect(replay).to_have_attribute("data-done", "true")
    expect(replay.locator(".xterm-rows")).to_contain_text("kubectl>")
    page.screenshot(path=str(screenshots / "console-07-replay.png"))
    context.close()
