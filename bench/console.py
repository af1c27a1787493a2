"""Benchmark: the web console's keystroke-to-echo latency over the websocket, vs the same shell on a local PTY.

Run: ``.venv/bin/python -m bench console`` (``BENCH_KEYS`` keystrokes, default 400). Loopback only.

Setup: one kubesim cluster (a ``kubesim serve`` process, 3 nodes) and one plain-HTTP
``shoal server`` process with the cluster imported into a project; the console's
kubectl reaches the gateway through the loopback TLS relay (not exercised by
keystrokes, only by commands).

Figures, in one run:

* *session open*: ``POST …/console/sessions`` + websocket connect until the prompt shows;
* *keystroke -> echo through the console*: one character sent as a ``0`` + base64 frame,
  timed until its echo (readline's) comes back as a base64 output frame — p50 / p99;
* *keystroke -> echo on a local PTY*: the same restricted shell on a PTY of this process, no
  server, no websocket — p50 / p99, the floor the console cannot beat;
* *command round trip*: ``kubectl get nodes`` typed, until the next prompt (through the gateway).

Prints each figure and the console/PTY ratio.
"""

from __future__ import annotations

import base64
import json
import os
import pty
import select
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from websockets.sync.client import ClientConnection, connect

from kubesim import ROLE_CLUSTER_ADMIN
from kubesim.runner import Simulator
from shoal.console.framing import stdin_frame
from shoal.console.sessions import find_filters, find_kubectl

ADMIN_TOKEN = "shoal_bench-console-admin-token-0123456789"
KEYS = int(os.environ.get("BENCH_KEYS", "400"))
PROMPT = b"kubectl\x1b[0m> "


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_shoal(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {**os.environ, "SHOAL_DATA_DIR": str(data_dir), "SHOAL_LISTEN": f"127.0.0.1:{port}",
           "SHOAL_ADMIN_TOKEN": ADMIN_TOKEN, "SHOAL_LOG_LEVEL": "WARNING", "SHOAL_CLUSTER_HEALTH_ENABLED": "false",
           "SHOAL_PLAIN_HTTP": "true"}  # as measured so far: the client speaks http, the console uses the relay
    log = (data_dir.parent / "server.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "shoal", "server"], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("shoal server did not start")


def _seed(url: str, kubeconfig: str) -> str:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as api:

        def post(path: str, body: dict[str, object]) -> httpx.Response:
            # The API commits after its answer has gone out: the next call may briefly not see the last.
            for _ in range(100):
                r = api.post(path, json=body)
                if r.status_code < 400:
                    return r
                time.sleep(0.1)
            r.raise_for_status()
            return r

        post("/api/v1/businesses", {"id": 900, "name": "Bench", "maintainers": ["admin"]})
        post("/api/v1/projects", {"code": "bench", "name": "Bench"})
        post("/api/v1/projects/bench/enable", {"business_id": 900})
        return str(post("/api/v1/clusters", {"project": "bench", "name": "sim", "kubeconfig": kubeconfig}).json()["id"])


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class _Socket:
    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.buffer = b""

    def until(self, needle: bytes, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.buffer:
            frame = self.socket.recv(timeout=max(0.01, deadline - time.monotonic()))
            self.buffer += base64.b64decode(frame)
        self.buffer = self.buffer[self.buffer.index(needle) + len(needle):]


def _console_figures(url: str, cluster_id: str) -> tuple[float, list[float], float]:
    started = time.perf_counter()
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=60) as api:
        session = api.post(f"/api/v1/clusters/{cluster_id}/console/sessions", json={}).json()
    socket = connect(session["websocket_url"], additional_headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                     open_timeout=60)
    io = _Socket(socket)
    io.until(PROMPT)
    opened = time.perf_counter() - started
    latencies: list[float] = []
    for index in range(KEYS):
        char = chr(ord("a") + index % 26).encode()
        io.buffer = b""  # only what this keystroke brings back counts
        t0 = time.perf_counter()
        socket.send(stdin_frame(char))
        io.until(char)
        latencies.append(time.perf_counter() - t0)
        if index % 40 == 39:
            socket.send(stdin_frame(b"\x15"))  # Ctrl-U: clear the line
            time.sleep(0.05)
            while True:  # drop what clearing the line printed
                try:
                    socket.recv(timeout=0.05)
                except TimeoutError:
                    break
    socket.send(stdin_frame(b"\x15"))
    t0 = time.perf_counter()
    socket.send(stdin_frame(b"kubectl get nodes\r"))
    io.until(b"Ready")
    io.until(PROMPT)
    command = time.perf_counter() - t0
    socket.send(stdin_frame(b"exit\r"))
    socket.close()
    return opened, latencies, command


def _pty_figures() -> list[float]:
    """The same shell on a local PTY: the floor for keystroke echo."""
    env = {"PATH": "/nonexistent", "HOME": tempfile.mkdtemp(), "TERM": "xterm-256color", "LANG": "C.UTF-8",
           "SHOAL_CONSOLE_KUBECTL": find_kubectl(""), "SHOAL_CONSOLE_FILTERS": json.dumps(find_filters()),
           "SHOAL_CONSOLE_LANG": "en", "SHOAL_CONSOLE_CLUSTER": "local", "SHOAL_CONSOLE_USER": "bench"}
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "shoal.console.shell"], stdin=slave, stdout=slave, stderr=slave,
                            env=env, start_new_session=True)
    os.close(slave)
    buffer = b""

    def until(needle: bytes) -> None:
        nonlocal buffer
        while needle not in buffer:
            select.select([master], [], [], 30)
            buffer += os.read(master, 65536)
        buffer = buffer[buffer.index(needle) + len(needle):]

    until(PROMPT)
    latencies: list[float] = []
    for index in range(KEYS):
        char = chr(ord("a") + index % 26).encode()
        buffer = b""
        t0 = time.perf_counter()
        os.write(master, char)
        until(char)
        latencies.append(time.perf_counter() - t0)
        if index % 40 == 39:
            os.write(master, b"\x15")
            time.sleep(0.05)
            while select.select([master], [], [], 0.05)[0]:
                os.read(master, 65536)
    os.write(master, b"\x15exit\r")
    proc.wait(timeout=30)
    os.close(master)
    return latencies


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-console-") as folder:
        sim = Simulator(nodes=3).start()
        sim.cluster().grant_group("shoal:admins", ROLE_CLUSTER_ADMIN)  # the gateway impersonates the admin
        proc, url = _start_shoal(Path(folder) / "data")
        try:
            cluster_id = _seed(url, sim.kubeconfig("admin"))
            opened, console, command = _console_figures(url, cluster_id)
            local = _pty_figures()
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            sim.stop()
    c50, c99 = _pct(console, 0.5) * 1000, _pct(console, 0.99) * 1000
    p50, p99 = _pct(local, 0.5) * 1000, _pct(local, 0.99) * 1000
    print(f"session open (POST + websocket + first prompt): {opened * 1000:.0f} ms")
    print(f"keystroke -> echo through the console ({KEYS} keys): p50 {c50:.2f} ms  p99 {c99:.2f} ms  "
          f"mean {statistics.mean(console) * 1000:.2f} ms")
    print(f"keystroke -> echo on a local PTY ({KEYS} keys):      p50 {p50:.2f} ms  p99 {p99:.2f} ms")
    print(f"console/PTY: p50 x{c50 / p50:.1f}  p99 x{c99 / p99:.1f}")
    print(f"kubectl get nodes typed -> next prompt (through the gateway): {command * 1000:.0f} ms")


if __name__ == "__main__":
    main()
