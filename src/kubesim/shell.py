"""A tiny ``sh`` for ``kubectl exec``: enough for scripts written against real clusters.

A bare ``sh`` on a terminal (``kubectl exec -it … sh``) is interactive: a prompt, echo,
one line run at a time. Supports ``sh -c`` scripts with ``;``, ``&&``, ``||``, ``|``, ``>&2``, ``$VAR`` and
``$?``, and the builtins ``echo``, ``printf``, ``cat`` (stdin), ``exit``, ``sleep``,
``env``, ``printenv``, ``hostname``, ``pwd``, ``whoami``, ``id``, ``uname``,
``date``, ``ls``, ``true`` and ``false``. Unknown commands print
``sh: 1: X: not found`` and exit 127, like dash.
"""

from __future__ import annotations

import asyncio
import re
import shlex
import threading
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Protocol

__all__ = ["ExecIO", "run_argv", "run_captured"]

SHELLS = {"sh", "bash", "/bin/sh", "/bin/bash", "/usr/bin/sh", "/usr/bin/bash", "ash", "/bin/ash"}


class ExecIO(Protocol):
    """Where a command reads stdin and writes its output (channels 1 and 2)."""

    async def read_stdin(self) -> bytes: ...

    async def read_some(self) -> bytes: ...

    async def write(self, channel: int, data: bytes) -> None: ...


class _Exit(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


Writer = Callable[[bytes], Awaitable[None]]


class _Shell:
    def __init__(self, io: ExecIO, env: dict[str, str], *, fast: bool = False) -> None:
        self.io = io
        self.env = env
        self.fast = fast
        self.status = 0

    def expand(self, word: str) -> str:
        def sub(m: re.Match[str]) -> str:
            name = m.group(1) or m.group(2)
            if name == "?":
                return str(self.status)
            return self.env.get(name, "")
        return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*|\?)", sub, word)

    async def builtin(self, argv: list[str], stdin: bytes | None, out: Writer, err: Writer) -> int:
        cmd, args = argv[0].rsplit("/", 1)[-1], argv[1:]
        if cmd == "echo":
            newline = True
            if args and args[0] == "-n":
                newline, args = False, args[1:]
            await out((" ".join(args) + ("\n" if newline else "")).encode())
        elif cmd == "printf":
            if args:
                fmt = args[0].replace("\\n", "\n").replace("\\t", "\t")
                values = args[1:]
                text = fmt.replace("%s", "{}").replace("%d", "{}").format(*values) if values else fmt
                await out(text.encode())
        elif cmd == "cat":
            if args:
                await err(f"cat: {args[0]}: No such file or directory\n".encode())
                return 1
            await out(stdin if stdin is not None else await self.io.read_stdin())
        elif cmd == "exit":
            raise _Exit(int(args[0]) if args else self.status)
        elif cmd == "true":
            return 0
        elif cmd == "false":
            return 1
        elif cmd == "sleep":
            if not self.fast:
                await asyncio.sleep(float(args[0]) if args else 0)
        elif cmd == "env":
            await out("".join(f"{k}={v}\n" for k, v in self.env.items()).encode())
        elif cmd == "printenv":
            if args:
                if args[0] not in self.env:
                    return 1
                await out(f"{self.env[args[0]]}\n".encode())
            else:
                await out("".join(f"{k}={v}\n" for k, v in self.env.items()).encode())
        elif cmd == "hostname":
            await out(f"{self.env.get('HOSTNAME', 'localhost')}\n".encode())
        elif cmd == "pwd":
            await out(b"/\n")
        elif cmd == "whoami":
            await out(b"root\n")
        elif cmd == "id":
            await out(b"uid=0(root) gid=0(root) groups=0(root)\n")
        elif cmd == "uname":
            text = "Linux" if not args else "Linux kubesim 6.12.48-1-amd64 #1 SMP x86_64 GNU/Linux"
            await out(f"{text}\n".encode())
        elif cmd == "date":
            await out(datetime.now(UTC).strftime("%a %b %d %H:%M:%S UTC %Y\n").encode())
        elif cmd == "ls":
            await out(b"bin\ndev\netc\nhome\nproc\nroot\nsys\ntmp\nusr\nvar\n")
        elif cmd in SHELLS and len(args) >= 2 and args[0] == "-c":
            return await self.script(args[1], stdin, out, err)
        else:
            await err(f"sh: 1: {argv[0]}: not found\n".encode())
            return 127
        return 0

    async def interactive(self, out: Writer) -> int:
        """A shell on a terminal: prompt, echo what is typed (the pty's ECHO), run each line at Enter.

        Backspace edits, Ctrl-C drops the line, Ctrl-D on an empty line ends the shell like ``exit``.
        """
        err = out  # one terminal: stderr shows up with stdout
        line = bytearray()
        await out(b"# ")
        while True:
            chunk = await self.io.read_some()
            if not chunk:
                return self.status
            for byte in chunk:
                if byte in (10, 13):
                    await out(b"\n")
                    text = line.decode(errors="replace")
                    line.clear()
                    if text.strip():
                        await self.script(text, b"", out, err)
                    await out(b"# ")
                elif byte == 4:
                    if not line:
                        await out(b"exit\n")
                        return self.status
                elif byte in (8, 127):
                    if line:
                        line.pop()
                        await out(b"\b \b")
                elif byte == 3:
                    line.clear()
                    await out(b"^C\n# ")
                else:
                    line.append(byte)
                    await out(bytes([byte]))

    async def simple(self, words: list[str], stdin: bytes | None, out: Writer, err: Writer) -> int:
        argv: list[str] = []
        to_stderr = False
        for w in words:
            if w in (">&2", "1>&2"):
                to_stderr = True
            elif w in ("2>&1", "2>/dev/null"):
                continue
            else:
                argv.append(self.expand(w))
        if not argv:
            return 0
        return await self.builtin(argv, stdin, err if to_stderr else out, err)

    async def pipeline(self, stages: list[list[str]], out: Writer, err: Writer) -> int:
        data: bytes | None = None
        status = 0
        for n, stage in enumerate(stages):
            if n == len(stages) - 1:
                status = await self.simple(stage, data, out, err)
            else:
                buf = bytearray()

                async def collect(b: bytes, buf: bytearray = buf) -> None:
                    buf.extend(b)
                status = await self.simple(stage, data, collect, err)
                data = bytes(buf)
        return status

    async def script(self, text: str, stdin: bytes | None, out: Writer, err: Writer) -> int:
        lex = shlex.shlex(text.replace("\n", ";"), posix=True, punctuation_chars=";&|>")
        lex.whitespace_split = True
        tokens = list(lex)
        # re-join redirections split by the lexer: '>', '&2' -> '>&2'
        joined: list[str] = []
        for t in tokens:
            if joined and joined[-1] in (">&", "1>&", ">") and t in ("2", "&2"):
                joined[-1] = ">&2"
            else:
                joined.append(t)
        op = ";"
        stages: list[list[str]] = [[]]
        for t in [*joined, ";"]:
            if t in (";", "&&", "||"):
                run = (op == ";") or (op == "&&" and self.status == 0) or (op == "||" and self.status != 0)
                if run and any(stages):
                    self.status = await self.pipeline([s for s in stages if s], out, err)
                op, stages = t, [[]]
            elif t == "|":
                stages.append([])
            else:
                stages[-1].append(t)
        return self.status


