"""Every label the console uses exists in the catalogue in both languages; areas can extend the shell."""

from __future__ import annotations

import re
from pathlib import Path

from shoal.core.messages import MESSAGES
from shoal.iam.authz import Action, Principal
from shoal.web import nav, pages
from shoal.web.nav import NavItem

WEB = Path(__file__).resolve().parents[2] / "src" / "shoal" / "web"
LITERAL = re.compile(r"""["'](ui\.[a-z0-9_.]+[a-z0-9_])["']""")
#: Keys built in templates from a prefix and a value (``t("ui.role." ~ role)``), with every value they take.
DYNAMIC = {
    "ui.role.": ("viewer", "developer", "manager"),
    "ui.status.": ("pending", "approved", "rejected", "success", "failure", "denied"),
    "ui.directory.": ("builtin", "bkcmdb"),
    "ui.requests.empty_": ("todo", "mine", "all"),
    "ui.help.directory_": ("builtin", "cmdb"),
    "ui.tokens.expiry.": ("30d", "90d", "1y", "never"),
    "ui.audit.period.": ("1h", "24h", "7d", "30d"),
}


def test_every_ui_key_is_in_the_catalogue_in_both_languages() -> None:
    used = {key for path in WEB.rglob("*") if path.suffix in (".py", ".html")
            for key in LITERAL.findall(path.read_text())}
    used -= set(DYNAMIC)
    used |= {prefix + value for prefix, values in DYNAMIC.items() for value in values}
    assert len(used) > 100, "the scan found too few keys: the pattern is wrong"
    missing = sorted(k for k in used if k not in MESSAGES)
    assert missing == []
    for key in used:
        en, zh = MESSAGES[key]
        assert en.strip() and zh.strip(), key


def test_brief_labels_are_the_chinese_ones() -> None:
    assert MESSAGES["ui.enable.title"][1] == "启用容器服务"
    assert MESSAGES["ui.enable.help"][1] == "查看帮助"
    assert MESSAGES["ui.apply.button"][1] == "申请权限"
    assert MESSAGES["ui.nav.projects"][1] == "项目"
    assert MESSAGES["ui.overview.clusters"][1] == "集群"
    assert MESSAGES["ui.nav.audit"][1] == "审计"


def test_a_later_area_adds_a_sidebar_entry_guarded_by_an_action() -> None:
    for area in pages.AREAS:
        nav.register(*area.nav)
    item = NavItem("ui.nav.tasks", "/tasks", "tasks", order=25, action=Action.USER_MANAGE)
    nav.register(item)
    try:
        admin = Principal(user_id=1, username="admin", is_admin=True)
        user = Principal(user_id=2, username="bob")
        assert item in nav.visible_for(admin)
        assert item not in nav.visible_for(user)
        hrefs = [i.href for i in nav.registered()]
        assert hrefs.index("/tasks") == hrefs.index("/requests") + 1
    finally:
        nav._ITEMS.remove(item)


def test_only_same_site_paths_are_redirect_targets() -> None:
    from shoal.web.render import safe_next

    assert safe_next("/projects/demo?x=1") == "/projects/demo?x=1"
    for bad in ("https://evil.example/", "//evil.example", "/\\evil.example", "/\t/evil.example", "", None, "x"):
        assert safe_next(bad) == "/"
