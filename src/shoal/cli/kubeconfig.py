"""``shoal kubeconfig CLUSTER_ID``: a kubeconfig that reaches the cluster through Shoal's gateway as you.

The server mints a gateway token bound to the cluster (lifetime ``--expires``,
default the server's ``SHOAL_GATEWAY__KUBECONFIG_EXPIRES``) and returns the
kubeconfig; it is printed (``-o yaml``, the default, or ``-o json``), or written
with mode 0600 to ``--file FILE``. ``-o FILE`` — the older spelling, from before
``-o`` meant an output format in every command — still writes the file, with a
deprecation warning. Revoke it with ``shoal kubeconfig-revoke TOKEN_ID`` (the id
is printed with ``--file``).
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

from shoal.cli.client import ApiClient
from shoal.cli.output import tr

__all__ = ["register"]


def kubeconfig(
    cluster_id: str = typer.Argument(..., help="Cluster id, e.g. BCS-K8S-40000"),
    expires: str = typer.Option(None, "--expires", help="Token lifetime: 8h, 7d … (default: the server's)"),
    namespace: str = typer.Option(None, "--namespace", "-n", help="Default namespace of the context"),
    file: str = typer.Option(None, "--file", help="Write to this file (mode 0600) instead of standard output"),
    output: str = typer.Option("yaml", "--output", "-o",
                               help="yaml or json (a file name here is the deprecated spelling of --file)"),
) -> None:
    """Print (or write) a kubeconfig for CLUSTER_ID whose server is Shoal's gateway and whose token is yours."""
    if output not in ("yaml", "json", "-") and not file:
        typer.echo(tr("cli.kubeconfig.output_deprecated", path=output), err=True)
        file = output
    body = ApiClient().post(f"/api/v1/clusters/{cluster_id}/kubeconfig", {"expires": expires, "namespace": namespace})
    if not file or file == "-":
        if output == "json":
            import json

            import yaml

            typer.echo(json.dumps(yaml.safe_load(body["kubeconfig"]), indent=2))
        else:
            typer.echo(body["kubeconfig"], nl=False)
        return
    path = Path(file).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(body["kubeconfig"])
    typer.echo(f"wrote {path} for {body['server']} (token {body['token_id']}, expires {body['expires_at']})")
    typer.echo(f"use it:   KUBECONFIG={path} kubectl get nodes")
    typer.echo(f"revoke:   shoal kubeconfig-revoke {body['token_id']}")


def revoke(token_id: int = typer.Argument(..., help="Token id printed by 'shoal kubeconfig --file'")) -> None:
    """Revoke a kubeconfig's gateway token: kubectl is refused with it from now on."""
    ApiClient().delete(f"/api/v1/gateway/tokens/{token_id}")
    typer.echo(f"revoked gateway token {token_id}")


def register(app: typer.Typer) -> None:
    app.command("kubeconfig")(kubeconfig)
    app.command("kubeconfig-revoke")(revoke)
