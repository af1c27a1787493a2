"""Message lookup in the user's language (zh-CN or en).

Who calls it: error rendering, templates and the CLI. The catalogue lives in
``core.messages``; a key missing there renders as itself, so a forgotten
translation is visible rather than fatal.
"""

from __future__ import annotations

from typing import Any

from shoal.core.messages import MESSAGES

__all__ = ["DEFAULT_LANGUAGE", "LANGUAGES", "negotiate", "translate"]

LANGUAGES = ("zh-CN", "en")
DEFAULT_LANGUAGE = "zh-CN"


def translate(key: str, lang: str, /, **params: Any) -> str:
    """Return the text for ``key`` in ``lang``, with ``{params}`` filled in."""
    entry = MESSAGES.get(key)
    if entry is None:
        return key.format(**params) if params else key
    text = entry[0] if lang == "en" else entry[1]
    try:
        return text.format(**params)
    except (KeyError, IndexError):
        return text


def negotiate(accept_language: str | None, default: str = DEFAULT_LANGUAGE) -> str:
    """Pick zh-CN or en from an ``Accept-Language`` header, by quality order."""
    if not accept_language:
        return default
    choices: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept_language.split(",")):
        tag, _, q = part.strip().partition(";q=")
        try:
            quality = float(q) if q else 1.0
        except ValueError:
            quality = 0.0
        choices.append((-quality, index, tag.strip().lower()))
    for _, _, tag in sorted(choices):
        if tag.startswith("zh"):
            return "zh-CN"
        if tag.startswith("en"):
            return "en"
    return default
