"""The console sandbox: kubectl and the text filters run with no access to Shoal's files, other sessions or the network.

Who calls it: ``console.sessions`` (server side: :class:`Sandbox` once per
server, :meth:`Sandbox.open` per session) and ``console.shell`` (inside the
session: :meth:`Confinement.enter` once at start, :func:`spawn` per command).

Why: the restricted shell's parser is one layer; this is the second, which
must hold on its own even if an attacker gets kubectl to run with arbitrary
arguments (``--kubeconfig`` pointing at a file it wrote, an exec credential
plugin, ``-f /any/file``, ``--server=http://169.254.169.254``) — i.e. against
arbitrary code running as the session's user. Each running session gets:

* **its own UID/GID** from ``SHOAL_CONSOLE__SANDBOX_UID_RANGE``, allocated
  per network namespace (an abstract unix socket per UID is the lock, so two
  Shoal servers on one host never share one — unless they run in separate
  containers, which then need separate ranges) and released at the end, after every process
  of that UID has been killed. Supplementary groups are cleared and
  ``no_new_privs`` set, so set-uid programs cannot raise it again;
* **a private HOME** owned by that UID (mode 0700) inside a session directory
  owned by root with the session's group (0750), holding the kubeconfig as
  root:GID 0440: readable, never writable, and its directory cannot take new
  or renamed files, so ``kubectl config set-*`` fails whatever the parser let
  through. kubectl itself is a root-owned hard link (or copy) of the venv's
  binary in a world-readable directory; PATH is an empty directory (no
  plugins) and ``kuberc`` is off;
* **its own network namespace** with only ``lo`` up. The server creates it in
  a throw-away thread (``unshare(CLONE_NEWNET)`` affects that thread only),
  binds a listening socket on ``127.0.0.1:<port>`` inside it and keeps that
  socket: connections accepted there are relayed by the server, from its own
  namespace, to the gateway and nowhere else (``console.relay``). The server's
  other ports, the database, other loopback services, link-local metadata and
  every other address do not exist from inside;
* **its own mount and IPC namespaces** (made by the shell, which runs as root,
  before it starts any command): ``/proc`` mounted again with
  ``hidepid=invisible`` (a session sees only its own processes, not other
  sessions' command lines), fresh small tmpfs on ``/tmp``, ``/var/tmp``,
  ``/dev/shm`` and ``/run``, and the data dir (and TLS key) covered by an
  empty read-only mount — on top of the data dir being 0700;
* **resource limits** per command: CPU seconds, memory (``RLIMIT_DATA``: Go
  reserves far more address space than it uses, so ``RLIMIT_AS`` would break
  kubectl), file size, open files, no core dumps, and processes per UID
  (``RLIMIT_NPROC`` counts every process and thread of the session's UID).

Where this cannot be done (the server is not root, the UID range is unset,
overlaps accounts or is not mapped in a user namespace, namespaces are not
allowed, the data dir is open to others), :meth:`Sandbox.problem` says why and
consoles are refused with that reason — never run unsandboxed, unless an
administrator sets ``SHOAL_CONSOLE__SANDBOX=false`` (logged as unsafe).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import grp
import json
import logging
import os
import pwd
import resource
import secrets
import shutil
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:  # the shell imports this module: keep its start light (no pydantic)
    from shoal.core.config import ConsoleSettings

__all__ = ["Confinement", "Limits", "Sandbox", "SandboxUnavailable", "SessionSandbox", "spawn"]

log = logging.getLogger("shoal.console.sandbox")

CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 8, 4096, 16384, 1 << 18
PR_SET_NO_NEW_PRIVS = 38
_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP = 0x8913, 0x8914, 0x1
#: Paths that get a fresh, private tmpfs in every session (so the sandbox dir may not be under them).
PRIVATE_TMP = ("/tmp", "/var/tmp", "/dev/shm", "/run")
#: Port the session's namespace listens on when the gateway is reached through the TLS relay.
RELAY_PORT = 6443
#: Environment variable carrying the :class:`Confinement` (JSON) from the server to the shell.
ENV = "SHOAL_CONSOLE_SANDBOX"

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(_libc.mount(source.encode(), target.encode(), fstype.encode() if fstype else None,
                       ctypes.c_ulong(flags), data.encode() if data else None), f"mount {target}")


class SandboxUnavailable(Exception):
    """Consoles cannot be sandboxed here; ``reason`` names the message ``error.console_sandbox_<reason>``."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail  # for the server's log only: may name paths and accounts


