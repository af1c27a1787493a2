"""Refuse a filter that names a project or cluster which does not exist, with the API's own error.

The list endpoints filter by project or cluster and answer an empty page for a
name that matches nothing, so ``shoal cluster list --project nope`` used to print
an empty table and exit 0 — a typo looked like "no clusters". Before listing,
the CLI reads the named project or cluster; the API's problem for it (code,
message and hint in the user's language: not found, or not allowed to view)
is what the user sees, and the command exits 1.
"""

from __future__ import annotations

from urllib.parse import quote

from shoal.cli.client import ApiClient

__all__ = ["require_cluster", "require_project"]


def require_project(client: ApiClient, code: str | None) -> None:
    if code:
        client.get(f"/api/v1/projects/{quote(code, safe='')}")


def require_cluster(client: ApiClient, cluster_id: str | None) -> None:
    if cluster_id:
        client.get(f"/api/v1/clusters/{quote(cluster_id, safe='')}")
