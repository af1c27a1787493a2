"""Health, readiness and Prometheus metrics for operators and load balancers."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from shoal.api.deps import CtxDep

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The database is reachable", responses={503: {"description": "not ready"}})
async def readyz(ctx: CtxDep, response: Response) -> dict[str, str]:
    try:
        await ctx.db.ping()
    except Exception as e:  # any driver error means "not ready"; the type is reported, not hidden
        response.status_code = 503
        return {"status": "unavailable", "database": type(e).__name__}
    return {"status": "ok", "database": "ok"}


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
