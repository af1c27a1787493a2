"""The console sandbox, layer (b) of "the console cannot touch the server" (issue 13), through real sessions.

A real ``shoal server`` (root, as in CI) with kubesim (``tests.console.conftest``). Each test opens real
console sessions over the websocket and leaves a ``kubectl get pods -w`` running in them; the probe
(``tests.security.sandbox_probe``) then joins that kubectl's namespaces, takes its UID and starts a command
with the shell's own ``spawn`` — commands the parser would refuse, so that this layer is tested alone, as if
an attacker had got arbitrary arguments (or code) past it.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml
from websockets.sync.client import ClientConnection, connect

from tests.console.conftest import ConsoleClient, World, _post, console, console_world, plain  # noqa: F401  (fixtures: a real server, sessions)

UIDS = range(200000, 201000)  # the default SHOAL_CONSOLE__SANDBOX_UID_RANGE
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Live:
    """A console session with a kubectl running in it (``kubectl get pods -w``): its pid, UID and kubeconfig."""

    term: ConsoleClient
    pid: int
    uid: int
    kubeconfig: Path

    def stop(self) -> None:
        mark = len(plain(self.term.screen))
        self.term.type("\x03")
        self.term.read_until(re.compile(r"kubectl> $"), start=mark)


def _kubectl_with(marker: str, timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if f"probe={marker}".encode() in argv and argv[0].endswith(b"kubectl"):
                return int(entry.name)
        time.sleep(0.1)
    raise AssertionError(f"no kubectl with probe={marker} appeared")


def _status(pid: int) -> dict[str, str]:
    return dict(line.split(":\t", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                if ":\t" in line)


def start_watch(term: ConsoleClient) -> Live:
    marker = secrets.token_hex(4)
    term.type(f"kubectl get pods -n default -w -l probe={marker}\r")
    pid = _kubectl_with(marker)
    uid = int(_status(pid)["Uid"].split()[0])
    environ = dict(item.split("=", 1) for item in Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0")
                   if "=" in item)
    return Live(term=term, pid=pid, uid=uid, kubeconfig=Path(environ["KUBECONFIG"]))


def probe(live: Live, *argv: str, no_mount: bool = False, cpu: int = 600, nproc: int = 256,
          timeout: float = 30) -> dict[str, Any]:
    """Run ``argv`` in ``live``'s sandbox (see ``tests.security.sandbox_probe``)."""
    command = [sys.executable, "-m", "tests.security.sandbox_probe", str(live.pid), "--cpu", str(cpu),
               "--nproc", str(nproc), "--timeout", str(timeout)]
    if no_mount:
        command.append("--no-mount")
    done = subprocess.run([*command, "--", *argv], capture_output=True, text=True, timeout=timeout + 30,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"})
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.fixture
def live(console: Any) -> Iterator[Any]:  # noqa: F811
    """``live(user)``: a console session of ``user`` with a kubectl watch running in it."""
    running: list[Live] = []

    def open_live(user: str = "mona") -> Live:
        session = start_watch(console(user))
        running.append(session)
        return session

    yield open_live
    for session in running:
        if session.term.closed is None:
            session.stop()


def _can_connect(live: Live, host: str, port: int) -> dict[str, Any]:
    # bash's /dev/tcp: a connect(2) from inside the sandbox without Python (whose venv the UID cannot read)
    return probe(live, "/bin/bash", "-c", f"exec 3<>/dev/tcp/{host}/{port} && echo connected", timeout=20)


# --- (1) Shoal's files ------------------------------------------------------------------------------------

def test_commands_cannot_read_the_data_dir(live: Any, console_world: World) -> None:  # noqa: F811
    data_dir = console_world.shoal.data_dir
    assert data_dir.stat().st_mode & 0o777 == 0o700, oct(data_dir.stat().st_mode)
    secret = f"sentinel-{secrets.token_hex(8)}"
    sentinel = data_dir / "sentinel"
    sentinel.write_text(secret)
    sentinel.chmod(0o600)
    session = live("mona")
    assert session.uid in UIDS and session.uid != os.geteuid()
    status = _status(session.pid)
    assert status["Groups"].strip() == "" and status["Gid"].split()[0] == str(session.uid)
    # control: the probe reads what the session may read (its own kubeconfig, with its token)
    own = probe(session, "/bin/cat", str(session.kubeconfig))
    assert own["exit"] == 0 and "token:" in own["stdout"], own
    for no_mount in (False, True):  # the session's own mounts hide the data dir; without them its mode does
        for target in (sentinel, data_dir / "secret-key", data_dir / "shoal.db"):
            got = probe(session, "/usr/bin/head", "-c", "64", str(target), no_mount=no_mount)
            assert got["exit"] != 0 and got["stdout"] == "", (target, no_mount, got)
            assert secret not in got["stdout"]
        listing = probe(session, "/bin/ls", "-a", str(data_dir), no_mount=no_mount)
        assert listing["exit"] != 0 and "secret-key" not in listing["stdout"], listing
    assert "Permission denied" in probe(session, "/bin/cat", str(sentinel), no_mount=True)["stderr"]
    # the server's environment (SHOAL_SECRET_KEY…) is not readable either: /proc shows only the session's own
    server_pid = console_world.shoal.proc.pid if console_world.shoal.proc else 1
    got = probe(session, "/bin/cat", f"/proc/{server_pid}/environ")
    assert got["exit"] != 0 and "SHOAL" not in got["stdout"]
    assert str(server_pid) not in probe(session, "/bin/ls", "/proc")["stdout"].split()


# --- (2) the network: only the gateway ---------------------------------------------------------------------

def test_commands_reach_the_gateway_and_nothing_else(live: Any, console_world: World) -> None:  # noqa: F811
    session = live("mona")
    server = yaml.safe_load(probe(session, "/bin/cat", str(session.kubeconfig))["stdout"])["clusters"][0]
    inner = urlsplit(server["cluster"]["server"])
    assert inner.hostname == "127.0.0.1"
    # control: the one way out works from the same probe
    assert "connected" in _can_connect(session, "127.0.0.1", inner.port or 443)["stdout"]
    with socket.socket() as bystander:  # another service on the host's loopback
        bystander.bind(("127.0.0.1", 0))
        bystander.listen(8)
        bystander.settimeout(0.5)
        other_port = bystander.getsockname()[1]
        for host, port in (("127.0.0.1", console_world.shoal.port), ("127.0.0.1", other_port),
                           ("169.254.169.254", 80), ("192.0.2.10", 443), ("10.0.0.1", 5432)):
            got = _can_connect(session, host, port)
            assert got["exit"] != 0 and "connected" not in got["stdout"], (host, port, got)
            assert re.search(r"refused|unreachable", got["stderr"]), (host, port, got)
        with pytest.raises(TimeoutError):
            bystander.accept()
    # kubectl itself, pointed at the server's plain port or at kubesim directly, gets nowhere
    kubesim = urlsplit(yaml.safe_load(console_world.sim.kubeconfig("admin"))["clusters"][0]["cluster"]["server"])
    for url in (f"http://127.0.0.1:{console_world.shoal.port}", f"https://127.0.0.1:{kubesim.port}"):
        got = probe(session, _kubectl_path(session), "--server", url,
                    "--insecure-skip-tls-verify", "get", "--raw", "/version", timeout=20)
        assert got["exit"] != 0 and "refused" in got["stderr"], (url, got)
    session.stop()
    # … while kubectl through the console works end to end
    out = session.term.run("kubectl get ns")
    assert "default" in out and "kube-system" in out, out


def _kubectl_path(session: Live) -> str:
    return os.readlink(f"/proc/{session.pid}/exe")


# --- (3) sessions are apart ------------------------------------------------------------------------------

def test_sessions_get_their_own_uids_and_cannot_read_each_other(live: Any) -> None:
    first, second = live("mona"), live("vera")
    assert first.uid != second.uid and {first.uid, second.uid} <= set(UIDS)
    assert first.kubeconfig.parent != second.kubeconfig.parent
    for no_mount in (False, True):
        got = probe(first, "/bin/cat", str(second.kubeconfig), no_mount=no_mount)
        assert got["exit"] != 0 and "token" not in got["stdout"], got
        got = probe(first, "/bin/ls", str(second.kubeconfig.parent / "home"), no_mount=no_mount)
        assert got["exit"] != 0, got
    # nor see the other session's processes (their command lines may carry --from-literal secrets)
    assert probe(first, "/bin/cat", f"/proc/{second.pid}/cmdline")["exit"] != 0
    # nor signal them
    assert probe(first, "/bin/kill", "-STOP", str(second.pid), no_mount=True)["exit"] != 0
    assert _status(second.pid)["State"].startswith(("S", "R"))


# --- (4) the kubeconfig cannot be rewritten --------------------------------------------------------------

def test_the_kubeconfig_cannot_be_rewritten(live: Any) -> None:
    session = live("vera")
    before = hashlib.sha256(session.kubeconfig.read_bytes()).hexdigest()
    info = session.kubeconfig.stat()
    assert (info.st_uid, info.st_mode & 0o777) == (0, 0o440)
    kubectl = _kubectl_path(session)
    attempts = [
        (kubectl, "config", "set-cluster", "evil", "--server=https://192.0.2.1"),
        (kubectl, "config", "set-credentials", "evil", "--exec-command=/bin/sh"),
        ("/bin/sh", "-c", f'echo "# x" >> {session.kubeconfig}'),
        ("/bin/mv", str(session.kubeconfig), f"{session.kubeconfig}.old"),
        ("/bin/rm", "-f", str(session.kubeconfig)),
        ("/bin/chmod", "666", str(session.kubeconfig)),
        ("/bin/touch", str(session.kubeconfig.parent / "kubeconfig.lock")),
    ]
    for argv in attempts:
        got = probe(session, *argv)
        assert got["exit"] != 0, (argv, got)
    assert hashlib.sha256(session.kubeconfig.read_bytes()).hexdigest() == before
    session.stop()
    # through the console itself: the parser refuses it before the read-only file would
    out = session.term.run("kubectl config set-context --current --namespace=kube-system")
    assert "read-only" in out, out
    assert hashlib.sha256(session.kubeconfig.read_bytes()).hexdigest() == before


# --- (5) limits ---------------------------------------------------------------------------------------------

def _limits(pid: int) -> dict[str, tuple[str, str]]:
    rows = Path(f"/proc/{pid}/limits").read_text().splitlines()[1:]
    return {row[:26].strip(): tuple(row[26:].split()[:2]) for row in rows}  # type: ignore[misc]


def test_limits_apply_to_every_command(live: Any) -> None:
    session = live("mona")
    limits = _limits(session.pid)
    assert limits["Max cpu time"] == ("600", "605")
    assert limits["Max processes"] == ("256", "256")
    assert limits["Max data size"] == (str(1024 << 20),) * 2
    assert limits["Max file size"] == (str(64 << 20),) * 2
    assert limits["Max core file size"] == ("0", "0")
    assert limits["Max open files"] == ("1024", "1024")
    assert _status(session.pid)["NoNewPrivs"].strip() == "1"
    # nothing of the shell's leaks into the command: not its report pipe (the audit), not the namespace fd
    leaked = []
    for fd in os.listdir(f"/proc/{session.pid}/fd"):
        if int(fd) > 2:
            with contextlib.suppress(FileNotFoundError):  # one kubectl opened and closed meanwhile: not inherited
                leaked.append(os.readlink(f"/proc/{session.pid}/fd/{fd}"))
    assert not [link for link in leaked if link.startswith(("pipe:", "net:", "/proc"))], leaked
    # CPU: a busy loop is stopped at its limit
    started = time.monotonic()
    got = probe(session, "/bin/bash", "-c", "while :; do :; done", cpu=1, timeout=30)
    assert got["exit"] in (-24, -9) and time.monotonic() - started < 25, got  # SIGXCPU, or SIGKILL at hard
    # processes are counted per session UID: the running kubectl's threads already exceed a limit of 3
    threads = len(os.listdir(f"/proc/{session.pid}/task"))
    assert threads > 3
    got = probe(session, "/bin/true", nproc=3)
    assert got["exit"] == -1000 and "Resource temporarily unavailable" in got["error"], got
    assert probe(session, "/bin/true")["exit"] == 0  # control: under the session's own limit it runs


# --- (6) no free UID: the session is told why, nothing runs -------------------------------------------------

@pytest.fixture
def every_uid_taken() -> Iterator[Callable[[], int]]:
    """Hold every UID of the default range the way another Shoal server on this host would (its lock).

    UIDs in use elsewhere (a session of an earlier test being released, another server on this machine)
    are taken by a background thread as soon as they come free.
    """
    held: list[socket.socket] = []
    waiting = set(UIDS)
    done = threading.Event()

    def sweep() -> None:
        for uid in sorted(waiting):
            lock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                lock.bind(f"\0shoal-console-uid-{uid}")
            except OSError:
                lock.close()
                continue
            held.append(lock)
            waiting.discard(uid)

    def keep_sweeping() -> None:
        while not done.wait(0.02):
            sweep()

    sweep()
    deadline = time.monotonic() + 10  # the sessions of earlier tests end a moment after their terminals close
    while waiting and time.monotonic() < deadline:
        time.sleep(0.2)
        sweep()
    sweeper = threading.Thread(target=keep_sweeping, daemon=True)
    sweeper.start()

    def release() -> int:
        """Stop taking UIDs and give back those held; how many they were."""
        done.set()
        sweeper.join()
        for lock in held:
            lock.close()
        return len(held)

    try:
        yield release
    finally:
        release()


def _terminal(world: World, lang: str) -> ClientConnection:
    with httpx.Client(base_url=world.shoal.url, timeout=30, headers={
            "Authorization": f"Bearer {world.tokens['mona']}", "Accept-Language": lang}) as mona:
        created = _post(mona, f"/api/v1/clusters/{world.cluster_id}/console/sessions", {}, 201)
    return connect(created.json()["websocket_url"], open_timeout=30,
                   additional_headers={"Authorization": f"Bearer {world.tokens['mona']}"})


def _read(socket: ClientConnection, *needles: str) -> str:
    screen = ""
    deadline = time.monotonic() + 45
    while not any(needle in plain(screen) for needle in needles):
        assert time.monotonic() < deadline, plain(screen)
        screen += base64.b64decode(socket.recv(timeout=45)).decode(errors="replace")
    return plain(screen)


def test_a_session_without_a_free_uid_is_told_why(console_world: World,  # noqa: F811
                                                  every_uid_taken: Callable[[], int]) -> None:
    for lang, words in (("en", "every sandbox user of this server is in use"), ("zh-CN", "沙箱用户已全部占用")):
        terminal = _terminal(console_world, lang)
        try:
            screen = _read(terminal, words)
            assert "kubectl>" not in screen
        finally:
            terminal.close()
    assert every_uid_taken() > len(UIDS) // 2  # the other server's sessions end: consoles start again
    terminal = _terminal(console_world, "en")
    try:
        _read(terminal, "kubectl>")
    finally:
        terminal.close()
