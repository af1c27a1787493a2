"""Template rendering for the web console: one Jinja environment, one page context.

Every page goes through :func:`render`, which adds what ``base.html`` needs: the
language and a ``t()`` bound to it, the signed-in principal, the CSRF token for
forms, the sidebar, and a one-shot flash message. Areas added later register
their template directories with :func:`add_template_dir`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import BaseLoader, ChoiceLoader, Environment, FileSystemLoader, select_autoescape

from shoal.api.deps import SESSION_COOKIE, csrf_token_for
from shoal.api.problems import language_of
from shoal.core.i18n import LANGUAGES, translate
from shoal.gateway.tls import expiry_warning
from shoal.iam.authz import Action, Principal, can
from shoal.web import nav

__all__ = [
    "FLASH_COOKIE",
    "LANG_COOKIE",
    "add_template_dir",
    "flash",
    "format_time",
    "redirect",
    "render",
    "safe_next",
    "templates",
    "translator",
]

FLASH_COOKIE = "shoal_flash"
LANG_COOKIE = "shoal_lang"
TEMPLATE_DIR = Path(__file__).parent / "templates"
LANGUAGE_NAMES = {"zh-CN": "简体中文", "en": "English"}

#: Every console page: never cached (pages carry CSRF tokens and new API tokens), never framed (the
#: confirmation dialogs must not be clickjacked), forms post only back to Shoal.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

_loaders: list[BaseLoader] = [FileSystemLoader(TEMPLATE_DIR)]
_loader = ChoiceLoader(_loaders)


def add_template_dir(path: Path) -> None:
    """Let a later area keep its templates beside its code; earlier directories win on name clashes."""
    _loaders.append(FileSystemLoader(path))


def format_time(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.strftime("%Y-%m-%d %H:%M:%S") + " UTC"


def to_json(value: Any) -> str:
    """Compact JSON for display (autoescaped by the template, unlike ``tojson``'s HTML-safe escapes)."""
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)


def _query(params: Mapping[str, Any], **changes: Any) -> str:
    """The current filters with some changed, as a query string (empty values dropped)."""
    merged = {**params, **changes}
    return urlencode({k: v for k, v in merged.items() if v not in (None, "")})


_env = Environment(loader=_loader, autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
_env.filters["time"] = format_time
_env.filters["json"] = to_json
_env.globals.update(can=can, A=Action, query=_query, LANGUAGE_NAMES=LANGUAGE_NAMES)
templates = Jinja2Templates(env=_env)


def safe_next(target: str | None, default: str = "/") -> str:
    """Only same-site paths may be redirect targets (no ``//host`` or ``https://``)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    # Browsers drop tabs and newlines inside URLs, so "/\t/host" would become "//host".
    if any(c.isspace() or ord(c) < 32 for c in target):
        return default
    return target


def redirect(url: str, *, flash_key: str | None = None, level: str = "success", **params: Any) -> RedirectResponse:
    """303 to ``url`` (POST-redirect-GET), optionally carrying a flash message to the next page."""
    response = RedirectResponse(url, status_code=303)
    if flash_key:
        flash(response, flash_key, level, **params)
    return response


def flash(response: Response, key: str, level: str = "success", **params: Any) -> None:
    payload = json.dumps({"k": key, "l": level, "p": {k: str(v) for k, v in params.items()}})
    response.set_cookie(FLASH_COOKIE, base64.urlsafe_b64encode(payload.encode()).decode(), max_age=60,
                        httponly=True, samesite="lax")


def _read_flash(request: Request, lang: str) -> dict[str, str] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(raw.encode()))
        key, level, params = str(data["k"]), str(data["l"]), dict(data["p"])
    except (binascii.Error, ValueError, KeyError, TypeError):
        return None
    # Only catalogue keys meant for flashing are shown, so a forged cookie cannot inject arbitrary text keys.
    if not key.startswith("ui.flash.") or level not in ("success", "info", "warning", "error"):
        return None
    return {"text": translate(key, lang, **params), "level": level}


def translator(lang: str) -> Callable[..., str]:
    """``t(key, **params)`` for templates, bound to one language."""

    def t(key: str, /, **params: Any) -> str:
        return translate(key, lang, **params)

    return t


def csrf_token(request: Request) -> str:
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return ""
    secret: str = request.app.state.ctx.settings.secret_key
    return csrf_token_for(secret, cookie)


def page_context(request: Request, principal: Principal | None) -> dict[str, Any]:
    lang = language_of(request)
    path = request.url.path
    nav_items = nav.visible_for(principal)
    return {
        "lang": lang,
        "t": translator(lang),
        "languages": LANGUAGES,
        "me": principal,
        "csrf_token": csrf_token(request) if principal else "",
        "nav_items": nav_items,
        "nav_active": next((i.href for i in nav_items if i.is_active(path)), ""),
        "nav_badges": getattr(request.state, "nav_badges", {}),
        "path": path,
        "full_path": path + (f"?{request.url.query}" if request.url.query else ""),
        "flash": _read_flash(request, lang),
        "tls_warning": _tls_warning(request, principal, lang),
    }


def _tls_warning(request: Request, principal: Principal | None, lang: str) -> str:
    """For admins only: the banner text when the served certificate expires within 30 days (else empty)."""
    ctx = getattr(request.app.state, "ctx", None)
    if principal is None or not principal.is_admin or ctx is None:
        return ""
    expires = expiry_warning(ctx.settings)
    if expires is None:
        return ""
    settings = ctx.settings
    days = max(0, (expires - datetime.now(UTC)).days)
    return translate("ui.tls.expiring", lang, date=expires.strftime("%Y-%m-%d %H:%M UTC"), days=days,
                     path=settings.tls_cert or str(settings.data_dir / "tls" / "server.crt"))


def render(request: Request, name: str, context: Mapping[str, Any] | None = None, *, status: int = 200,
           principal: Principal | None = None) -> Response:
    """Render ``name`` with the page context; ``principal`` defaults to the one the request resolved."""
    who = principal if principal is not None else getattr(request.state, "principal", None)
    full = page_context(request, who)
    full.update(context or {})
    response = templates.TemplateResponse(request, name, full, status_code=status)
    if full["flash"] is not None or request.cookies.get(FLASH_COOKIE):
        response.delete_cookie(FLASH_COOKIE)
    response.headers.update(PAGE_HEADERS)
    return response
