"""The ``shoal`` command: server-side commands (server, worker, db) and the API client commands.

Each group lives in its own module and is registered here; client commands talk
to a Shoal server over HTTP (``SHOAL_URL`` + ``SHOAL_TOKEN``, or ``shoal login``).

Every command is a new process, so start-up is most of what a user waits for.
The command modules import only typer and the CLI's own small modules at the
top; httpx, rich, yaml and the message catalogue load when a command uses them,
and the server side (settings, SQLAlchemy, FastAPI, the task engine) only inside
the server-side commands' functions. tests/e2e/test_cli_conventions.py checks
that ``shoal --help`` and the client commands never load it.
"""

from __future__ import annotations

import sys
from types import ModuleType

import typer

from shoal.cli import _plain_params, admin, client_cmds, clusters, kubeconfig, server_cmds, tasks
from shoal.cli import nodes as node_cmds

_plain_params.install()  # before any command runs: typer converts parameters when a command line is parsed


def _new_app() -> typer.Typer:
    return typer.Typer(no_args_is_help=True, rich_markup_mode=None, add_completion=False,
                       pretty_exceptions_enable=False, help="Shoal: multi-cluster Kubernetes management.")


app = _new_app()


def _version(value: bool) -> None:
    """``--version``: the client's version, and the server's when one is configured and answers."""
    if not value:
        return
    from importlib.metadata import version

    from shoal.cli.client import ApiClient, configured_url
    from shoal.cli.output import tr

    typer.echo(tr("cli.version.client", version=version("shoal")))
    if not configured_url():
        typer.echo(tr("cli.version.no_server"), err=True)
        raise typer.Exit(0)
    client = ApiClient()
    try:
        info = client.get("/api/openapi.json")["info"]
    except typer.Exit:  # unreachable: the client already said why on standard error
        raise typer.Exit(0) from None
    typer.echo(tr("cli.version.server", version=info["version"], url=client.url))
    raise typer.Exit(0)


def _root(version: bool = typer.Option(False, "--version", is_eager=True, callback=_version,
                                       help="Print the client's and the server's version and exit")) -> None:
    """Shoal: multi-cluster Kubernetes management."""


MODULES: tuple[ModuleType, ...] = (server_cmds, client_cmds, admin, tasks, clusters, node_cmds, kubeconfig)
# The module that registers each top-level command; main() builds only that one's commands.
MODULE_OF: dict[str, ModuleType] = {
    "server": server_cmds, "db": server_cmds, "login": client_cmds, "user": client_cmds, "token": client_cmds,
    "project": admin, "business": admin, "request": admin, "audit": admin, "task": tasks, "worker": tasks,
    "cluster": clusters, "node": node_cmds, "kubeconfig": kubeconfig, "kubeconfig-revoke": kubeconfig,
}

app.callback()(_root)
for _module in MODULES:
    _module.register(app)


def main() -> None:
    """Run the command named on the command line.

    Typer turns every registered command's signature into a click command before
    it parses anything — about a third of the start-up with all of them — so a
    command line that starts with a known command gets an app with only that
    command's group. Anything else (``--help``, ``--version``, a typo) gets the
    full app, which lists every command and suggests the right one.
    """
    module = MODULE_OF.get(sys.argv[1] if len(sys.argv) > 1 else "")
    if module is None:
        app()
        return
    slim = _new_app()
    slim.callback()(_root)
    module.register(slim)
    slim()