async def run_argv(argv: list[str], io: ExecIO, env: dict[str, str], *, fast: bool = False,
                   interactive: bool = False) -> int:
    """Run ``argv`` as the container would and return its exit code (``fast``: sleeps take no time).

    ``interactive`` (stdin is a terminal: ``exec -it … sh``): a bare shell reads and runs one line at a time.
    """
    shell = _Shell(io, env, fast=fast)

    async def out(b: bytes) -> None:
        await io.write(1, b)

    async def err(b: bytes) -> None:
        await io.write(2, b)

    if not argv:
        return 0
    try:
        if argv[0] in SHELLS and len(argv) == 1:
            if interactive:
                return await shell.interactive(out)
            return await shell.script((await io.read_stdin()).decode(errors="replace"), b"", out, err)
        return await shell.builtin(argv, None, out, err)
    except _Exit as e:
        return e.code
    except (ValueError, IndexError) as e:
        await err(f"sh: 1: {e}\n".encode())
        return 2


class _Capture:
    def __init__(self) -> None:
        self.out = bytearray()

    async def read_stdin(self) -> bytes:
        return b""

    async def read_some(self) -> bytes:
        return b""

    async def write(self, channel: int, data: bytes) -> None:
        self.out.extend(data)


def run_captured(argv: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run a container's main command to completion at once: exit code and combined output.

    The simulated kubelet calls this from inside the server's event loop, so the
    command runs on a private loop in a short-lived thread; sleeps are skipped.
    """
    capture = _Capture()
    result: list[int] = []

    def run() -> None:
        result.append(asyncio.run(run_argv(argv, capture, env, fast=True)))

    worker = threading.Thread(target=run, name="kubesim-container")
    worker.start()
    worker.join(timeout=5)
    return (result[0] if result else 137), capture.out.decode(errors="replace")
