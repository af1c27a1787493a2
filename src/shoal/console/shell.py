"""The restricted kubectl shell: the program that runs in a web console's PTY (``python -m shoal.console.shell``).

Who starts it: ``console.pty.ShellProcess``, one per console session, as the
leader of a new session whose controlling terminal is the PTY. It reads lines
with GNU readline (line editing, history with the arrow keys), asks
``console.commands`` what each line means, and runs ``kubectl`` (and the
filters it is piped into) as a pipeline of child processes — no system shell.
The children share the terminal, so ``kubectl exec -it`` gets a real TTY,
Ctrl-C stops the running command (the shell itself ignores it meanwhile) and
window size changes reach them as SIGWINCH.

Its environment is prepared by the server (``SHOAL_CONSOLE_*``): the kubectl
and filter binaries by absolute path, the language, the cluster and user for
the prompt, and the file descriptor on which each finished line is reported
as a JSON object (line, exit status, refusal) for the audit log.

The shell itself runs as the server's user (root); before it reads a line it
enters the session's sandbox (``SHOAL_CONSOLE_SANDBOX``, see
``console.sandbox``: network namespace, private mounts) and every command it
starts runs as the session's own unprivileged UID with resource limits. If the
sandbox cannot be entered the shell says why and exits: it never runs a
command unsandboxed when the server asked for a sandbox.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import termios
import time
from typing import Any, TextIO

from shoal.console.commands import BUILTINS, FILTERS, Builtin, Pipeline, Refused, parse_line
from shoal.console.sandbox import ENV as SANDBOX_ENV
from shoal.console.sandbox import Confinement, spawn
from shoal.core.i18n import translate

__all__ = ["main"]

_RED, _YELLOW, _DIM, _BOLD, _RESET = "\x1b[31m", "\x1b[33m", "\x1b[2m", "\x1b[1m", "\x1b[0m"
#: Exit statuses reported for lines that did not run, as a shell would report them.
REFUSED_STATUS = 126
CLEAR = "\x1b[H\x1b[2J\x1b[3J"


class Shell:
    def __init__(self, env: dict[str, str], events: TextIO | None, out: TextIO,
                 confinement: Confinement | None = None) -> None:
        self.confinement = confinement
        self.lang = env.get("SHOAL_CONSOLE_LANG", "zh-CN")
        self.kubectl = env["SHOAL_CONSOLE_KUBECTL"]
        self.filters: dict[str, str] = json.loads(env.get("SHOAL_CONSOLE_FILTERS", "{}"))
        self.cluster = env.get("SHOAL_CONSOLE_CLUSTER", "")
        self.user = env.get("SHOAL_CONSOLE_USER", "")
        self.events = events
        self.out = out
        self.child_env = {k: v for k, v in env.items() if not k.startswith("SHOAL_CONSOLE_")}
        self.history: list[str] = []

    def t(self, key: str, **params: Any) -> str:
        return translate(key, self.lang, **params)

    def say(self, text: str) -> None:
        self.out.write(text + "\n")  # the terminal's ONLCR turns \n into \r\n
        self.out.flush()

    def report(self, line: str, status: int, refused: str | None = None, started: float | None = None) -> None:
        if self.events is None:
            return
        event: dict[str, Any] = {"line": line, "exit": status}
        if refused:
            event["refused"] = refused
        if started is not None:
            event["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
        with contextlib.suppress(OSError):
            self.events.write(json.dumps(event) + "\n")
            self.events.flush()

    def prompt(self) -> str:
        # \001 and \002 tell readline the colour codes take no room on the line.
        return f"\001{_BOLD}\002{self.user}@{self.cluster}\001{_RESET}\002 \001{_DIM}\002kubectl\001{_RESET}\002> "

    def banner(self) -> None:
        self.say(f"{_BOLD}{self.t('console.banner', cluster=self.cluster, user=self.user)}{_RESET}")
        self.say(f"{_DIM}{self.t('console.banner_hint')}{_RESET}")

    def builtin(self, name: str) -> int:
        if name == "help":
            self.say(self.t("console.help", filters=" ".join(FILTERS), builtins=", ".join(BUILTINS)))
        elif name == "clear":
            self.out.write(CLEAR)
            self.out.flush()
        elif name == "history":
            for number, entry in enumerate(self.history, start=1):
                self.say(f"{number:5d}  {entry}")
        return 0

    def run(self, pipeline: Pipeline) -> int:
        """Start kubectl and its filters connected by pipes; the status is the last one's, as in a shell."""
        argvs = [[self.kubectl, *pipeline.kubectl]] + [[self.filters[f[0]], *f[1:]] for f in pipeline.filters]
        procs: list[subprocess.Popen[bytes]] = []
        previous: int | None = None
        # A Python handler (not SIG_IGN) so the children get the default action back at exec.
        old = signal.signal(signal.SIGINT, lambda *_: None)
        try:
            for index, argv in enumerate(argvs):
                last = index == len(argvs) - 1
                try:
                    proc = spawn(argv, self.confinement, stdin=previous,
                                 stdout=None if last else subprocess.PIPE, env=self.child_env)
                except OSError as e:
                    text = self.t("console.start_failed", command=os.path.basename(argv[0]), error=e.strerror)
                    self.say(f"{_RED}{text}{_RESET}")
                    if previous is not None:
                        os.close(previous)
                    for started in procs:
                        started.kill()
                        started.wait()
                    return 127
                if previous is not None:
                    os.close(previous)
                previous = None
                if proc.stdout is not None:
                    previous = os.dup(proc.stdout.fileno())
                    proc.stdout.close()
                procs.append(proc)
            codes = [p.wait() for p in procs]
        finally:
            signal.signal(signal.SIGINT, old)
        code = codes[-1]
        return 128 - code if code < 0 else code

    def handle(self, line: str) -> bool:
        """Run one line; False when the session should end."""
        started = time.monotonic()
        try:
            parsed = parse_line(line)
        except Refused as refused:
            self.say(f"{_RED}{self.t(refused.key, **refused.params)}{_RESET}")
            self.say(f"{_DIM}{self.t('console.refused_hint')}{_RESET}")
            self.report(line, REFUSED_STATUS, refused.key)
            return True
        if parsed is None:
            return True
        if isinstance(parsed, Builtin):
            if parsed.name == "exit":
                self.report(line, 0)
                return False
            self.report(line, self.builtin(parsed.name))
            return True
        status = self.run(parsed)
        self.report(line, status, started=started)
        return True

    def loop(self) -> int:
        # The shell runs as root with HOME set to the session's home, which the session's UID writes:
        # readline must read no init file from there (~/.inputrc, or one named by $include), at start
        # or on Ctrl-X Ctrl-R — it echoes the lines it cannot parse, so a symlink would show a root-only file.
        os.environ["INPUTRC"] = "/dev/null"
        import readline

        readline.parse_and_bind(r'"\C-x\C-r": ""')
        readline.parse_and_bind("set enable-bracketed-paste on")
        self.banner()
        while True:
            try:
                line = input(self.prompt())
            except EOFError:
                self.say("exit")
                return 0
            except KeyboardInterrupt:
                self.out.write("^C\n")
                continue
            text = line.strip()
            if not text:
                continue
            self.history.append(text)
            if not self.handle(text):
                return 0


