"""Console sessions: create, attach a terminal, enforce limits, audit every line, end and clean up.

Who calls it: the console routes (``api.routes.console``): ``POST
/api/v1/clusters/{id}/console/sessions`` creates a session (``cluster_view``
needed) and the websocket attaches a terminal to it. One :class:`ConsoleManager`
per server process holds the sessions in memory; a session lives on the replica
that created it (a load balancer must keep the websocket on that replica).

Life of a session:

1. *created* — nothing runs yet; dropped if no terminal attaches within
   ``ConsoleSettings.attach_timeout``;
2. *attached* — a gateway token is issued for the user, bound to the cluster
   and living no longer than the hard limit; a private directory gets a
   kubeconfig whose server is this server's gateway; the restricted shell
   (``console.shell``) starts on a PTY (``console.pty``). kubectl therefore
   does exactly what the gateway lets that user do — a viewer reads, and is
   refused changes with a Forbidden message;
3. *ended* — by ``exit``, the browser going away, the idle timeout, the hard
   limit, an admin or the user ending it, or the user losing the right
   (disabled, removed from the project, token revoked, cluster deleted;
   checked every ``recheck_seconds``). The terminal is told why
   (:data:`CLOSE_CODES`), the process group is hung up, the token revoked and
   forgotten by the gateway's cache, the directory removed, and the end
   audited.

Every line typed is audited (``console.command``: user, cluster, time, the
line, exit status, refusal) from the shell's reports.

kubectl and the filters run sandboxed (``console.sandbox``): their own UID, a
read-only kubeconfig, a network namespace whose only way out is the gateway.
A server that cannot sandbox refuses consoles (``error.console_sandbox_*``)
rather than run them unconfined, unless ``SHOAL_CONSOLE__SANDBOX=false``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, NewType, Protocol
from urllib.parse import urlsplit

import yaml
from sqlalchemy.ext.asyncio import AsyncSession

from shoal.audit import service as audit
from shoal.clusters.models import Cluster, ClusterStatus
from shoal.console import commands
from shoal.console.framing import Resize, Stdin
from shoal.console.pty import ShellProcess
from shoal.console.recording import Recorder, recordings_dir
from shoal.console.relay import TlsRelay, forward
from shoal.console.sandbox import RELAY_PORT, Sandbox, SandboxUnavailable, SessionSandbox
from shoal.context import AppContext
from shoal.core.config import ConsoleSettings
from shoal.core.errors import Conflict, NotFound, PermissionDenied, Unauthenticated, Unavailable
from shoal.core.i18n import translate
from shoal.gateway import tokens
from shoal.gateway.kubeconfig import kubeconfig_yaml
from shoal.gateway.tls import ca_pem
from shoal.iam.accounts import load_principal
from shoal.iam.authz import Action, Principal, can
from shoal.store.models import ApiToken, User
from shoal.store.types import utcnow

__all__ = ["CLOSE_CODES", "CloseReason", "ConsoleManager", "ConsoleSession", "SessionId", "Terminal"]

log = logging.getLogger("shoal.console")

SessionId = NewType("SessionId", str)


class CloseReason(StrEnum):
    EXIT = "exit"
    IDLE = "idle_timeout"
    LIMIT = "time_limit"
    REVOKED = "revoked"
    ENDED = "ended"
    CLIENT = "client_closed"
    ERROR = "error"


#: Websocket close codes per reason (4000–4999 are the application's own).
CLOSE_CODES: dict[CloseReason, int] = {
    CloseReason.EXIT: 1000, CloseReason.CLIENT: 1000, CloseReason.IDLE: 4001, CloseReason.LIMIT: 4002,
    CloseReason.REVOKED: 4003, CloseReason.ENDED: 4004, CloseReason.ERROR: 1011,
}


class Terminal(Protocol):
    """The browser side of a session as the manager sees it (the websocket route adapts to it)."""

    async def receive(self) -> Stdin | Resize | None:
        """The next keystrokes or resize; None when the client has gone."""

    async def send(self, data: bytes) -> None:
        """Terminal output for the client."""


@dataclass
class ConsoleSession:
    id: SessionId
    cluster_id: str
    cluster_name: str
    project_code: str
    user_id: int
    username: str
    lang: str
    created: float = field(default_factory=time.monotonic)
    created_at: datetime = field(default_factory=utcnow)
    attached: bool = False
    token_id: int | None = None
    commands: int = 0
    stop_reason: CloseReason | None = None
    stopped: asyncio.Event = field(default_factory=asyncio.Event)

    def stop(self, reason: CloseReason) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason
        self.stopped.set()


def find_kubectl(configured: str) -> str:
    """The kubectl binary: the configured path, else next to Shoal's Python (the venv), else on PATH."""
    if configured:
        return configured
    beside = Path(sys.executable).parent / "kubectl"
    if beside.exists():
        return str(beside)
    return shutil.which("kubectl") or "kubectl"


