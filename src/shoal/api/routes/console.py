"""The web console's API: create a session, its websocket terminal, end it; recordings for admins (R20).

Thin: validate, call ``console.sessions.ConsoleManager``, return a schema. A
session needs ``cluster_view`` on the cluster; what its kubectl may then do is
decided per request by the gateway with the user's own rights. The websocket
authenticates like the API (bearer API token, or the web session cookie — then
the ``Origin`` must be this server, so another site cannot open a terminal
with a visitor's cookie) and only the session's owner (or an admin) may
attach. Framing: ``console.framing``. Close codes: ``console.sessions.CLOSE_CODES``
with the reason (``idle_timeout``, ``time_limit``, ``revoked``…) as close reason.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, FastAPI, Path, Request, WebSocket
from fastapi.responses import FileResponse
from pydantic import BaseModel
from starlette.websockets import WebSocketDisconnect

from shoal.api.deps import SESSION_COOKIE, CtxDep, CurrentPrincipal, SessionDep
from shoal.api.problems import language_of
from shoal.console.framing import Resize, Stdin, decode, encode_output
from shoal.console.recording import list_recordings, recording_path
from shoal.console.sessions import CLOSE_CODES, CloseReason, ConsoleManager, ConsoleSession
from shoal.context import AppContext
from shoal.core.errors import NotFound, ShoalError
from shoal.core.i18n import negotiate
from shoal.iam.accounts import load_principal, resolve_token
from shoal.iam.authz import Action, Principal, require

__all__ = ["console_manager", "router"]


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    manager: ConsoleManager | None = getattr(app.state, "console", None)
    if manager is not None:
        await manager.aclose()


router = APIRouter(prefix="/api/v1", tags=["console"], lifespan=_lifespan)
ClusterIdPath = Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9-]+$")
SessionIdPath = Path(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")


def console_manager(app: Any) -> ConsoleManager:
    """The server's console manager, made on first use (it needs the gateway's token cache)."""
    manager: ConsoleManager | None = getattr(app.state, "console", None)
    if manager is None:
        gateway = getattr(app.state, "gateway", None)
        manager = ConsoleManager(app.state.ctx, gateway.callers.forget_token if gateway is not None else
                                 (lambda _id: None))
        app.state.console = manager
    return manager


class ConsoleSessionCreated(BaseModel):
    id: str
    cluster_id: str
    websocket_path: str
    websocket_url: str
    idle_timeout: float
    hard_limit: float


class ConsoleSessionPublic(BaseModel):
    id: str
    cluster_id: str
    username: str
    created_at: datetime
    attached: bool
    commands: int


class RecordingPublic(BaseModel):
    session_id: str
    title: str
    started_at: datetime
    size: int


def _public(console: ConsoleSession) -> ConsoleSessionPublic:
    return ConsoleSessionPublic(id=console.id, cluster_id=console.cluster_id, username=console.username,
                                created_at=console.created_at, attached=console.attached, commands=console.commands)


@router.post("/clusters/{cluster_id}/console/sessions", response_model=ConsoleSessionCreated, status_code=201,
             summary="Open a web console (kubectl with your rights) on the cluster; connect to its websocket")
async def create_session(request: Request, principal: CurrentPrincipal, session: SessionDep, ctx: CtxDep,
                         cluster_id: str = ClusterIdPath) -> ConsoleSessionCreated:
    manager = console_manager(request.app)
    console = await manager.create(session, principal, cluster_id, language_of(request))
    await session.commit()
    path = f"/api/v1/console/sessions/{console.id}/ws"
    base = urlsplit(str(request.base_url))
    scheme = "wss" if base.scheme == "https" else "ws"
    return ConsoleSessionCreated(id=console.id, cluster_id=console.cluster_id, websocket_path=path,
                                 websocket_url=f"{scheme}://{base.netloc}{path}",
                                 idle_timeout=ctx.settings.console.idle_timeout,
                                 hard_limit=ctx.settings.console.hard_limit)


@router.get("/console/sessions", response_model=list[ConsoleSessionPublic],
            summary="Your open consoles on this server (admins: everyone's)")
async def list_sessions(request: Request, principal: CurrentPrincipal) -> list[ConsoleSessionPublic]:
    manager = console_manager(request.app)
    return [_public(s) for s in manager.sessions.values() if s.user_id == principal.user_id or principal.is_admin]


@router.delete("/console/sessions/{session_id}", response_model=ConsoleSessionPublic,
               summary="End a console (yours; admins: anyone's)")
async def end_session(request: Request, principal: CurrentPrincipal,
                      session_id: str = SessionIdPath) -> ConsoleSessionPublic:
    return _public(console_manager(request.app).end(session_id, principal))


@router.get("/console/recordings", response_model=list[RecordingPublic],
            summary="Recorded console sessions (admins; needs SHOAL_CONSOLE__RECORD=true)")
async def recordings(principal: CurrentPrincipal, ctx: CtxDep) -> list[RecordingPublic]:
    require(principal, Action.AUDIT_VIEW_ALL)
    return [RecordingPublic(**r.__dict__) for r in list_recordings(ctx.settings.data_dir)]


@router.get("/console/recordings/{session_id}", summary="One recording as an asciinema v2 file (admins)",
            response_class=FileResponse)
async def recording(principal: CurrentPrincipal, ctx: CtxDep, session_id: str = SessionIdPath) -> FileResponse:
    require(principal, Action.AUDIT_VIEW_ALL)
    path = recording_path(ctx.settings.data_dir, session_id)
    if path is None:
        raise NotFound("error.console_not_found", id=session_id)
    return FileResponse(path, media_type="application/x-asciicast", filename=f"{session_id}.cast")


# --- the terminal -----------------------------------------------------------------------------------

def _same_origin(websocket: WebSocket, public_url: str) -> bool:
    origin = websocket.headers.get("origin")
    if not origin:
        return True  # not a browser: cookies are not sent by scripts behind a user's back
    allowed = {websocket.headers.get("host", ""), urlsplit(public_url).netloc if public_url else ""} - {""}
    return urlsplit(origin).netloc in allowed


async def _websocket_principal(websocket: WebSocket, ctx: AppContext) -> Principal | None:
    source = websocket.client.host if websocket.client else ""
    async with ctx.db.session() as db:
        header = websocket.headers.get("authorization", "")
        try:
            if header:
                scheme, _, token = header.partition(" ")
                if scheme.lower() != "bearer":
                    return None
                user = await resolve_token(db, token.strip(), ("api",))
                return await load_principal(db, user, via="api", source=source)
            cookie = websocket.cookies.get(SESSION_COOKIE)
            if not cookie or not _same_origin(websocket, ctx.settings.public_url):
                return None
            user = await resolve_token(db, cookie, ("session",))
            return await load_principal(db, user, via="web", source=source)
        except ShoalError:
            return None


class _SocketTerminal:
    """A Starlette websocket as a ``console.sessions.Terminal``."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket

    async def receive(self) -> Stdin | Resize | None:
        while True:
            try:
                message = await self.websocket.receive()
            except (WebSocketDisconnect, RuntimeError):
                return None
            if message["type"] == "websocket.disconnect":
                return None
            text = message.get("text")
            if text:
                frame = decode(text)
                if frame is not None:
                    return frame

    async def send(self, data: bytes) -> None:
        await self.websocket.send_text(encode_output(data))


@router.websocket("/console/sessions/{session_id}/ws")
async def terminal(websocket: WebSocket, session_id: str) -> None:
    ctx: AppContext = websocket.app.state.ctx
    principal = await _websocket_principal(websocket, ctx)
    manager = console_manager(websocket.app)
    try:
        if principal is None:
            raise NotFound("error.console_not_found", id=session_id)
        console = manager.get(session_id, principal)
        if console.attached:
            raise NotFound("error.console_attached", id=session_id)
    except ShoalError:
        await websocket.close(code=1008)  # before accept: the client sees HTTP 403
        return
    # The language chosen when the session was created stands unless this connection names one.
    accept = websocket.headers.get("accept-language")
    lang = websocket.cookies.get("shoal_lang") or (negotiate(accept) if accept else None)
    if lang in ("zh-CN", "en"):
        console.lang = lang
    await websocket.accept()
    try:
        reason = await manager.run(console, principal, _SocketTerminal(websocket))
    except ShoalError:
        reason = CloseReason.ERROR
    if reason is not CloseReason.CLIENT:
        with suppress(RuntimeError, WebSocketDisconnect):
            await websocket.close(code=CLOSE_CODES[reason], reason=reason.value)
