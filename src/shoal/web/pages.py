"""Mount the web console on the application.

``install(app)`` is called by ``shoal.api.app.create_app``. It serves static
assets, answers errors on pages with an HTML page (``app.state.html_error_renderer``,
used by ``shoal.api.problems``), and includes every area in :data:`AREAS`.

Adding an area (say, a task viewer): write ``shoal/web/areas/tasks.py`` with
``router = APIRouter()`` and ``nav = (NavItem("ui.nav.tasks", "/tasks", "tasks"),)``,
put its templates in ``templates/tasks/`` (``{% extends "base.html" %}``, fill
``{% block content %}``), use ``PagePrincipal``/``SessionDep`` and ``render()``,
then append the module to :data:`AREAS`.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from shoal.api.deps import SESSION_COOKIE
from shoal.api.problems import language_of
from shoal.context import AppContext
from shoal.core.errors import ShoalError
from shoal.core.i18n import translate
from shoal.iam.accounts import load_principal, resolve_token
from shoal.iam.authz import Principal
from shoal.web import console_pages, kubeconfig_pages, nav
from shoal.web.areas import account, admin, audit, auth, clusters, projects, requests, tasks
from shoal.web.areas import nodes as node_pages
from shoal.web.deps import LoginRequired, return_path
from shoal.web.render import render, safe_next

__all__ = ["AREAS", "install"]

STATIC_DIR = Path(__file__).parent / "static"

#: The console's areas, in the order their routes are matched. Each has ``router`` and ``nav``.
AREAS: tuple[ModuleType, ...] = (auth, projects, clusters, requests, audit, admin, tasks, account)
AREAS += (node_pages,)
AREAS += (console_pages,)
AREAS += (kubeconfig_pages,)

_TITLES = {400: "ui.error.400", 401: "ui.error.401", 403: "ui.error.403", 404: "ui.error.404",
           405: "ui.error.405", 409: "ui.error.409", 422: "ui.error.422"}


def _to_login(request: Request, next_url: str) -> Response:
    """Send the browser to the login page; htmx requests are told to navigate rather than swap it in."""
    target = "/login?next=" + quote(safe_next(next_url), safe="/")
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


async def _on_login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    return _to_login(request, exc.next_url)


async def _principal_for_error_page(request: Request) -> Principal | None:
    """Who is looking at the error page, so it can keep the sidebar; None if unknown."""
    known: Principal | None = getattr(request.state, "principal", None)
    if known is not None:
        return known
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    ctx: AppContext = request.app.state.ctx
    try:
        async with ctx.db.session() as session:
            user = await resolve_token(session, cookie, ("session",))
            return await load_principal(session, user, via="web")
    except ShoalError:
        return None


async def render_error(request: Request, status: int, problem: dict[str, Any]) -> Response:
    """The HTML twin of a problem+json body: what went wrong, what to do, and a way back."""
    if status == 401:
        return _to_login(request, return_path(request))
    lang = language_of(request)
    message = str(problem.get("message", ""))
    if problem.get("code") == "not_found":
        message = translate("ui.error.page_not_found", lang, path=request.url.path)
    principal = await _principal_for_error_page(request)
    context = {
        "status": status,
        "title": translate(_TITLES.get(status, "ui.error.500"), lang),
        "message": message,
        "hint": problem.get("hint"),
        "code": problem.get("code", ""),
        "request_id": problem.get("request_id", ""),
        "errors": problem.get("errors", []),
    }
    return render(request, "error_page.html", context, status=status, principal=principal)


def install(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_exception_handler(LoginRequired, _on_login_required)
    app.state.html_error_renderer = render_error
    for area in AREAS:
        app.include_router(area.router)
        nav.register(*area.nav)
