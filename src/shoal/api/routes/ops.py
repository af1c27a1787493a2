"""Health, readiness and Prometheus metrics for operators and load balancers.

``/healthz`` and ``/readyz`` are open (load balancers and kubelets call them
without credentials; they say nothing but ok). ``/metrics`` names routes, clusters
and traffic, so it is closed unless ``SHOAL_METRICS_TOKEN`` is set, and then needs
that token as a bearer token, which Prometheus sends with
``authorization: {credentials: …}`` in a scrape config or a ServiceMonitor. The
gateway's front hands every path outside ``/clusters/`` to this app, so this is
the only place metrics are served.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from shoal.api.deps import CtxDep
from shoal.core.errors import PermissionDenied, Unauthenticated
from shoal.core.security import tokens_equal
from shoal.gateway.tls import expiry_warning

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The database is reachable", responses={503: {"description": "not ready"}})
async def readyz(ctx: CtxDep, response: Response) -> dict[str, str]:
    """Ready when the database answers; ``certificate`` says ``expires <time>`` within 30 days of the served
    certificate's end (still ready: a warning for monitoring, public anyway in the TLS handshake)."""
    expires = expiry_warning(ctx.settings)
    certificate = {"certificate": f"expires {expires.isoformat()}"} if expires is not None else {}
    try:
        await ctx.db.ping()
    except Exception as e:  # any driver error means "not ready"; the type is reported, not hidden
        response.status_code = 503
        return {"status": "unavailable", "database": type(e).__name__, **certificate}
    return {"status": "ok", "database": "ok", **certificate}


def check_metrics_token(configured: str, authorization: str) -> None:
    """Let a scrape through only with the configured token; with none configured, nobody."""
    if not configured:
        raise PermissionDenied("error.metrics_closed", error_code="metrics_closed", hint="hint.metrics_closed")
    scheme, _, sent = authorization.partition(" ")
    if scheme.lower() != "bearer" or not tokens_equal(sent.strip(), configured):
        raise Unauthenticated("error.metrics_token", error_code="metrics_token", hint="hint.metrics_token")


async def _metrics_token(ctx: CtxDep, authorization: Annotated[str, Header(include_in_schema=False)] = "") -> None:
    check_metrics_token(ctx.settings.metrics_token, authorization)


@router.get("/metrics", summary="Prometheus metrics (bearer SHOAL_METRICS_TOKEN)", response_class=Response,
            dependencies=[Depends(_metrics_token)],
            responses={401: {"description": "no or wrong token"}, 403: {"description": "no token configured"}})
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
