"""Request id, access log and Prometheus metrics for every HTTP request.

A plain ASGI middleware (not BaseHTTPMiddleware) so streamed responses — watch,
logs -f, the console — pass through without buffering.
"""

from __future__ import annotations

import logging
import time
import uuid

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shoal.core.logging import request_id_var

__all__ = ["RequestMetricsMiddleware"]

log = logging.getLogger("shoal.access")

REQUESTS = Counter("shoal_http_requests_total", "HTTP requests handled", ["method", "route", "status"])
LATENCY = Histogram(
    "shoal_http_request_duration_seconds", "HTTP request latency", ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


class RequestMetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")[:64]
        request_id = incoming or uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            REQUESTS.labels(scope["method"], template, str(status)).inc()
            LATENCY.labels(scope["method"], template).observe(elapsed)
            log.info("request", extra={"method": scope["method"], "path": scope["path"], "status": status,
                                       "duration_ms": round(elapsed * 1000, 1)})
            request_id_var.reset(token)
