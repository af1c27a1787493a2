"""Every message key the code raises exists in both languages, and params fill in."""

from __future__ import annotations

import re
from pathlib import Path

from shoal.core.i18n import negotiate, translate
from shoal.core.messages import MESSAGES

SRC = Path(__file__).resolve().parents[2] / "src" / "shoal"
KEY_RE = re.compile(r"""["']((?:error|hint)\.[a-z_]+)["']""")


def test_every_used_key_is_in_the_catalogue() -> None:
    used = {m for path in SRC.rglob("*.py") for m in KEY_RE.findall(path.read_text())}
    assert used, "the scan found no keys: the pattern is wrong"
    missing = sorted(k for k in used if k not in MESSAGES)
    assert missing == []


def test_both_languages_present_and_distinct() -> None:
    for key, (en, zh) in MESSAGES.items():
        assert en and zh, key
        assert re.findall(r"{(\w+)}", en) == re.findall(r"{(\w+)}", zh) or set(re.findall(r"{(\w+)}", en)) == set(
            re.findall(r"{(\w+)}", zh)), key


def test_translate_fills_params_and_picks_language() -> None:
    assert translate("error.user_exists", "en", name="bob") == "User 'bob' already exists."
    assert translate("error.user_exists", "zh-CN", name="bob") == "用户 'bob' 已存在。"
    assert translate("no.such.key", "en") == "no.such.key"


def test_negotiate_accept_language() -> None:
    assert negotiate("en-US,en;q=0.9") == "en"
    assert negotiate("zh-CN,zh;q=0.9,en;q=0.8") == "zh-CN"
    assert negotiate("fr-FR, en;q=0.5") == "en"
    assert negotiate("en;q=0.2, zh;q=0.8") == "zh-CN"
    assert negotiate(None) == "zh-CN"