def _take_terminal() -> None:
    """Make the PTY on stdin this session's controlling terminal (Ctrl-C and SIGWINCH then reach us)."""
    with contextlib.suppress(OSError):
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _enter_sandbox() -> Confinement | None:
    """Enter the session's sandbox if the server asked for one; exit with the reason if that fails."""
    text = os.environ.get(SANDBOX_ENV)
    if not text:
        return None
    try:
        confinement = Confinement.from_env(text)
        confinement.enter()
    except (OSError, ValueError, KeyError) as e:
        lang = os.environ.get("SHOAL_CONSOLE_LANG", "zh-CN")
        message = translate("error.console_sandbox_start_failed", lang)
        sys.stdout.write(f"{_RED}{message} ({e}){_RESET}\n{translate('hint.console_sandbox', lang)}\n")
        sys.stdout.flush()
        sys.exit(1)
    return confinement


def main() -> int:
    _take_terminal()
    confinement = _enter_sandbox()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    fd = os.environ.get("SHOAL_CONSOLE_EVENTS_FD")
    events = os.fdopen(int(fd), "w", buffering=1) if fd else None
    shell = Shell(dict(os.environ), events, sys.stdout, confinement)
    try:
        return shell.loop()
    finally:
        if events is not None:
            with contextlib.suppress(OSError):
                events.close()


if __name__ == "__main__":
    sys.exit(main())
