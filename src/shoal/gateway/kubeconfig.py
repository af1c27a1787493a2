"""The per-user kubeconfig: server = the gateway's ``/clusters/{id}``, user = a fresh gateway token.

Who calls it: the kubeconfig API route (and through it ``shoal kubeconfig`` and
the button on the cluster page). The token is issued by ``gateway.tokens`` in
the caller's transaction; the YAML is built here and shown once.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timedelta

import yaml
from sqlalchemy.ext.asyncio import AsyncSession

from shoal.gateway import tokens
from shoal.iam.authz import Principal

__all__ = ["IssuedKubeconfig", "issue_kubeconfig", "kubeconfig_yaml"]


@dataclass(frozen=True)
class IssuedKubeconfig:
    cluster_id: str
    server: str
    token_id: int
    expires_at: datetime | None
    kubeconfig: str

    def __repr__(self) -> str:
        return f"IssuedKubeconfig(cluster_id={self.cluster_id!r}, token_id={self.token_id!r}, kubeconfig=<hidden>)"


def kubeconfig_yaml(*, server: str, cluster_id: str, username: str, token: str, ca_pem: str | None,
                    namespace: str | None = None) -> str:
    """A kubeconfig with one cluster, user and context, named after the cluster id."""
    cluster: dict[str, str] = {"server": server}
    if ca_pem:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem.encode()).decode()
    context: dict[str, str] = {"cluster": cluster_id, "user": f"{username}@{cluster_id}"}
    if namespace:
        context["namespace"] = namespace
    doc = {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": cluster_id, "cluster": cluster}],
        "users": [{"name": f"{username}@{cluster_id}", "user": {"token": token}}],
        "contexts": [{"name": cluster_id, "context": context}],
        "current-context": cluster_id,
    }
    return yaml.safe_dump(doc, sort_keys=False)


async def issue_kubeconfig(session: AsyncSession, actor: Principal, cluster_id: str, *, base_url: str,
                           expires_in: timedelta, ca_pem: str | None, namespace: str | None = None
                           ) -> IssuedKubeconfig:
    """A kubeconfig for ``actor`` (who may view the cluster) with a new gateway token bound to it."""
    cluster = await tokens.get_cluster(session, actor, cluster_id)
    row, token = await tokens.issue_token(session, actor, cluster, expires_in=expires_in)
    server = f"{base_url.rstrip('/')}/clusters/{cluster.id}"
    text = kubeconfig_yaml(server=server, cluster_id=cluster.id, username=actor.username, token=token,
                           ca_pem=ca_pem, namespace=namespace)
    return IssuedKubeconfig(cluster_id=cluster.id, server=server, token_id=row.id, expires_at=row.expires_at,
                            kubeconfig=text)
