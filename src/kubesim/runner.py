"""Running the simulator: in a background thread (tests) or as a subprocess (``kubesim serve``).

``Simulator`` owns the PKI, the virtual clusters and a uvicorn server on a
loopback socket. ``start()`` runs it on its own event loop in a daemon thread, so
a pytest fixture can hand ``sim.kubeconfig_path("admin")`` to kubectl or to a
client library and still reach into ``sim.cluster()`` to seed objects or inject
faults. ``SubprocessSimulator`` runs ``kubesim serve`` and reads its ready line.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn

from kubesim.certs import CertificateAuthority, KeyPair
from kubesim.cluster import ADMIN, VirtualCluster
from kubesim.connections import GoLikeHttpProtocol
from kubesim.server import ApiServer
from kubesim.tls import SafeWebSocketProtocol

__all__ = ["IDENTITIES", "Simulator", "SubprocessSimulator", "kubeconfig_yaml", "start_in_thread"]

IDENTITIES = ("admin", "viewer", "admin-cert")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def kubeconfig_yaml(server: str, ca_pem: bytes, name: str, *, token: str | None = None,
                    client: KeyPair | None = None) -> str:
    """A kubeconfig with one cluster/user/context, CA and credentials embedded.

    Written from a template (values JSON-quoted, which YAML reads as strings):
    yaml.safe_dump made writing 3,000 kubeconfigs for 1,000 clusters take most
    of the start-up time.
    """
    q = json.dumps
    user_lines = []
    if token:
        user_lines.append(f"    token: {q(token)}")
    if client is not None:
        user_lines.append(f"    client-certificate-data: {q(_b64(client.cert_pem))}")
        user_lines.append(f"    client-key-data: {q(_b64(client.key_pem))}")
    user = "\n".join(user_lines) if user_lines else "    {}"
    return (
        "apiVersion: v1\nkind: Config\npreferences: {}\n"
        f"clusters:\n- name: {q(name)}\n  cluster:\n    server: {q(server)}\n"
        f"    certificate-authority-data: {q(_b64(ca_pem))}\n"
        f"users:\n- name: {q(name + '-user')}\n  user:\n{user}\n"
        f"contexts:\n- name: {q(name)}\n  context:\n    cluster: {q(name)}\n    user: {q(name + '-user')}\n"
        f"current-context: {q(name)}\n"
    )


class Simulator:
    """One HTTPS listener serving ``clusters`` virtual clusters of ``nodes`` nodes each."""

    def __init__(self, *, nodes: int = 3, clusters: int | list[str] = 1, host: str = "127.0.0.1",
                 port: int = 0, out_dir: str | Path | None = None, seed_workloads: bool = True,
                 history: int = 1000, heartbeat: float = 10.0, identity_seed: str | None = None) -> None:
        names = clusters if isinstance(clusters, list) else (
            ["kubesim"] if clusters == 1 else [f"cluster-{i}" for i in range(1, clusters + 1)])
        self.ca = CertificateAuthority()
        self.server_keys = self.ca.issue_server()
        self.admin_cert = self.ca.issue_client(ADMIN.user, list(ADMIN.groups))
        self.clusters = [VirtualCluster(n, nodes, seed_workloads=seed_workloads, history=history,
                                        identity_seed=identity_seed) for n in names]
        self._identity_seed = identity_seed
        self._history = history
        # clusters reached through /clusters/<name> with files in out_dir/<name>/: all of them when
        # several were asked for, else only those added later (the first keeps the plain layout)
        self._prefixed: set[str] = set(names) if len(names) > 1 else set()
        self.app = ApiServer(self.clusters)
        self.host = host
        self._port = port
        self.heartbeat = heartbeat
        self._tmp = tempfile.TemporaryDirectory(prefix="kubesim-")
        self.out_dir = Path(out_dir) if out_dir else Path(self._tmp.name)
        self._thread: threading.Thread | None = None
        self._server: uvicorn.Server | None = None
        self._sock: socket.socket | None = None

    # --- addresses and credentials -------------------------------------------------------
    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        """Base URL; the default (first) cluster is served here without a prefix."""
        return f"https://{self.host}:{self._port}"

    @property
    def multi(self) -> bool:
        return len(self.clusters) > 1

    def add_cluster(self, name: str, nodes: int = 3, *, seed_workloads: bool = True) -> VirtualCluster:
        """Add a virtual cluster while serving; its files go to ``out_dir/<name>/``."""
        if name in self.app.clusters:
            raise ValueError(f"cluster {name!r} exists")
        cluster = VirtualCluster(name, nodes, seed_workloads=seed_workloads, history=self._history,
                                 identity_seed=self._identity_seed)
        self.clusters.append(cluster)
        self._prefixed.add(name)
        self.app.add_cluster(cluster)
        self._write_cluster_files(cluster)
        return cluster

    def cluster(self, name: str | None = None) -> VirtualCluster:
        if name is None:
            return self.clusters[0]
        return self.app.clusters[name]

    def cluster_url(self, name: str | None = None) -> str:
        cluster = self.cluster(name)
        return f"{self.url}/clusters/{cluster.name}" if cluster.name in self._prefixed else self.url

    def kubeconfig(self, identity: str = "admin", cluster: str | None = None) -> str:
        c = self.cluster(cluster)
        url = self.cluster_url(cluster)
        if identity == "admin":
            return kubeconfig_yaml(url, self.ca.cert_pem, c.name, token=c.admin_token)
        if identity == "viewer":
            return kubeconfig_yaml(url, self.ca.cert_pem, c.name, token=c.viewer_token)
        if identity == "admin-cert":
            return kubeconfig_yaml(url, self.ca.cert_pem, c.name, client=self.admin_cert)
        raise KeyError(identity)

    def cluster_dir(self, cluster: str | None = None) -> Path:
        name = self.cluster(cluster).name
        return self.out_dir / name if name in self._prefixed else self.out_dir

    def kubeconfig_path(self, identity: str = "admin", cluster: str | None = None) -> str:
        """Path of the kubeconfig for ``identity`` (admin, viewer, admin-cert)."""
        return str(self.cluster_dir(cluster) / f"{identity}.kubeconfig")

    @property
    def ca_path(self) -> str:
        return str(self.out_dir / "ca.crt")

    def write_files(self) -> None:
        """Write ca.crt and every cluster's kubeconfigs under ``out_dir``."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / "ca.crt").write_bytes(self.ca.cert_pem)
        for c in self.clusters:
            self._write_cluster_files(c)

    def _write_cluster_files(self, cluster: VirtualCluster) -> None:
        d = self.cluster_dir(cluster.name)
        d.mkdir(parents=True, exist_ok=True)
        if d != self.out_dir:
            (d / "ca.crt").write_bytes(self.ca.cert_pem)
        for identity in IDENTITIES:
            path = d / f"{identity}.kubeconfig"
            path.write_text(self.kubeconfig(identity, cluster.name))
            path.chmod(0o600)

    # --- serving ---------------------------------------------------------------------------
    def _config(self) -> uvicorn.Config:
        tls_dir = Path(self._tmp.name)
        (tls_dir / "server.crt").write_bytes(self.server_keys.cert_pem)
        key = tls_dir / "server.key"
        key.write_bytes(self.server_keys.key_pem)
        key.chmod(0o600)
        (tls_dir / "ca.crt").write_bytes(self.ca.cert_pem)
        return uvicorn.Config(
            self.app, ssl_certfile=str(tls_dir / "server.crt"), ssl_keyfile=str(key),
            ssl_ca_certs=str(tls_dir / "ca.crt"), ssl_cert_reqs=ssl.CERT_OPTIONAL,
            http=GoLikeHttpProtocol, ws=SafeWebSocketProtocol, lifespan="off", log_level="warning",
            access_log=False, timeout_graceful_shutdown=1, proxy_headers=False, ws_ping_interval=None,
        )

    def _bind(self) -> socket.socket:
        # proto must be IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted sockets
        # whose proto says TCP, and without it Nagle + delayed ACK cost 40 ms per response.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._port))
        sock.listen(1024)
        self._port = sock.getsockname()[1]
        return sock

    async def _heartbeats(self) -> None:
        """Renew every cluster's node leases every ``heartbeat`` seconds, like kubelets."""
        while True:
            await asyncio.sleep(self.heartbeat)
            for cluster in self.clusters:
                cluster.heartbeat()
                await asyncio.sleep(0)

    async def _run(self, server: uvicorn.Server, sock: socket.socket) -> None:
        beats = asyncio.ensure_future(self._heartbeats()) if self.heartbeat > 0 else None
        try:
            await server.serve(sockets=[sock])
        finally:
            if beats is not None:
                beats.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await beats

    async def serve(self) -> None:
        """Serve on the current event loop until ``stop()`` (used by ``kubesim serve``)."""
        self._sock = self._sock or self._bind()
        self.write_files()
        self._server = uvicorn.Server(self._config())
        await self._run(self._server, self._sock)

    def start(self) -> Simulator:
        """Serve from a daemon thread with its own event loop; returns once listening."""
        self._sock = self._bind()
        self.write_files()
        self._server = uvicorn.Server(self._config())
        server, sock = self._server, self._sock
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run(server, sock)),
                                        name=f"kubesim:{self._port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 15
        while not server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("kubesim did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._tmp.cleanup()

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_in_thread(**kwargs: Any) -> Simulator:
    """``Simulator(**kwargs).start()``: serving from a background thread; call ``.stop()`` when done."""
    return Simulator(**kwargs).start()


class SubprocessSimulator:
    """``kubesim serve`` in a child process; files are read from its ``--out`` directory."""

    def __init__(self, out_dir: str | Path, *, nodes: int = 3, clusters: int = 1, port: int = 0,
                 extra_args: list[str] | None = None) -> None:
        self.out_dir = Path(out_dir)
        self.args = [sys.executable, "-m", "kubesim.cli", "serve", "--port", str(port), "--nodes", str(nodes),
                     "--out", str(self.out_dir), "--clusters", str(clusters), *(extra_args or [])]
        self.proc: subprocess.Popen[str] | None = None
        self.ready_line = ""
        self.url = ""

    def start(self, timeout: float = 30.0) -> SubprocessSimulator:
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, text=True, env={**os.environ})
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            if line.startswith("kubesim ready"):
                self.ready_line = line.strip()
                fields = dict(f.split("=", 1) for f in self.ready_line.split()[2:] if "=" in f)
                self.url = fields.get("url", "")
                return self
        self.stop()
        raise RuntimeError("kubesim serve did not become ready")

    def kubeconfig_path(self, identity: str = "admin", cluster: str | None = None) -> str:
        base = self.out_dir / cluster if cluster else self.out_dir
        return str(base / f"{identity}.kubeconfig")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()

    def __enter__(self) -> SubprocessSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
