"""The ``shoal`` command: server-side commands (server, worker, db) and the API client commands.

Each group lives in its own module and is registered here; client commands talk
to a Shoal server over HTTP (``SHOAL_URL`` + ``SHOAL_TOKEN``, or ``shoal login``).
"""

from __future__ import annotations

import typer

from shoal.cli import admin, client_cmds, clusters, kubeconfig, server_cmds, tasks
from shoal.cli import nodes as node_cmds

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Shoal: multi-cluster Kubernetes management.")

server_cmds.register(app)
client_cmds.register(app)
admin.register(app)
tasks.register(app)
clusters.register(app)
node_cmds.register(app)
kubeconfig.register(app)


def main() -> None:
    app()