@dataclass(frozen=True)
class Limits:
    """Resource limits of every command a session runs."""

    cpu_seconds: int
    processes: int
    memory_bytes: int
    file_bytes: int
    open_files: int

    @classmethod
    def of(cls, settings: ConsoleSettings) -> Limits:
        return cls(cpu_seconds=settings.limit_cpu_seconds, processes=settings.limit_processes,
                   memory_bytes=settings.limit_memory_mb << 20, file_bytes=settings.limit_file_mb << 20,
                   open_files=settings.limit_open_files)


@dataclass(frozen=True)
class Confinement:
    """What the shell applies: the namespaces it enters once, and the identity and limits of each command."""

    uid: int
    gid: int
    limits: Limits
    netns_fd: int = -1
    hide: tuple[str, ...] = ()

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls, text: str) -> Confinement:
        raw: dict[str, Any] = json.loads(text)
        return cls(uid=int(raw["uid"]), gid=int(raw["gid"]), limits=Limits(**raw["limits"]),
                   netns_fd=int(raw.get("netns_fd", -1)), hide=tuple(raw.get("hide", ())))

    def enter(self) -> None:
        """Move the calling (single-threaded, root) process into the session's namespaces; raise if any step fails.

        The network namespace is the one the server made (its fd was passed in); mount and IPC namespaces are
        made here. Mounts are made private first so that nothing done here reaches the host.
        """
        if self.netns_fd >= 0:
            _check(_libc.setns(self.netns_fd, CLONE_NEWNET), "setns(net)")
            os.close(self.netns_fd)
        _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWIPC), "unshare(mount, ipc)")
        _mount("none", "/", None, MS_REC | MS_PRIVATE)
        try:
            _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=invisible")
        except OSError:  # kernels before 5.8 know only the number
            _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=2")
        for path in PRIVATE_TMP:
            if os.path.isdir(path) and not os.path.islink(path):
                mode = "0755" if path == "/run" else "1777"
                _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, f"size=16m,nr_inodes=4096,mode={mode}")
        for path in self.hide:
            if os.path.isdir(path):
                _mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=000")
            elif os.path.exists(path):
                _mount("/dev/null", path, None, MS_BIND)

    def drop(self) -> None:
        """In the child between fork and exec: limits, no new privileges, no groups, the session's UID/GID."""
        limits = self.limits
        for which, value in ((resource.RLIMIT_NPROC, limits.processes),
                             (resource.RLIMIT_DATA, limits.memory_bytes),
                             (resource.RLIMIT_FSIZE, limits.file_bytes),
                             (resource.RLIMIT_NOFILE, limits.open_files),
                             (resource.RLIMIT_CORE, 0)):
            resource.setrlimit(which, (value, value))
        # SIGXCPU at the soft limit, SIGKILL a few seconds later if it is caught.
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 5))
        _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(no_new_privs)")
        os.setgroups([])
        os.setresgid(self.gid, self.gid, self.gid)
        os.setresuid(self.uid, self.uid, self.uid)
        os.umask(0o077)


def spawn(argv: Sequence[str], confinement: Confinement | None, *, env: Mapping[str, str],
          stdin: int | IO[Any] | None = None, stdout: int | IO[Any] | None = None,
          stderr: int | IO[Any] | None = None, cwd: str | None = None) -> subprocess.Popen[bytes]:
    """Start one command of a session, confined (``confinement``) or — only when the sandbox is turned off — not.

    ``preexec_fn`` is safe here: the caller (the shell) is single-threaded.
    """
    return subprocess.Popen(list(argv), stdin=stdin, stdout=stdout, stderr=stderr, env=dict(env), cwd=cwd,
                            close_fds=True, preexec_fn=confinement.drop if confinement is not None else None)


# --- server side ----------------------------------------------------------------------------------------


