"""Serve an app in the test's own event loop behind the gateway's front, as ``shoal server`` does."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import uvicorn

from shoal.gateway.front import front_protocol
from shoal.gateway.proxy import GatewayFront
from tests.support.server import free_port

__all__ = ["serving_front"]


@contextlib.asynccontextmanager
async def serving_front(app: Any, *, front: bool = True) -> AsyncIterator[str]:
    """``http://127.0.0.1:<port>`` of a uvicorn server with ``gateway.front`` as its protocol
    (``front=False``: uvicorn's own protocol, so every gateway request takes the ASGI gateway)."""
    port = free_port()
    config = uvicorn.Config(GatewayFront(app), http=front_protocol(app.state.gateway) if front else "httptools",
                            host="127.0.0.1", port=port, lifespan="off", log_config=None,
                            timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(10):
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
