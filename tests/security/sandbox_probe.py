"""Run one command in a live console session's sandbox as the shell would (``python -m tests.security.sandbox_probe``).

Used by the sandbox tests (as root): it joins the namespaces of a process of a
real session (its kubectl), takes that process's UID and GID, and starts the
command with :func:`shoal.console.sandbox.spawn` — the function the console
shell starts every command with — so the command gets exactly what a command
typed into that session gets, but with arguments the shell's parser would
refuse (file operands, other programs). Prints ``{"exit", "stdout", "stderr"}``
as JSON; ``exit`` is -1000 when the command could not even be started
(``error`` then holds the reason).

    python -m tests.security.sandbox_probe PID [--no-mount] [--cpu S] [--nproc N] -- ARGV...
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from shoal.console import sandbox


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("pid", type=int)
    parser.add_argument("--no-mount", action="store_true", help="keep the host's mounts (test the UID alone)")
    parser.add_argument("--cpu", type=int, default=600)
    parser.add_argument("--nproc", type=int, default=256)
    parser.add_argument("--timeout", type=float, default=30)
    parser.add_argument("argv", nargs="+")
    args = parser.parse_args()
    target = Path(f"/proc/{args.pid}")
    status = dict(line.split(":\t", 1) for line in (target / "status").read_text().splitlines() if ":\t" in line)
    uid, gid = int(status["Uid"].split()[0]), int(status["Gid"].split()[0])
    environ = dict(item.split("=", 1) for item in (target / "environ").read_bytes().decode().split("\0")
                   if "=" in item)
    net = os.open(f"/proc/{args.pid}/ns/net", os.O_RDONLY)
    mnt = os.open(f"/proc/{args.pid}/ns/mnt", os.O_RDONLY)
    cwd = os.readlink(f"/proc/{args.pid}/cwd")
    sandbox._check(sandbox._libc.setns(net, sandbox.CLONE_NEWNET), "setns(net)")
    if not args.no_mount:
        sandbox._check(sandbox._libc.setns(mnt, sandbox.CLONE_NEWNS), "setns(mnt)")
    limits = sandbox.Limits(cpu_seconds=args.cpu, processes=args.nproc, memory_bytes=1 << 30,
                            file_bytes=64 << 20, open_files=1024)
    confinement = sandbox.Confinement(uid=uid, gid=gid, limits=limits)
    env = {**environ, "PATH": "/usr/bin:/bin"}
    try:
        proc = sandbox.spawn(args.argv, confinement, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, cwd=cwd)
    except OSError as e:
        print(json.dumps({"exit": -1000, "stdout": "", "stderr": "", "error": str(e), "uid": uid}))
        return 0
    try:
        out, err = proc.communicate(timeout=args.timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    print(json.dumps({"exit": proc.returncode, "stdout": out.decode(errors="replace"),
                      "stderr": err.decode(errors="replace"), "uid": uid}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