def _loopback_up() -> None:
    """Bring ``lo`` up in the calling thread's network namespace (SIOCSIFFLAGS, no ``ip`` binary needed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sH22x", b"lo", 0)
        flags = struct.unpack("16sH22x", fcntl.ioctl(s, _SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(s, _SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | _IFF_UP))


def new_netns(port: int | None) -> tuple[int, socket.socket | None]:
    """A new network namespace with ``lo`` up: (its fd, a socket listening on 127.0.0.1:``port`` inside it).

    Made in a thread of its own that ends right after: ``unshare(CLONE_NEWNET)`` moves only the calling
    thread, so no thread of the server's pool is ever left in the wrong namespace. A socket keeps the
    namespace it was made in, so the server accepts in the session's namespace and dials from its own.
    """
    result: list[tuple[int, socket.socket | None]] = []
    failure: list[BaseException] = []

    def work() -> None:
        fd = -1
        try:
            _check(_libc.unshare(CLONE_NEWNET), "unshare(net)")
            fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            _loopback_up()
            listener: socket.socket | None = None
            if port is not None:
                listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                listener.bind(("127.0.0.1", port))
                listener.listen(64)
                listener.setblocking(False)
            result.append((fd, listener))
        except BaseException as e:  # handed to the caller's thread
            if fd >= 0:
                os.close(fd)
            failure.append(e)

    thread = threading.Thread(target=work, name="shoal-console-netns", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]


def _others_can_reach(path: Path) -> bool:
    """Could a user who is neither owner nor in the group walk into ``path`` (every ancestor o+x)?"""
    current = path.resolve()
    for folder in (current, *current.parents):
        try:
            mode = folder.stat().st_mode
        except OSError:
            return False
        if not mode & stat.S_IXOTH:
            return False
    return True


def _accounts_in(ids: range) -> str | None:
    """The name of an account or group whose id lies in ``ids``, if any."""
    for entry in pwd.getpwall():
        if entry.pw_uid in ids:
            return f"user {entry.pw_name} ({entry.pw_uid})"
    for group in grp.getgrall():
        if group.gr_gid in ids:
            return f"group {group.gr_name} ({group.gr_gid})"
    return None


def _mapped(ids: range, map_file: str) -> bool:
    """Are all of ``ids`` mapped in this process's user namespace (``/proc/self/uid_map``)?"""
    try:
        lines = Path(map_file).read_text().splitlines()
    except OSError:
        return True
    for line in lines:
        inside, _outside, count = (int(x) for x in line.split())
        if inside <= ids.start and ids.stop <= inside + count:
            return True
    return False


def _kill_all(uid: int) -> None:
    """SIGKILL every process of ``uid`` (``kill -KILL -1`` run as that UID reaches exactly those)."""
    with contextlib.suppress(OSError):
        subprocess.run(["kill", "-s", "KILL", "--", "-1"], user=uid, group=uid, extra_groups=[], close_fds=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10,
                       env={"PATH": "/usr/bin:/bin"})


@dataclass
class SessionSandbox:
    """One session's sandbox (server side): its UID, directory, network namespace and listener."""

    uid: int
    gid: int
    folder: Path
    home: Path
    kubeconfig: Path
    netns_fd: int
    listener: socket.socket | None
    confinement: Confinement
    _lock: socket.socket
    _released: bool = False

    def env(self, base: Mapping[str, str]) -> dict[str, str]:
        """The shell's environment for this sandbox (the shell passes it on to kubectl and the filters)."""
        return {**base, "HOME": str(self.home), "KUBECONFIG": str(self.kubeconfig),
                "KUBECACHEDIR": str(self.home / ".kube" / "cache"), ENV: self.confinement.to_env()}

    def release(self) -> None:
        """Kill what is left of the UID, remove the directory, drop the namespace and give the UID back."""
        if self._released:
            return
        self._released = True
        _kill_all(self.uid)
        if self.listener is not None:
            self.listener.close()
        with contextlib.suppress(OSError):
            os.close(self.netns_fd)
        shutil.rmtree(self.folder, ignore_errors=True)
        self._lock.close()


