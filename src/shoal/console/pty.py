"""The console's PTY: start the restricted shell on a pseudo-terminal and move bytes to and from it.

Who calls it: ``console.sessions`` when a session's terminal connects. The
shell (``console.shell``) runs as a new session leader with the PTY as its
controlling terminal; the server keeps the master side, reads output and the
shell's line reports with ``loop.add_reader`` (no thread per session), writes
keystrokes, and sets the window size (the kernel then signals SIGWINCH to
whatever runs in the foreground, e.g. ``kubectl exec -it``).

Ending a session hangs up the terminal's whole process group (SIGHUP, then
SIGKILL after :data:`KILL_AFTER` seconds), as closing a real terminal does.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import json
import os
import signal
import struct
import subprocess
import sys
import termios
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["KILL_AFTER", "ShellProcess"]

#: Seconds between SIGHUP and SIGKILL when a session ends (kubectl exits at once on a hang-up).
KILL_AFTER = 3.0
_READ = 65536
#: Output chunks queued for a slow browser before the PTY is no longer read (at most ~4 MB), and
#: the level at which reading resumes.
_PAUSE_AT = 64
_RESUME_AT = 8


class ShellProcess:
    """One restricted shell on one PTY."""

    def __init__(self, env: Mapping[str, str], cwd: Path, rows: int = 24, cols: int = 80,
                 pass_fds: tuple[int, ...] = ()) -> None:
        """Start the shell; ``pass_fds`` are handed to it as well (the sandbox's network namespace)."""
        self.loop = asyncio.get_running_loop()
        self.master, slave = os.openpty()
        events_r, events_w = os.pipe()
        self._set_size(rows, cols)
        try:
            self.proc = subprocess.Popen(
                # -P: the working directory (the session's HOME, which its UID controls) is not on sys.path.
                [sys.executable, "-P", "-m", "shoal.console.shell"], stdin=slave, stdout=slave, stderr=slave, cwd=cwd,
                env={**env, "SHOAL_CONSOLE_EVENTS_FD": str(events_w)}, pass_fds=(events_w, *pass_fds),
                start_new_session=True, close_fds=True)
        except BaseException:
            for fd in (self.master, events_r):
                os.close(fd)
            raise
        finally:
            os.close(slave)
            os.close(events_w)
        self.events_fd = events_r
        os.set_blocking(self.master, False)
        os.set_blocking(self.events_fd, False)
        self.output: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.reports: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._partial = b""
        self._events_done = False
        self._paused = False
        self.loop.add_reader(self.master, self._on_output)
        self.loop.add_reader(self.events_fd, self._on_event)
        self._closed = False

    # --- reading --------------------------------------------------------------------------------
    def _on_output(self) -> None:
        try:
            data = os.read(self.master, _READ)
        except BlockingIOError:
            return
        except OSError as e:  # EIO: every process holding the slave side has gone
            if e.errno not in (errno.EIO, errno.EBADF):
                raise
            data = b""
        if not data:
            self.loop.remove_reader(self.master)
            self.output.put_nowait(None)
            return
        self.output.put_nowait(data)
        if self.output.qsize() >= _PAUSE_AT:  # the browser is slower than the program: stop reading, the
            self.loop.remove_reader(self.master)  # PTY fills up and the program waits on its writes
            self._paused = True

    async def read(self) -> bytes | None:
        """The next chunk of terminal output; None once the terminal has closed."""
        data = await self.output.get()
        if self._paused and self.output.qsize() <= _RESUME_AT and not self._closed:
            self._paused = False
            self.loop.add_reader(self.master, self._on_output)
        return data

    def _on_event(self) -> None:
        try:
            data = os.read(self.events_fd, _READ)
        except BlockingIOError:
            return
        if not data:
            self.loop.remove_reader(self.events_fd)
            self._events_done = True
            self.reports.put_nowait(None)
            return
        self._partial += data
        *lines, self._partial = self._partial.split(b"\n")
        for line in lines:
            with contextlib.suppress(ValueError):
                event = json.loads(line)
                if isinstance(event, dict):
                    self.reports.put_nowait(event)

    # --- writing --------------------------------------------------------------------------------
    async def write(self, data: bytes) -> None:
        """Keystrokes (or a paste) into the terminal; waits while the terminal's input buffer is full."""
        view = memoryview(data)
        while view:
            try:
                written = os.write(self.master, view)
            except BlockingIOError:
                await asyncio.sleep(0.01)
                continue
            except OSError:
                return  # the shell has gone; the output side reports the end
            view = view[written:]

    def _set_size(self, rows: int, cols: int) -> None:
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def resize(self, rows: int, cols: int) -> None:
        if not self._closed:
            self._set_size(max(1, min(rows, 1000)), max(1, min(cols, 1000)))

    # --- ending ---------------------------------------------------------------------------------
    async def wait(self) -> int:
        """The shell's exit status (waited for in a worker thread: it is quick once the group is hung up)."""
        return await asyncio.to_thread(self.proc.wait)

    async def close(self) -> None:
        """Hang up: SIGHUP to the shell's process group, SIGKILL if it lingers; release the descriptors."""
        if self._closed:
            return
        self._closed = True
        self.loop.remove_reader(self.master)
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGHUP)
            try:
                await asyncio.wait_for(self.wait(), KILL_AFTER)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                await self.wait()
        # Children that ignored the hang-up (none should) are still in the group: make sure.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.loop.remove_reader(self.events_fd)
        with contextlib.suppress(OSError):  # lines reported just before the end may still be in the pipe
            while not self._events_done:
                before = self.reports.qsize()
                self._on_event()
                if self.reports.qsize() == before:
                    break
        for fd in (self.master, self.events_fd):
            with contextlib.suppress(OSError):
                os.close(fd)
