"""A throwaway PostgreSQL 15 server in a temporary directory, for the test session.

``initdb`` refuses to run as root, so when the tests run as root (sessions and
CI do) the server runs as the ``postgres`` user in a directory it owns.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

__all__ = ["PostgresServer"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _find(binary: str) -> str:
    for candidate in (shutil.which(binary), f"/usr/local/bin/{binary}", *sorted(
            Path("/usr/lib/postgresql").glob(f"*/bin/{binary}"), reverse=True)):
        if candidate and Path(candidate).exists():
            return str(candidate)
    raise RuntimeError(f"PostgreSQL binary {binary!r} not found (PostgreSQL 15 is expected on the image)")


class PostgresServer:
    def __init__(self, base: Path | None = None) -> None:
        # Not under pytest's basetemp: pytest resets that tree to mode 0700, which would lock the
        # postgres user out of its own data directory while another pytest run starts.
        self.base = base or Path(tempfile.mkdtemp(prefix="shoal-pg-"))
        self.port = _free_port()
        self.data = self.base / "data"
        self._as_root = os.geteuid() == 0

    def _run(self, *args: str) -> None:
        cmd = list(args)
        if self._as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")

    def start(self) -> None:
        if self._as_root:
            shutil.chown(self.base, "postgres")
        self._run(_find("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        self._run(
            _find("pg_ctl"), "-D", str(self.data), "-w", "-l", str(self.base / "log"), "-o",
            f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300",
            "start",
        )

    def stop(self) -> None:
        try:
            self._run(_find("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.base, ignore_errors=True)

    def psql(self, sql: str) -> None:
        self._run(_find("psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-c", sql)

    def create_database(self, name: str | None = None, template: str | None = None) -> str:
        name = name or "t_" + uuid.uuid4().hex[:12]
        self.psql(f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{name}"