def find_filters() -> dict[str, str]:
    """The text filters by absolute path, from the system's own directories only."""
    found: dict[str, str] = {}
    for name in commands.FILTERS:
        path = shutil.which(name, path="/usr/bin:/bin")
        if path:
            found[name] = path
    return found


@dataclass
class _Prepared:
    """How to start a session's shell, and what to undo at its end."""

    env: dict[str, str]
    cwd: Path
    pass_fds: tuple[int, ...] = ()
    box: SessionSandbox | None = None
    server: asyncio.Server | None = None
    folder: Path | None = None

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        if self.box is not None:
            await asyncio.to_thread(self.box.release)
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


class ConsoleManager:
    """The console sessions of one server process."""

    def __init__(self, ctx: AppContext, forget_token: Callable[[int], None] = lambda _id: None) -> None:
        self.ctx = ctx
        self.settings: ConsoleSettings = ctx.settings.console
        self.forget_token = forget_token
        self.sessions: dict[SessionId, ConsoleSession] = {}
        self.kubectl = find_kubectl(self.settings.kubectl)
        self.filters = find_filters()
        self._relay: TlsRelay | None = None
        self._relay_lock = asyncio.Lock()
        self._sandbox: Sandbox | None = None
        self._open_sandboxes = 0
        if not self.settings.sandbox:
            log.warning("UNSAFE: SHOAL_CONSOLE__SANDBOX=false: console commands run as the server's own user, "
                        "can read its data dir (secret key, database) and reach any address")

    @property
    def sandbox(self) -> Sandbox:
        """The console sandbox (made, checked and set up on first use)."""
        if self._sandbox is None:
            settings = self.ctx.settings
            hide = [Path(settings.tls_key)] if settings.tls_key else []
            self._sandbox = Sandbox(self.settings, settings.data_dir, self.kubectl, hide)
        return self._sandbox

    def sandbox_problem(self) -> SandboxUnavailable | None:
        """Why consoles are refused here (None: they run sandboxed, or the sandbox is turned off)."""
        return self.sandbox.problem() if self.settings.sandbox else None

    # --- creating ---------------------------------------------------------------------------------
    def _purge(self) -> None:
        """Drop sessions whose terminal never connected in time."""
        now = time.monotonic()
        for sid, console in list(self.sessions.items()):
            if not console.attached and now - console.created > self.settings.attach_timeout:
                del self.sessions[sid]

    async def create(self, db: AsyncSession, actor: Principal, cluster_id: str, lang: str) -> ConsoleSession:
        """A new session on a cluster ``actor`` may view (``cluster_view``); nothing runs until attached."""
        problem = await asyncio.to_thread(self.sandbox_problem)  # first: no console runs here at all
        if problem is not None:
            raise Unavailable(f"error.console_sandbox_{problem.reason}", hint="hint.console_sandbox")
        cluster = await tokens.get_cluster(db, actor, cluster_id, Action.CLUSTER_VIEW)
        self._purge()
        mine = [s for s in self.sessions.values() if s.user_id == actor.user_id]
        if len(mine) >= self.settings.max_sessions:
            raise Conflict("error.console_too_many", hint="hint.console_too_many", max=self.settings.max_sessions)
        console = ConsoleSession(id=SessionId(secrets.token_urlsafe(18)), cluster_id=cluster.id,
                                 cluster_name=cluster.name, project_code=cluster.project_code,
                                 user_id=actor.user_id, username=actor.username, lang=lang)
        await audit.record(db, actor, "console.session.create", target_type="cluster", target_id=cluster.id,
                           project_code=cluster.project_code, detail={"session": console.id})
        self.sessions[console.id] = console
        return console

    def get(self, session_id: str, actor: Principal) -> ConsoleSession:
        """A session of ``actor``'s (admins: anyone's); NotFound otherwise, so ids cannot be probed."""
        console = self.sessions.get(SessionId(session_id))
        if console is None or (console.user_id != actor.user_id and not actor.is_admin):
            raise NotFound("error.console_not_found", id=session_id)
        return console

    def end(self, session_id: str, actor: Principal) -> ConsoleSession:
        console = self.get(session_id, actor)
        if console.attached:
            console.stop(CloseReason.ENDED)
        else:
            self.sessions.pop(console.id, None)
        return console

    # --- the gateway address kubectl uses ------------------------------------------------------------
    async def _gateway(self) -> tuple[str, str | None]:
        """(base URL, CA PEM) of this server's gateway as the console's kubectl must reach it (HTTPS)."""
        settings = self.ctx.settings
        if self.settings.gateway_url:
            return self.settings.gateway_url.rstrip("/"), ca_pem(settings)
        host = settings.host if settings.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
        if settings.tls_generated:  # the default: straight to the listen address, whose SANs it is made for
            host = "127.0.0.1" if host == "localhost" else f"[{host}]" if ":" in host else host
            return f"https://{host}:{settings.port}", ca_pem(settings)
        if settings.tls_enabled:
            return settings.base_url, ca_pem(settings)
        # SHOAL_PLAIN_HTTP: kubectl sends no token over plain HTTP, so a loopback TLS relay goes in between.
        async with self._relay_lock:
            if self._relay is None:
                relay = TlsRelay(host, settings.port)
                # Sandboxed sessions reach the relay only through their own namespace's socket.
                await relay.start(port=RELAY_PORT if self.settings.sandbox else None)
                self._relay = relay
        return self._relay.url, self._relay.ca_pem

    # --- running ------------------------------------------------------------------------------------
    async def _prepare(self, console: ConsoleSession, actor: Principal) -> _Prepared:
        """Issue the session's gateway token, make its sandbox (or, turned off, a private directory); how to start
        the shell."""
        async with self.ctx.db.session() as db:
            cluster = await tokens.get_cluster(db, actor, console.cluster_id, Action.CLUSTER_VIEW)
            row, token = await tokens.issue_token(
                db, actor, cluster, expires_in=timedelta(seconds=self.settings.hard_limit + 60),
                name=f"console {console.id[:8]}")
            console.token_id = row.id
            await audit.record(db, actor, "console.session.open", target_type="cluster", target_id=cluster.id,
                               project_code=cluster.project_code, detail={"session": console.id, "token": row.id})
        base, ca = await self._gateway()
        env = {
            "TERM": "xterm-256color", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
            "KUBE_EDITOR": "/nonexistent/editor-disabled", "EDITOR": "/nonexistent/editor-disabled",
            "KUBECTL_KUBERC": "false", "KUBERC": "off",  # no user preferences (aliases, default flags)
            "SHOAL_CONSOLE_FILTERS": json.dumps(self.filters), "SHOAL_CONSOLE_LANG": console.lang,
            "SHOAL_CONSOLE_CLUSTER": console.cluster_id, "SHOAL_CONSOLE_USER": console.username,
        }
        if os.environ.get("PYTHONPATH"):
            env["PYTHONPATH"] = os.environ["PYTHONPATH"]

        def config(server: str, server_name: str | None = None) -> str:
            text = kubeconfig_yaml(server=f"{server}/clusters/{console.cluster_id}", cluster_id=console.cluster_id,
                                   username=console.username, token=token, ca_pem=ca)
            if server_name is None:
                return text
            doc = yaml.safe_load(text)
            doc["clusters"][0]["cluster"]["tls-server-name"] = server_name
            return yaml.safe_dump(doc, sort_keys=False)

        if not self.settings.sandbox:
            log.warning("UNSAFE: console %s runs unsandboxed (SHOAL_CONSOLE__SANDBOX=false)", console.id)
            folder = Path(tempfile.mkdtemp(prefix="shoal-console-"))  # mode 0700
            (folder / "bin").mkdir()  # kubectl's PATH: empty, so no plugin can be found
            kubeconfig = folder / "kubeconfig"
            kubeconfig.touch(mode=0o600)
            kubeconfig.write_text(config(base))
            env.update({"PATH": str(folder / "bin"), "HOME": str(folder), "KUBECONFIG": str(kubeconfig),
                        "KUBECACHEDIR": str(folder / "cache"), "SHOAL_CONSOLE_KUBECTL": self.kubectl})
            return _Prepared(env=env, cwd=folder, folder=folder)

        # Sandboxed: kubectl dials 127.0.0.1:<port> inside the session's namespace; the server pipes that
        # socket to the gateway (the relay terminates TLS itself; an HTTPS server gets the bytes as they are).
        url = urlsplit(base)
        host, port = url.hostname or "127.0.0.1", url.port or (443 if url.scheme == "https" else 80)
        inner = f"https://127.0.0.1:{port}{url.path.rstrip('/')}"
        text = config(inner, None if host == "127.0.0.1" else host)
        box = await asyncio.to_thread(self.sandbox.open, text, port)
        prepared = _Prepared(env=env, cwd=box.home, box=box, pass_fds=(box.netns_fd,))
        try:
            listener, box.listener = box.listener, None  # the asyncio server owns (and closes) it from here
            assert listener is not None
            if self._relay is not None and base == self._relay.url:
                prepared.server = await self._relay.listen(listener)
            else:
                prepared.server = await forward(listener, host, port)
        except BaseException:
            await prepared.close()
            raise
        env.update(box.env({"PATH": self.sandbox.empty, "SHOAL_CONSOLE_KUBECTL": self.sandbox.kubectl}))
        return prepared

    async def still_allowed(self, console: ConsoleSession) -> bool:
        """Is the user still active, still allowed to view the cluster, and the session's token unrevoked?"""
        async with self.ctx.db.session() as db:
            user = await db.get(User, console.user_id)
            if user is None or not user.is_active:
                return False
            principal = await load_principal(db, user)
            cluster = await db.get(Cluster, console.cluster_id)
            if cluster is None or cluster.status == ClusterStatus.DELETED.value:
                return False
            if not can(principal, Action.CLUSTER_VIEW, cluster):
                return False
            token = await db.get(ApiToken, console.token_id) if console.token_id is not None else None
            return token is not None and token.revoked_at is None

    async def _audit_line(self, console: ConsoleSession, actor: Principal, event: dict[str, Any]) -> None:
        console.commands += 1
        status = event.get("exit")
        refused = event.get("refused")
        outcome = "denied" if refused else ("success" if status == 0 else "failure")
        # The line first: the audit page shows the start of the detail. Secret values (--from-literal=k=v,
        # --token, --password …) are masked before the line is stored: the audit is read by other people.
        line = commands.redact_line(str(event.get("line", "")))
        detail: dict[str, Any] = {"line": line[:2000], "exit": status, "session": console.id}
        if refused:
            detail["refused"] = refused
        if "duration_ms" in event:
            detail["duration_ms"] = event["duration_ms"]
        try:
            async with self.ctx.db.session() as db:
                await audit.record(db, actor, "console.command", target_type="cluster", target_id=console.cluster_id,
                                   project_code=console.project_code, outcome=outcome, detail=detail)
        except Exception:  # the audit must not take the terminal down; the log keeps the failure
            log.exception("console audit write failed (session %s)", console.id)

    async def run(self, console: ConsoleSession, actor: Principal, terminal: Terminal) -> CloseReason:
        """Attach ``terminal`` to ``console`` and run it to the end; the reason it ended."""
        if console.attached:
            raise Conflict("error.console_attached", id=console.id)
        console.attached = True
        prepared: _Prepared | None = None
        shell: ShellProcess | None = None
        recorder: Recorder | None = None
        reason = CloseReason.ERROR
        try:
            try:
                prepared = await self._prepare(console, actor)
                self._open_sandboxes += 1
                shell = ShellProcess(prepared.env, prepared.cwd, pass_fds=prepared.pass_fds)
            except (PermissionDenied, NotFound, Unauthenticated):  # the right went between create and attach
                reason = CloseReason.REVOKED
                await terminal.send(self._closing_text(console, reason))
                return reason
            except SandboxUnavailable as e:  # e.g. every UID of the range is in use
                log.warning("console %s could not be sandboxed: %s", console.id, e)
                await terminal.send(self._sandbox_text(console, e))
                return CloseReason.ERROR
            except (OSError, Unavailable) as e:
                log.warning("console %s could not start: %s", console.id, e)
                await terminal.send(self._closing_text(console, CloseReason.ERROR))
                return CloseReason.ERROR
            if self.settings.record:
                recorder = Recorder(recordings_dir(self.ctx.settings.data_dir) / f"{console.id}.cast", rows=24,
                                    cols=80, title=f"{console.username}@{console.cluster_id}")
            reason = await self._pump(console, actor, terminal, shell, recorder)
            if reason is not CloseReason.CLIENT:
                with contextlib.suppress(Exception):
                    await terminal.send(self._closing_text(console, reason))
            return reason
        finally:
            if shell is not None:
                await shell.close()
                await self._drain_reports(console, actor, shell)
            if recorder is not None:
                recorder.close()
            await self._finish(console, actor, reason)
            if prepared is not None:
                await prepared.close()
                self._open_sandboxes -= 1

    @staticmethod
    def _sandbox_text(console: ConsoleSession, problem: SandboxUnavailable) -> bytes:
        text = translate(f"error.console_sandbox_{problem.reason}", console.lang)
        hint = translate("hint.console_sandbox", console.lang)
        return f"\r\n\x1b[31m[Shoal] {text}\x1b[0m\r\n{hint}\r\n".encode()

    def _closing_text(self, console: ConsoleSession, reason: CloseReason) -> bytes:
        text = translate(f"console.closed.{reason.value}", console.lang,
                         idle=_human(self.settings.idle_timeout), limit=_human(self.settings.hard_limit))
        return f"\r\n\x1b[33m[Shoal] {text}\x1b[0m\r\n".encode()

    async def _pump(self, console: ConsoleSession, actor: Principal, terminal: Terminal, shell: ShellProcess,
                    recorder: Recorder | None) -> CloseReason:
        last_input = time.monotonic()

        async def output() -> CloseReason:
            while (data := await shell.read()) is not None:
                if recorder is not None:
                    recorder.output(data)
                await terminal.send(data)
            return CloseReason.EXIT

        async def keys() -> CloseReason:
            nonlocal last_input
            while (frame := await terminal.receive()) is not None:
                if isinstance(frame, Stdin):
                    last_input = time.monotonic()
                    await shell.write(frame.data)
                else:
                    shell.resize(frame.rows, frame.cols)
                    if recorder is not None:
                        recorder.resize(frame.rows, frame.cols)
            return CloseReason.CLIENT

        async def reports() -> CloseReason:
            while (event := await shell.reports.get()) is not None:
                await self._audit_line(console, actor, event)
            await asyncio.Event().wait()  # the shell closed its report pipe: the output side reports the end
            return CloseReason.EXIT

        async def watchdog() -> CloseReason:
            started = time.monotonic()
            next_check = started + self.settings.recheck_seconds
            tick = min(1.0, self.settings.idle_timeout / 4)
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(console.stopped.wait(), tick)
                if console.stop_reason is not None:
                    return console.stop_reason
                now = time.monotonic()
                if now - last_input >= self.settings.idle_timeout:
                    return CloseReason.IDLE
                if now - started >= self.settings.hard_limit:
                    return CloseReason.LIMIT
                if now >= next_check:
                    next_check = now + self.settings.recheck_seconds
                    if not await self.still_allowed(console):
                        return CloseReason.REVOKED

        tasks = [asyncio.ensure_future(f()) for f in (output, keys, reports, watchdog)]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            first = next(iter(done))
            try:
                return first.result()
            except Exception:
                log.exception("console %s failed", console.id)
                return CloseReason.ERROR
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _drain_reports(self, console: ConsoleSession, actor: Principal, shell: ShellProcess) -> None:
        """Audit lines the shell reported just before it ended."""
        while not shell.reports.empty():
            event = shell.reports.get_nowait()
            if event is not None:
                await self._audit_line(console, actor, event)

    async def _finish(self, console: ConsoleSession, actor: Principal, reason: CloseReason) -> None:
        """Revoke the token, forget it in the gateway's cache, audit the end, drop the session."""
        self.sessions.pop(console.id, None)
        try:
            async with self.ctx.db.session() as db:
                if console.token_id is not None:
                    row = await db.get(ApiToken, console.token_id)
                    if row is not None and row.revoked_at is None:
                        row.revoked_at = utcnow()
                await audit.record(db, actor, "console.session.close", target_type="cluster",
                                   target_id=console.cluster_id, project_code=console.project_code,
                                   detail={"session": console.id, "reason": reason.value,
                                           "commands": console.commands,
                                           "seconds": round(time.monotonic() - console.created, 1)})
        except Exception:
            log.exception("console %s: could not revoke its token or audit its end", console.id)
        if console.token_id is not None:
            self.forget_token(console.token_id)

    async def aclose(self) -> None:
        """Server shutdown: end every running session and stop the relay."""
        for console in list(self.sessions.values()):
            console.stop(CloseReason.ENDED)
        if self._relay is not None:
            await self._relay.aclose()
        if self._sandbox is not None:
            # Sessions end on their own tasks; give them a moment to release their sandboxes first.
            for _ in range(50):
                if not self._open_sandboxes:
                    break
                await asyncio.sleep(0.1)
            await asyncio.to_thread(self._sandbox.aclose)


def _human(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{int(seconds // 3600)} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)} min"
    return f"{seconds:g} s"
