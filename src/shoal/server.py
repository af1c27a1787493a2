"""Start-up of ``shoal server``: migrate, bootstrap the first admin, serve.

Kept apart from the CLI so tests and ``make demo`` can prepare a context the
same way the real server does.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
from collections.abc import Coroutine
from typing import Any

import uvicorn

from shoal.clusters import health
from shoal.context import AppContext, build_context
from shoal.core.config import Settings, write_private
from shoal.gateway.front import front_protocol
from shoal.gateway.proxy import GatewayFront
from shoal.gateway.tls import expiry_warning, tls_files
from shoal.iam.accounts import Bootstrap, bootstrap_admin
from shoal.store.migrate import upgrade_async
from shoal.tasks.worker import WorkerSettings, run_beside

__all__ = ["prepare", "serve"]

log = logging.getLogger("shoal.server")
PASSWORD_FILE = "initial-admin-password"


async def prepare(settings: Settings) -> tuple[AppContext, Bootstrap | None]:
    """Apply migrations and create the first admin on an empty database."""
    await upgrade_async(settings.effective_database_url)
    ctx = build_context(settings)
    async with ctx.db.session() as session:
        created = await bootstrap_admin(session, password=settings.admin_password, token=settings.admin_token)
    if created is not None and created.password_generated and created.password:
        write_private(settings.data_dir / PASSWORD_FILE, created.password + "\n")
    # The server runs on a new event loop; connections opened on this one must not be reused there.
    await ctx.db.dispose()
    return ctx, created


def announce(settings: Settings, created: Bootstrap | None) -> None:
    """Tell the operator, once, how to log in for the first time."""
    if created is None:
        return
    if created.password_generated:
        print(f"First start: created user 'admin' with password: {created.password}")
        print(f"(also written to {settings.data_dir / PASSWORD_FILE}, readable by you only)")
    else:
        print("First start: created user 'admin' with the password from SHOAL_ADMIN_PASSWORD")


def serve(settings: Settings, ctx: AppContext) -> None:
    from shoal.api.app import create_app

    app = create_app(ctx)
    tls = tls_files(settings)  # HTTPS unless SHOAL_PLAIN_HTTP (kubectl sends tokens only over HTTPS)
    log_tls(settings)
    # /clusters/… is relayed by the gateway's own front (gateway.front); other requests go on to the app
    config = uvicorn.Config(GatewayFront(app), http=front_protocol(app.state.gateway), host=settings.host,
                            port=settings.port, log_config=None,
                            proxy_headers=True, ws_ping_interval=10,
                            # live streams (task logs, consoles) never end by themselves: cut them at shutdown
                            timeout_graceful_shutdown=5,
                            ssl_certfile=str(tls.cert) if tls else None, ssl_keyfile=str(tls.key) if tls else None)
    server = uvicorn.Server(config)
    # The in-process task worker shares the server's event loop (SHOAL_WORKER_IN_PROCESS=false turns it off).
    # The cluster health loop runs beside them (SHOAL_CLUSTER_HEALTH_ENABLED=false turns it off).
    main = run_beside(health.run_beside(server.serve(), ctx), ctx, WorkerSettings(),
                      stopping=lambda: server.should_exit)
    run_loop(main, settings.event_loop)


def log_tls(settings: Settings) -> None:
    """Say once at start what the operator must act on: a certificate near its end, plain HTTP without a proxy."""
    expires = expiry_warning(settings)
    if expires is not None:
        log.warning("the server certificate %s expires on %s (within 30 days): renew it, or Shoal's users and "
                    "kubectl will be refused", settings.tls_cert or settings.data_dir / "tls" / "server.crt",
                    expires.isoformat())
    if "SHOAL_TLS_SELF_SIGNED" in os.environ:
        log.warning("SHOAL_TLS_SELF_SIGNED is no longer read: HTTPS with a generated CA is the default; set "
                    "SHOAL_PLAIN_HTTP=true for plain HTTP behind a TLS-terminating proxy")
    if not settings.tls_enabled and not settings.users_on_https:
        log.warning("SHOAL_PLAIN_HTTP=true without an https SHOAL_PUBLIC_URL: kubectl will not send its token "
                    "to the gateway, and passwords cross the network readable")


def run_loop(main: Coroutine[Any, Any, None], event_loop: str) -> None:
    """Run ``main`` on uvloop when asked and installed (a uvicorn[standard] dependency), else on asyncio's loop.

    uvloop lowers the event loop's own cost per request, which is much of what the kube
    gateway spends on a proxied request (20-40% more gateway throughput measured here).
    """
    if event_loop == "uvloop" and importlib.util.find_spec("uvloop") is not None:
        import uvloop

        uvloop.run(main)
        return
    asyncio.run(main)
