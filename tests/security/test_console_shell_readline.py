"""The console's shell runs as root with HOME set to the session's home, which the session's UID writes.

readline reads an init file from ``$HOME/.inputrc`` (at start, and again on Ctrl-X Ctrl-R) and
echoes every line it cannot parse — so a symlink planted there by the session's UID would show
a root-only file, and a ``$include`` would too. Python would also put the working directory (the
same home) first on ``sys.path``. The shell must read nothing from there.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from shoal.console.pty import ShellProcess

SECRET = "root-only-line-8d1f3c"


async def _output_until(shell: ShellProcess, needle: bytes, seconds: float) -> bytes:
    seen = b""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while needle not in seen and loop.time() < deadline:
        try:
            chunk = await asyncio.wait_for(shell.read(), deadline - loop.time())
        except TimeoutError:
            break
        if chunk is None:
            break
        seen += chunk
    return seen


async def test_shell_reads_no_init_file_or_module_from_the_session_home(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text(f"{SECRET}\n")
    secret.chmod(0o600)
    home = tmp_path / "home"
    home.mkdir()
    (home / ".inputrc").symlink_to(secret)
    (home / "readline.py").write_text(f"print('{SECRET}-module')\n")  # shadows the module if cwd is on sys.path
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "SHOAL_CONSOLE_KUBECTL": "/bin/false",
           "SHOAL_CONSOLE_LANG": "en", "SHOAL_CONSOLE_USER": "vera", "SHOAL_CONSOLE_CLUSTER": "BCS-K8S-40000"}
    if os.environ.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    shell = ShellProcess(env, home)
    try:
        seen = await _output_until(shell, b"kubectl\x1b[0m> ", 20)
        assert b"kubectl\x1b[0m> " in seen, seen
        await shell.write(b"\x18\x12")  # Ctrl-X Ctrl-R: re-read the init file
        await shell.write(b"help\n")
        seen += await _output_until(shell, b"built-ins", 10)
    finally:
        await shell.close()
    assert b"built-ins" in seen, seen
    assert SECRET.encode() not in seen, seen
