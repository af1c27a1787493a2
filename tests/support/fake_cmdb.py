"""A small fake of BK-CMDB's ``search_business`` ESB endpoint.

It checks the app code/secret like the ESB would, pages with ``start``/``limit``
and reports ``count``, so the adapter's paging and error handling are exercised.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

APP_CODE = "shoal"
APP_SECRET = "cmdb-secret-for-tests"


def make_app(businesses: list[dict[str, Any]], calls: list[dict[str, Any]]) -> Starlette:
    async def search_business(request: Request) -> JSONResponse:
        body = await request.json()
        calls.append(body)
        if body.get("bk_app_code") != APP_CODE or body.get("bk_app_secret") != APP_SECRET:
            return JSONResponse({"result": False, "code": 1306000, "message": "app authentication failed",
                                 "data": None})
        page = body.get("page") or {}
        start, limit = int(page.get("start", 0)), int(page.get("limit", 500))
        return JSONResponse({"result": True, "code": 0, "message": "success",
                             "data": {"count": len(businesses), "info": businesses[start:start + limit]}})

    return Starlette(routes=[Route("/api/c/compapi/v2/cc/search_business/", search_business, methods=["POST"])])
