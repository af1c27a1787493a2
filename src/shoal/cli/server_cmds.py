"""Commands that run the platform itself: ``shoal server`` and ``shoal db upgrade``.

Server-side: the settings, logging set-up, SQLAlchemy and the app are imported
inside the functions, so loading this module (as every ``shoal`` command does
to register it) costs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from shoal.core.config import Settings

db_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                          help="Database schema.")


def settings_or_exit() -> Settings:
    """The settings from the environment; a wrong one ends the command with a clear message, not a traceback."""
    from pydantic import ValidationError

    from shoal.core.config import describe_settings_error, load_settings

    try:
        return load_settings()
    except ValidationError as e:
        typer.echo("Shoal cannot start: the configuration is wrong.\n" + describe_settings_error(e), err=True)
        raise typer.Exit(2) from None


def server() -> None:
    """Run the Shoal server: API, web UI and an in-process task worker."""
    import asyncio

    from shoal.core.logging import configure_logging
    from shoal.server import announce, prepare, serve

    settings = settings_or_exit()
    configure_logging(settings.log_level, settings.log_json)
    ctx, created = asyncio.run(prepare(settings))
    announce(settings, created)
    print(f"Shoal is listening on {settings.base_url}  (data dir: {settings.data_dir.resolve()})", flush=True)
    if settings.tls_generated:
        from shoal.gateway.tls import tls_files

        files = tls_files(settings)  # made here on first start (serve() finds them); kubeconfigs embed the CA
        if files is not None and files.ca is not None:
            print(f"HTTPS with a certificate from Shoal's own CA {files.ca.resolve()}: trust it in browsers "
                  f"(kubeconfigs embed it; 'shoal login --ca {files.ca.resolve()}' elsewhere)", flush=True)
    serve(settings, ctx)


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="Alembic revision to reach.")) -> None:
    """Apply database migrations (the server also does this at start)."""
    from shoal.store.migrate import upgrade

    settings = settings_or_exit()
    upgrade(settings.effective_database_url, revision)
    typer.echo(f"database at revision {revision}")


def register(app: typer.Typer) -> None:
    app.command("server")(server)
    app.add_typer(db_app, name="db")
