"""Run a real ``shoal server`` process for end-to-end tests, on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

__all__ = ["ShoalProcess", "free_port"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ShoalProcess:
    """``shoal server`` in a subprocess; ``stop()`` ends it and returns its output.

    ``scheme="https"``: the default ``shoal server`` (no TLS settings: HTTPS with the CA it generates
    into its data dir); readiness is then checked against that CA (:attr:`ca`). ``scheme="http"``: the
    explicit plain-HTTP mode (``SHOAL_PLAIN_HTTP=true``), for tests whose clients talk plain HTTP.
    """

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None, *, scheme: str = "http") -> None:
        self.port = free_port()
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        self.env = {
            **os.environ,
            "SHOAL_DATA_DIR": str(data_dir),
            "SHOAL_LISTEN": f"127.0.0.1:{self.port}",
            "SHOAL_LOG_JSON": "true",
            **({"SHOAL_PLAIN_HTTP": "true"} if scheme == "http" else {}),
            **(env or {}),
        }
        self.log = data_dir.parent / f"server-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def ca(self) -> str:
        """The self-signed CA an HTTPS server wrote (kubeconfigs and clients trust it)."""
        return str(self.data_dir / "tls" / "ca.crt")

    def _ready(self) -> bool:
        verify: str | bool = True
        if self.url.startswith("https://"):
            if not Path(self.ca).exists():
                return False
            verify = self.ca
        try:
            return httpx.get(f"{self.url}/readyz", verify=verify, timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def start(self, timeout: float = 120) -> None:
        """Start and wait until ``/readyz`` answers (a cold start under heavy load was seen past 30 s)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as handle:
            self.proc = subprocess.Popen([sys.executable, "-m", "shoal", "server"], env=self.env, stdout=handle,
                                         stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"shoal server exited early:\n{self.output()}")
            if self._ready():
                return
            time.sleep(0.2)
        raise RuntimeError(f"shoal server not ready after {timeout}s:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> str:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.output()
