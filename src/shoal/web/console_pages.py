"""The web console's pages (WebConsole, R20): a browser terminal with kubectl for a cluster, in tabs.

Who uses it: the "WebConsole" buttons of the cluster page and the cluster list
link to ``/console/{cluster_id}``. The page (``templates/console/terminal.html``
with ``static/js/console.js``) opens a first tab on that cluster; more tabs can
be opened on it or on any other cluster the user may view. Each tab creates a
session through the API (``POST /api/v1/clusters/{id}/console/sessions``) and
speaks the websocket framing of ``console.framing``. Admins also get
``/console/recordings`` (the recorded sessions) and ``/console/recordings/{session}``,
a replay of one.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from shoal.api.deps import CtxDep, SessionDep
from shoal.api.problems import language_of
from shoal.clusters import service as clusters
from shoal.console.recording import list_recordings, recording_path
from shoal.core.errors import NotFound
from shoal.core.i18n import translate
from shoal.iam.authz import Action, require
from shoal.web.deps import PagePrincipal
from shoal.web.nav import NavItem
from shoal.web.render import render

__all__ = ["nav", "router"]

router = APIRouter(include_in_schema=False)
nav = (NavItem("ui.console.recordings", "/console/recordings", "clock", order=92, action=Action.AUDIT_VIEW_ALL,
                section_key="ui.nav.section.admin"),)

ClusterIdPath = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9-]+$")]
SessionIdPath = Annotated[str, Path(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
#: Texts the script shows, by close reason (``console.sessions.CloseReason``) and state.
_SCRIPT_TEXTS = ("ui.console.connecting", "ui.console.connected", "ui.console.closed", "ui.console.reconnect",
                 "ui.console.close_tab", "ui.console.failed", "console.closed.exit", "console.closed.idle_timeout",
                 "console.closed.time_limit", "console.closed.revoked", "console.closed.ended",
                 "console.closed.error", "console.closed.client_closed")


def _human(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{int(seconds // 3600)} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)} min"
    return f"{seconds:g} s"


@router.get("/console/recordings")
async def recordings_page(request: Request, principal: PagePrincipal, ctx: CtxDep) -> Response:
    require(principal, Action.AUDIT_VIEW_ALL)
    return render(request, "console/recordings.html", {"recordings": list_recordings(ctx.settings.data_dir)})


@router.get("/console/{cluster_id}")
async def console_page(request: Request, principal: PagePrincipal, session: SessionDep, ctx: CtxDep,
                       cluster_id: ClusterIdPath) -> Response:
    cluster = await clusters.get_cluster(session, principal, cluster_id)
    if cluster.status == "DELETED":
        raise NotFound("error.cluster_not_found", id=cluster_id)
    others = (await clusters.list_clusters(session, principal, clusters.ClusterFilter(), limit=200)).items
    lang = language_of(request)
    settings = ctx.settings.console
    idle, limit = _human(settings.idle_timeout), _human(settings.hard_limit)
    texts = {key: translate(key, lang, idle=idle, limit=limit, message="{message}") for key in _SCRIPT_TEXTS}
    return render(request, "console/terminal.html", {
        "cluster": cluster, "clusters": others, "texts": texts, "idle": idle, "limit": limit,
    })


@router.get("/console/recordings/{session_id}")
async def replay_page(request: Request, principal: PagePrincipal, ctx: CtxDep, session_id: SessionIdPath) -> Response:
    require(principal, Action.AUDIT_VIEW_ALL)
    if recording_path(ctx.settings.data_dir, session_id) is None:
        raise NotFound("error.console_not_found", id=session_id)
    info = next((r for r in list_recordings(ctx.settings.data_dir) if r.session_id == session_id), None)
    return render(request, "console/replay.html", {"session_id": session_id, "info": info})
