"""Request dependencies and form helpers shared by the console's areas.

Pages authenticate exactly like the API (``shoal.api.deps``: session cookie, and
the CSRF token on every unsafe request); a page without a session redirects to
the login page instead of answering 401. :func:`attempt` runs a service call
for a form and turns a domain refusal into an inline message, rolling the
transaction back and auditing the refusal as the API's error handler does.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Annotated, TypeVar
from urllib.parse import urlsplit

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from shoal.api.deps import OptionalPrincipal, SessionDep
from shoal.api.problems import language_of
from shoal.audit import service as audit
from shoal.context import AppContext
from shoal.core.errors import ShoalError
from shoal.core.i18n import translate
from shoal.iam.authz import Principal
from shoal.web import nav

__all__ = ["FormError", "LoginRequired", "PagePrincipal", "attempt", "page_principal", "return_path"]

log = logging.getLogger("shoal.web")
T = TypeVar("T")


class LoginRequired(Exception):
    """Raised by page dependencies when nobody is signed in; answered with a redirect to /login."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


def return_path(request: Request) -> str:
    """Where to come back to after logging in: this page, or for a form post the page the form was on."""
    if request.method == "GET":
        return request.url.path + (f"?{request.url.query}" if request.url.query else "")
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc == request.url.netloc and referer.path.startswith("/"):
        return referer.path + (f"?{referer.query}" if referer.query else "")
    return "/"


async def page_principal(request: Request, principal: OptionalPrincipal, session: SessionDep) -> Principal:
    """The signed-in user of a page (or a redirect to log in); also counts the sidebar badges."""
    if principal is None:
        raise LoginRequired(return_path(request))
    try:
        request.state.nav_badges = await nav.badges_for(session, principal)
    except ShoalError:  # a counter that cannot be computed (say, CMDB down) must not break every page
        log.warning("could not compute sidebar badges", exc_info=True)
    return principal


PagePrincipal = Annotated[Principal, Depends(page_principal)]


@dataclass(frozen=True)
class FormError:
    """A refusal shown next to the form that caused it."""

    code: str
    message: str
    hint: str | None
    field: str | None
    status: int


async def attempt(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    call: Awaitable[T],
    *,
    action: str,
    target_type: str = "",
    target_id: str = "",
    project_code: str | None = None,
) -> T | FormError:
    """Await a service call; on a domain error roll back, audit the refusal, and return it localised."""
    try:
        return await call
    except ShoalError as error:
        await session.rollback()
        lang = language_of(request)
        await _audit_refusal(request, principal, error, action=action, target_type=target_type,
                             target_id=target_id, project_code=project_code)
        return FormError(
            code=error.code,
            message=translate(error.message_key, lang, **error.params),
            hint=translate(error.hint_key, lang, **error.params) if error.hint_key else None,
            field=error.field,
            status=error.status,
        )


async def _audit_refusal(request: Request, principal: Principal, error: ShoalError, *, action: str,
                         target_type: str, target_id: str, project_code: str | None) -> None:
    ctx: AppContext = request.app.state.ctx
    try:
        async with ctx.db.session() as other:
            await audit.record(other, principal, action, target_type=target_type, target_id=target_id[:128],
                               project_code=project_code, outcome="denied" if error.status == 403 else "failure",
                               detail={"code": error.code, "via": "web"})
    except Exception:  # the refusal must still reach the user even if the audit write fails
        log.exception("could not write audit entry for a refused form")
