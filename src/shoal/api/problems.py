"""The one place errors become HTTP responses (problem+json, RFC 9457).

Domain errors carry a message key; here it is rendered in the caller's language.
Web pages register an HTML renderer so a browser sees a page, not JSON.
Refusals and failures of mutating requests are written to the audit log here,
in their own transaction, since the request's transaction has rolled back.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from shoal.audit import service as audit
from shoal.core.errors import ShoalError, Throttled
from shoal.core.i18n import negotiate, translate
from shoal.core.logging import request_id_var

__all__ = ["HtmlRenderer", "install", "language_of", "problem"]

log = logging.getLogger("shoal.api")
PROBLEM = "application/problem+json"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})

HtmlRenderer = Callable[[Request, int, dict[str, Any]], Awaitable[Response]]


def language_of(request: Request) -> str:
    chosen = request.cookies.get("shoal_lang")
    if chosen in ("zh-CN", "en"):
        return chosen
    return negotiate(request.headers.get("accept-language"))


def problem(request: Request, status: int, code: str, message: str, hint: str | None = None,
            **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"https://shoal.dev/problems/{code}",
        "title": code,
        "status": status,
        "code": code,
        "message": message,
        "request_id": request_id_var.get() or str(uuid.uuid4()),
    }
    if hint:
        body["hint"] = hint
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


def _wants_html(request: Request) -> bool:
    path = request.url.path
    if path.startswith(("/api/", "/clusters/", "/bcsapi/")):
        return False
    return "text/html" in request.headers.get("accept", "")


async def _render(request: Request, status: int, body: dict[str, Any],
                  headers: dict[str, str] | None = None) -> Response:
    renderer: HtmlRenderer | None = getattr(request.app.state, "html_error_renderer", None)
    if renderer is not None and _wants_html(request):
        response = await renderer(request, status, body)
        response.headers.update(headers or {})
        return response
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers or None)


async def _audit_refusal(request: Request, error: ShoalError) -> None:
    if request.method not in UNSAFE or not request.url.path.startswith("/api/"):
        return
    ctx = getattr(request.app.state, "ctx", None)
    principal = getattr(request.state, "principal", None)
    if ctx is None or principal is None:
        return
    outcome = "denied" if error.status == 403 else "failure"
    route = request.scope.get("route")
    action = getattr(route, "name", "") or request.url.path
    try:
        async with ctx.db.session() as session:
            await audit.record(session, principal, action, target_id=request.url.path[:128], outcome=outcome,
                               detail={"code": error.code, "method": request.method})
    except Exception:  # the refusal itself must still reach the caller
        log.exception("could not write audit entry for a refused request")


async def _on_shoal_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ShoalError)
    lang = language_of(request)
    await _audit_refusal(request, exc)
    retry_after = exc.retry_after if isinstance(exc, Throttled) else None
    body = problem(
        request, exc.status, exc.code, translate(exc.message_key, lang, **exc.params),
        translate(exc.hint_key, lang, **exc.params) if exc.hint_key else None,
        field=exc.field, retry_after=retry_after,
    )
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return await _render(request, exc.status, body, headers)


def _describe_validation(errors: list[Any]) -> tuple[str, list[dict[str, Any]]]:
    fields = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
        fields.append({"field": ".".join(loc) or "body", "problem": err.get("msg", "")})
    summary = "; ".join(f"{f['field']}: {f['problem']}" for f in fields[:5])
    return summary, fields


async def _on_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    lang = language_of(request)
    summary, fields = _describe_validation(list(exc.errors()))
    body = problem(request, 422, "validation_failed", translate("error.validation", lang, detail=summary),
                   translate("hint.validation", lang), errors=fields)
    return await _render(request, 422, body)


async def _on_http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    lang = language_of(request)
    if exc.status_code == 404:
        body = problem(request, 404, "not_found", translate("error.not_found_route", lang, path=request.url.path))
    elif exc.status_code == 405:
        body = problem(request, 405, "method_not_allowed",
                       translate("error.method_not_allowed", lang, method=request.method))
    else:
        body = problem(request, exc.status_code, "http_error", str(exc.detail))
    return await _render(request, exc.status_code, body)


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    request_id = request_id_var.get() or str(uuid.uuid4())
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    body = problem(request, 500, "internal", translate("error.internal", language_of(request), request_id=request_id))
    return await _render(request, 500, body)


def install(app: FastAPI) -> None:
    app.add_exception_handler(ShoalError, _on_shoal_error)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(Exception, _on_unexpected)
