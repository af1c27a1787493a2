"""Build the ASGI application: API routes, web pages, error rendering, middleware.

Called by ``shoal server`` (after migrations and bootstrap) and by tests with a
context of their own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from shoal.api import problems
from shoal.api.middleware import RequestMetricsMiddleware
from shoal.api.routes import audit, auth, businesses, clusters, kubeconfigs, ops, projects, requests, tasks, users
from shoal.api.routes import console as console_routes
from shoal.api.routes import nodes as node_routes
from shoal.context import AppContext
from shoal.gateway.core import build_gateway
from shoal.gateway.proxy import GatewayDispatch

__all__ = ["create_app"]

API_ROUTERS: tuple[APIRouter, ...]
API_ROUTERS = (auth.router, users.router, projects.router, businesses.router, requests.router, audit.router,
               tasks.router, clusters.router, kubeconfigs.router)
API_ROUTERS += (node_routes.router,)
API_ROUTERS += (console_routes.router,)


def create_app(ctx: AppContext, *, with_web: bool = True) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await app.state.gateway.aclose()
        await ctx.db.dispose()

    app = FastAPI(
        title="Shoal",
        version="0.1.0",
        summary="Multi-cluster Kubernetes management",
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    problems.install(app)
    app.include_router(ops.router)
    for router in API_ROUTERS:
        app.include_router(router)
    app.state.gateway = build_gateway(ctx)
    if with_web:
        from shoal.web import pages

        pages.install(app)
    app.add_middleware(GatewayDispatch, gateway=app.state.gateway)  # /clusters/{id}/…: the kube API gateway
    app.add_middleware(RequestMetricsMiddleware)
    return app
