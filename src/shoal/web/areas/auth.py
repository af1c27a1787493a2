"""Login, logout and the language switch.

The login form sets the same cookies as ``POST /api/v1/auth/login`` (an HttpOnly
session cookie and the CSRF cookie). Before a session exists, the login form is
protected by a double-submit token of its own, so another site cannot log a
browser into an account of its choosing.

The form logs in through ``iam.login.password_login``, the same path as the API
(throttling, argon2 off the event loop, audit); a blocked login shows the wait
on the page, with status 429 and Retry-After.

The language is carried by a preference cookie, which every page reads before
Accept-Language. For a signed-in user the switch also saves the choice in
``User.language``, and logging in puts the saved choice into the cookie, so a
user's language follows them from browser to browser.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from shoal.api.deps import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    CtxDep,
    OptionalPrincipal,
    SessionDep,
    client_address,
    csrf_token_for,
)
from shoal.api.problems import language_of
from shoal.audit import service as audit
from shoal.core.errors import PermissionDenied, Throttled, Unauthenticated
from shoal.core.i18n import LANGUAGES, translate
from shoal.core.security import tokens_equal
from shoal.iam import accounts
from shoal.iam.login import password_login
from shoal.web.deps import PagePrincipal
from shoal.web.nav import NavItem
from shoal.web.render import LANG_COOKIE, redirect, render, safe_next

__all__ = ["nav", "router"]

router = APIRouter(include_in_schema=False)
nav: tuple[NavItem, ...] = ()

LOGIN_CSRF_COOKIE = "shoal_login_csrf"
ONE_YEAR = 365 * 24 * 3600


def _after_login(next_url: str | None) -> str:
    """Where a successful login lands: the page asked for, never the login page itself (no loop)."""
    target = safe_next(next_url)
    return "/" if target.startswith(("/login", "/logout")) else target


def _login_page(request: Request, *, next_url: str, username: str = "", error: str | None = None,
                status: int = 200, error_code: str = "") -> Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
    response = render(request, "auth/login.html",
                      {"next": next_url, "username": username, "error": error, "error_code": error_code,
                       "login_csrf": token},
                      status=status, principal=None)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, max_age=3600, httponly=True, samesite="lax")
    return response


@router.get("/login")
async def login_form(request: Request, principal: OptionalPrincipal, next: str = "/") -> Response:
    if principal is not None:
        return redirect(_after_login(next))
    return _login_page(request, next_url=_after_login(next))


@router.post("/login")
async def login(
    request: Request, ctx: CtxDep, session: SessionDep,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
    next: Annotated[str, Form(max_length=512)] = "/",
    login_csrf: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    target = _after_login(next)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not tokens_equal(login_csrf, expected):
        raise PermissionDenied("error.csrf", error_code="csrf_failed", hint="hint.csrf")
    username = username.strip()
    try:
        user, _ = await password_login(ctx.db, session, ctx.settings.auth, username, password,
                                       source=client_address(request), via="web")
    except (Unauthenticated, Throttled) as e:
        lang = language_of(request)
        message = translate(e.message_key, lang, **e.params)
        if e.hint_key:
            message += " " + translate(e.hint_key, lang, **e.params)
        page = _login_page(request, next_url=target, username=username, error=message, status=e.status,
                           error_code="login_throttled" if isinstance(e, Throttled) else "bad_login")
        if isinstance(e, Throttled):
            page.headers["Retry-After"] = str(e.retry_after)
        return page
    token = await accounts.create_session(session, user, ctx.settings.auth.session_hours)
    await session.commit()
    max_age = ctx.settings.auth.session_hours * 3600
    response = redirect(target)
    chosen = accounts.saved_language(user)
    if chosen:
        response.set_cookie(LANG_COOKIE, chosen, max_age=ONE_YEAR, httponly=False, samesite="lax")
    response.set_cookie(SESSION_COOKIE, token, max_age=max_age, httponly=True, samesite="lax",
                        secure=ctx.settings.secure_cookies)
    response.set_cookie(CSRF_COOKIE, csrf_token_for(ctx.settings.secret_key, token), max_age=max_age,
                        httponly=False, samesite="lax", secure=ctx.settings.secure_cookies)
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout")
async def logout(request: Request, principal: PagePrincipal, session: SessionDep) -> Response:
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        await accounts.end_session(session, cookie)
        await audit.record(session, principal, "auth.logout", target_type="user", target_id=principal.username)
        await session.commit()
    response = redirect("/login", flash_key="ui.flash.logged_out", level="info")
    response.delete_cookie(SESSION_COOKIE)
    response.delete_cookie(CSRF_COOKIE)
    return response


@router.get("/lang/{code}")
async def switch_language(principal: OptionalPrincipal, session: SessionDep, code: str,
                          next: str = "/") -> Response:
    """Remember the chosen language: in a cookie, and for a signed-in user in their account too.

    A plain link (GET) so the switch works without scripts; all it can change is
    the user's own language preference, so it needs no CSRF token.
    """
    response = redirect(safe_next(next))
    if code in LANGUAGES:
        response.set_cookie(LANG_COOKIE, code, max_age=ONE_YEAR, httponly=False, samesite="lax")
        if principal is not None:
            await accounts.set_language(session, principal, code)
            await session.commit()
    return response
