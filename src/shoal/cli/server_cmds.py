"""Commands that run the platform itself: ``shoal server`` and ``shoal db upgrade``."""

from __future__ import annotations

import asyncio

import typer

from shoal.core.config import load_settings
from shoal.core.logging import configure_logging

db_app = typer.Typer(no_args_is_help=True, help="Database schema.")


def server() -> None:
    """Run the Shoal server: API, web UI and an in-process task worker."""
    from shoal.server import announce, prepare, serve

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_json)
    ctx, created = asyncio.run(prepare(settings))
    announce(settings, created)
    print(f"Shoal is listening on {settings.base_url}  (data dir: {settings.data_dir.resolve()})", flush=True)
    serve(settings, ctx)


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="Alembic revision to reach.")) -> None:
    """Apply database migrations (the server also does this at start)."""
    from shoal.store.migrate import upgrade

    settings = load_settings()
    upgrade(settings.effective_database_url, revision)
    typer.echo(f"database at revision {revision}")


def register(app: typer.Typer) -> None:
    app.command("server")(server)
    app.add_typer(db_app, name="db")