class Sandbox:
    """The console sandbox of one server process: checks, kubectl's copy, the UIDs in use."""

    def __init__(self, settings: ConsoleSettings, data_dir: Path, kubectl: str, hide: Sequence[Path] = ()) -> None:
        self.settings = settings
        self.data_dir = data_dir
        self.kubectl_source = kubectl
        self.hide = tuple(str(p.resolve()) for p in (data_dir, *hide))
        self.limits = Limits.of(settings)
        self.ids = settings.uid_range
        self.root: Path | None = None
        self.kubectl = ""
        self.empty = ""
        self._problem: SandboxUnavailable | None = None
        self._checked = False
        self._next = 0

    # --- can it be done here? ------------------------------------------------------------------------
    def problem(self) -> SandboxUnavailable | None:
        """Why consoles cannot be sandboxed on this server (None: they can); checked once, then remembered."""
        if not self._checked:
            self._checked = True
            try:
                self._check()
                self._setup()
            except SandboxUnavailable as e:
                log.error("web consoles are refused: they cannot be sandboxed (%s)", e)
                self._problem = e
        return self._problem

    def _check(self) -> None:
        if os.geteuid() != 0:
            raise SandboxUnavailable("not_root", f"running as uid {os.geteuid()}")
        if not self.ids:
            raise SandboxUnavailable("no_range", "SHOAL_CONSOLE__SANDBOX_UID_RANGE is empty")
        taken = _accounts_in(self.ids)
        if taken:
            raise SandboxUnavailable("range_in_use", f"{self.settings.sandbox_uid_range} contains {taken}")
        if not (_mapped(self.ids, "/proc/self/uid_map") and _mapped(self.ids, "/proc/self/gid_map")):
            raise SandboxUnavailable("range_unmapped", f"{self.settings.sandbox_uid_range} is not mapped in this "
                                                       "user namespace")
        if _others_can_reach(self.data_dir):
            raise SandboxUnavailable("data_dir_open", f"{self.data_dir} can be entered by other users: chmod 700")
        root = Path(self.settings.sandbox_dir)
        if not root.is_absolute():
            raise SandboxUnavailable("sandbox_dir", f"{root} is not absolute")
        resolved = root.resolve()
        data = self.data_dir.resolve()
        if resolved == data or data in resolved.parents:
            raise SandboxUnavailable("sandbox_dir", f"{root} is inside the data dir")
        for hidden in PRIVATE_TMP:
            if resolved == Path(hidden) or Path(hidden) in resolved.parents:
                raise SandboxUnavailable("sandbox_dir", f"{root} is under {hidden}, which sessions get empty")
        if not Path(self.kubectl_source).is_file():
            raise SandboxUnavailable("kubectl_missing", f"{self.kubectl_source} not found")
        try:
            fd, _ = new_netns(None)
            os.close(fd)
        except OSError as e:
            raise SandboxUnavailable("no_namespaces", f"cannot make a network namespace: {e}") from e
        # What the shell will do at each start (mount and IPC namespaces, /proc, tmpfs), tried once in a child
        # process: a server that may make network namespaces but not mounts (some containers) is told now.
        probe = Confinement(uid=self.ids.start, gid=self.ids.start, limits=self.limits, hide=self.hide)
        done = subprocess.run([sys.executable, "-m", "shoal.console.sandbox"], capture_output=True, text=True,
                              timeout=60, env={**os.environ, ENV: probe.to_env()})
        if done.returncode != 0:
            raise SandboxUnavailable("no_namespaces", f"cannot make the session's mounts: {done.stderr.strip()}")

    def _setup(self) -> None:
        """This server's directory under ``sandbox_dir``: kubectl's root-owned copy and an empty PATH."""
        top = Path(self.settings.sandbox_dir)
        try:
            top.mkdir(mode=0o711, parents=True, exist_ok=True)
            info = top.lstat()
            if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o022:
                raise SandboxUnavailable("sandbox_dir", f"{top} must be a directory owned by root, not writable "
                                                        "by group or others")
            top.chmod(0o711)
            if not _others_can_reach(top):
                raise SandboxUnavailable("sandbox_dir", f"{top} (or a parent) cannot be entered by other users")
            self._remove_stale(top)
            root = Path(tempfile.mkdtemp(prefix="server-", dir=top))
            root.chmod(0o711)
            (root / "pid").write_text(str(os.getpid()))
            bin_dir, empty = root / "bin", root / "empty"
            bin_dir.mkdir(mode=0o755)
            empty.mkdir(mode=0o555)
            bin_dir.chmod(0o755)
            empty.chmod(0o555)
            kubectl = bin_dir / "kubectl"
            source = Path(self.kubectl_source).resolve()
            info = source.stat()
            linked = False
            if info.st_uid == 0 and not info.st_mode & 0o022 and info.st_mode & 0o005 == 0o005:
                with contextlib.suppress(OSError):  # another file system: copy
                    os.link(source, kubectl)
                    linked = True
            if not linked:  # someone other than root could change the original, or it is not world-executable
                shutil.copy2(source, kubectl)
                os.chown(kubectl, 0, 0)
                kubectl.chmod(0o755)
        except OSError as e:
            raise SandboxUnavailable("sandbox_dir", f"cannot prepare {top}: {e}") from e
        self.root, self.kubectl, self.empty = root, str(kubectl), str(empty)

    @staticmethod
    def _remove_stale(top: Path) -> None:
        """Remove the directories of servers that ended without cleaning up (their pid is gone)."""
        for folder in top.glob("server-*"):
            try:
                pid = int((folder / "pid").read_text())
            except (OSError, ValueError):
                continue
            if not Path(f"/proc/{pid}").exists():
                shutil.rmtree(folder, ignore_errors=True)

    # --- per session ----------------------------------------------------------------------------------
    def _lease(self) -> tuple[int, socket.socket]:
        """A free UID of the range, locked host-wide by an abstract unix socket named after it."""
        count = len(self.ids)
        for step in range(count):
            uid = self.ids[(self._next + step) % count]
            lock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                lock.bind(f"\0shoal-console-uid-{uid}")
            except OSError as e:
                lock.close()
                if e.errno == errno.EADDRINUSE:
                    continue
                raise
            self._next = (self._next + step + 1) % count
            return uid, lock
        raise SandboxUnavailable("exhausted", f"all {count} UIDs of {self.settings.sandbox_uid_range} are in use")

    def open(self, kubeconfig: str, port: int | None) -> SessionSandbox:
        """A session's sandbox: a UID, its directory with the kubeconfig, a network namespace listening on ``port``.

        Blocking (a fork to clear the UID, a thread for the namespace): call it in a worker thread.
        """
        problem = self.problem()
        if problem is not None:
            raise problem
        assert self.root is not None
        uid, lock = self._lease()
        gid = uid
        folder: Path | None = None
        netns_fd = -1
        listener: socket.socket | None = None
        try:
            _kill_all(uid)  # a crashed server's session may have left processes under this UID
            folder = self.root / f"s-{secrets.token_hex(8)}"
            folder.mkdir(mode=0o700)
            home = folder / "home"
            home.mkdir(mode=0o700)
            os.chown(home, uid, gid)
            config = folder / "kubeconfig"
            fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(kubeconfig)
            os.chown(config, 0, gid)
            config.chmod(0o440)
            os.chown(folder, 0, gid)
            folder.chmod(0o750)
            netns_fd, listener = new_netns(port)
            confinement = Confinement(uid=uid, gid=gid, limits=self.limits, netns_fd=netns_fd, hide=self.hide)
            return SessionSandbox(uid=uid, gid=gid, folder=folder, home=home, kubeconfig=config, netns_fd=netns_fd,
                                  listener=listener, confinement=confinement, _lock=lock)
        except BaseException:
            if listener is not None:
                listener.close()
            if netns_fd >= 0:
                os.close(netns_fd)
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
            lock.close()
            raise

    def aclose(self) -> None:
        """Server shutdown: remove this server's directory."""
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None


if __name__ == "__main__":  # the check's probe: enter a session's namespaces and mounts, then exit
    try:
        Confinement.from_env(os.environ[ENV]).enter()
    except OSError as failure:
        sys.exit(str(failure))
