"""``shoal kubeconfig CLUSTER_ID``: a kubeconfig that reaches the cluster through Shoal's gateway as you.

The server mints a gateway token bound to the cluster (lifetime ``--expires``,
default the server's ``SHOAL_GATEWAY__KUBECONFIG_EXPIRES``) and returns the
kubeconfig; it is printed, or written with mode 0600 to ``-o FILE``. Revoke it
with ``shoal kubeconfig-revoke TOKEN_ID`` (the id is printed with ``-o``).
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

from shoal.cli.client import ApiClient, out

__all__ = ["register"]


def kubeconfig(
    cluster_id: str = typer.Argument(..., help="Cluster id, e.g. BCS-K8S-40000"),
    expires: str = typer.Option(None, "--expires", help="Token lifetime: 8h, 7d … (default: the server's)"),
    namespace: str = typer.Option(None, "--namespace", "-n", help="Default namespace of the context"),
    output: str = typer.Option(None, "--output", "-o", help="Write to this file (mode 0600) instead of stdout"),
) -> None:
    """Print (or write) a kubeconfig for CLUSTER_ID whose server is Shoal's gateway and whose token is yours."""
    body = ApiClient().post(f"/api/v1/clusters/{cluster_id}/kubeconfig", {"expires": expires, "namespace": namespace})
    if not output or output == "-":
        typer.echo(body["kubeconfig"], nl=False)
        return
    path = Path(output).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(body["kubeconfig"])
    out.print(f"wrote {path} for {body['server']} (token {body['token_id']}, expires {body['expires_at']})",
              highlight=False)
    out.print(f"use it:   KUBECONFIG={path} kubectl get nodes", highlight=False)
    out.print(f"revoke:   shoal kubeconfig-revoke {body['token_id']}", highlight=False)


def revoke(token_id: int = typer.Argument(..., help="Token id printed by 'shoal kubeconfig -o'")) -> None:
    """Revoke a kubeconfig's gateway token: kubectl is refused with it from now on."""
    ApiClient().delete(f"/api/v1/gateway/tokens/{token_id}")
    typer.echo(f"revoked gateway token {token_id}")


def register(app: typer.Typer) -> None:
    app.command("kubeconfig")(kubeconfig)
    app.command("kubeconfig-revoke")(revoke)
