"""Benchmark: the kube gateway's cost — direct vs through Shoal, and Shoal vs nginx as a reverse proxy.

Run: ``.venv/bin/python -m bench gateway`` (or ``python bench/gateway.py [--seconds S] [--requests N]``).
Loopback only, bounded by ``--requests`` and ``--seconds``.

Part 1 — one kubesim cluster (a ``kubesim serve`` process, 3 nodes) and one
``shoal server`` process serving HTTPS with a self-signed certificate, the
cluster imported into a project whose manager holds a gateway token from a
per-user kubeconfig (authentication, authorisation, impersonation and the audit
of every read all on):

* latency of sequential ``GET /api/v1/nodes`` on one keep-alive connection,
  p50/p99, direct to kubesim vs through ``/clusters/{id}/``;
* throughput with 32 concurrent keep-alive clients for ``--seconds``, direct vs
  gateway (``wrk -c32`` when wrk is installed, else 32 asyncio clients).

Part 2 — a trivial static HTTP backend (a one-process uvicorn app answering
every request with the same small JSON; ``--backend-kind raw`` for a bare asyncio
protocol, several times faster) behind (a) nginx from
Debian as a plain reverse proxy (one worker, keep-alive upstream) and (b) a
plain-HTTP ``shoal server`` whose gateway has a cluster pointing at the
backend; ``wrk -c32`` measures direct, nginx and gateway throughput in the same
run. nginx and wrk are installed with apt-get if missing; if that fails the part
is skipped and says so.

Prints each figure and the ratios (gateway/direct, nginx/direct, gateway/nginx), and the
gateway once more with one audit row per read instead of alike reads counted in one entry.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

ADMIN_TOKEN = "shoal_bench-gateway-admin-token-0123456789"
RBAC = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "shoal-managers"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "shoal:role:manager"}]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- the trivial static backend (runs in its own process: python bench/gateway.py --backend PORT) ------------
_BODY = json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Success", "metadata": {}}).encode()
_RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
             + str(len(_BODY)).encode() + b"\r\n\r\n" + _BODY)


class _Static(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:  # answer each complete request head (the benchmark sends no bodies)
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            self.buffer = self.buffer[end + 4:]
            self.transport.write(_RESPONSE)


async def _static_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(_BODY)).encode())]})
    await send({"type": "http.response.body", "body": _BODY})


def serve_backend(port: int, kind: str) -> None:
    if kind == "uvicorn":
        import uvicorn

        uvicorn.run(_static_app, host="127.0.0.1", port=port, log_level="warning", access_log=False,
                    lifespan="off", http="httptools", loop="uvloop")
        return

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(_Static, "127.0.0.1", port)
        print("backend ready", flush=True)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


# --- processes ----------------------------------------------------------------------------------------------
class Proc:
    def __init__(self, args: list[str], env: dict[str, str] | None = None, log: Path | None = None) -> None:
        self.log = log
        handle = log.open("wb") if log else subprocess.DEVNULL
        self.proc = subprocess.Popen(args, env={**os.environ, **(env or {})}, stdout=handle,
                                     stderr=subprocess.STDOUT)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def wait_http(url: str, verify: Any = False, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, verify=verify, timeout=1)
            return
        except (httpx.HTTPError, OSError):
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


def start_shoal(data_dir: Path, port: int, *, tls: bool, extra: dict[str, str] | None = None) -> Proc:
    env = {"SHOAL_DATA_DIR": str(data_dir), "SHOAL_LISTEN": f"127.0.0.1:{port}", "SHOAL_ADMIN_TOKEN": ADMIN_TOKEN,
           "SHOAL_LOG_LEVEL": "WARNING", "SHOAL_CLUSTER_HEALTH_ENABLED": "false",
           **({} if tls else {"SHOAL_PLAIN_HTTP": "true"}), "SHOAL_GATEWAY__AUDIT_READS": "1.0",
           **(extra or {})}
    proc = Proc([sys.executable, "-m", "shoal", "server"], env, data_dir.parent / f"shoal-{port}.log")
    scheme = "https" if tls else "http"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.proc.poll() is not None:
            raise RuntimeError("shoal server exited:\n" + (proc.log.read_text() if proc.log else ""))
        ca = data_dir / "tls" / "ca.crt"
        if not tls or ca.exists():
            try:
                if httpx.get(f"{scheme}://127.0.0.1:{port}/readyz", verify=str(ca) if tls else False,
                             timeout=1).status_code == 200:
                    return proc
            except httpx.HTTPError:
                pass
        time.sleep(0.2)
    raise RuntimeError("shoal server not ready")


def call(client: httpx.Client, method: str, url: str, body: Any = None, expect: tuple[int, ...] = (200, 201)
         ) -> Any:
    deadline = time.monotonic() + 5  # the API commits after answering: retry a refusal briefly
    while True:
        r = client.request(method, url, json=body)
        if r.status_code in expect:
            return r.json()
        if time.monotonic() > deadline or r.status_code >= 500:
            raise RuntimeError(f"{method} {url}: {r.status_code} {r.text}")
        time.sleep(0.05)


# --- measurements -------------------------------------------------------------------------------------------
class Latency:
    """Sequential request times of one target, kept per block so blocks can be paired with their neighbours."""

    def __init__(self) -> None:
        self.blocks: list[list[float]] = []

    @staticmethod
    def _pick(values: list[float], share: float) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(len(ordered) * share))]

    def p(self, share: float) -> float:
        return self._pick([v for block in self.blocks for v in block], share)

    def paired(self, base: Latency) -> float:
        """Median over blocks of this block's p50 over ``base``'s p50 in the same round."""
        return statistics.median(self._pick(mine, 0.5) / self._pick(theirs, 0.5)
                                 for mine, theirs in zip(self.blocks, base.blocks, strict=True))


def latency(targets: list[tuple[str, str, Any]], requests: int, rounds: int) -> list[Latency]:
    """Milliseconds of sequential GETs on one keep-alive connection per target.

    The targets take turns in ``rounds`` blocks, so a slower or faster minute of a shared
    machine weighs on each of them alike instead of on whichever was measured then."""
    clients = [httpx.Client(verify=verify, headers={"Authorization": f"Bearer {token}"}, timeout=30)
               for _, token, verify in targets]
    results = [Latency() for _ in targets]
    try:
        for client, (url, _, _) in zip(clients, targets, strict=True):
            for _ in range(50):
                client.get(url).raise_for_status()
        for _ in range(rounds):
            for client, (url, _, _), result in zip(clients, targets, results, strict=True):
                block: list[float] = []
                for _ in range(requests // rounds):
                    start = time.perf_counter()
                    client.get(url).raise_for_status()
                    block.append((time.perf_counter() - start) * 1000)
                result.blocks.append(block)
    finally:
        for client in clients:
            client.close()
    return results


def wrk(url: str, token: str | None, seconds: float, connections: int = 32) -> float:
    args = ["wrk", "-t2", f"-c{connections}", f"-d{int(seconds)}s", "--latency"]
    if token:
        args += ["-H", f"Authorization: Bearer {token}"]
    out = subprocess.run([*args, url], capture_output=True, text=True, timeout=seconds + 60).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if match is None or errors is not None:
        raise RuntimeError(f"wrk failed or saw errors:\n{out}")
    return float(match.group(1))


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of ``pid`` and its children that were waited for (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def wrk_cpu(url: str, token: str | None, seconds: float, pids: list[int]) -> tuple[float, float]:
    """Throughput, and CPU microseconds the proxy (``pids``) spent per request: less noisy than req/s."""
    before = sum(cpu_seconds(p) for p in pids)
    started = time.monotonic()
    rate = wrk(url, token, seconds)
    spent = sum(cpu_seconds(p) for p in pids) - before
    return rate, spent / (rate * (time.monotonic() - started)) * 1e6


def python_throughput(url: str, token: str, verify: Any, seconds: float, clients: int = 32) -> float:
    async def run() -> int:
        done = 0
        stop = time.monotonic() + seconds
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        async with httpx.AsyncClient(verify=verify, headers={"Authorization": f"Bearer {token}"}, timeout=30,
                                     limits=limits) as http:
            async def worker() -> None:
                nonlocal done
                while time.monotonic() < stop:
                    (await http.get(url)).raise_for_status()
                    done += 1

            await asyncio.gather(*(worker() for _ in range(clients)))
        return done

    started = time.perf_counter()
    count = asyncio.run(run())
    return count / (time.perf_counter() - started)


def throughput(url: str, token: str, verify: Any, seconds: float) -> float:
    if shutil.which("wrk"):
        return wrk(url, token, seconds)
    return python_throughput(url, token, verify, seconds)


def throughput_tool() -> str:
    return "wrk -t2 -c32" if shutil.which("wrk") else "32 asyncio clients"


#: what part 1 prints after each proxy's ratios: its target, or why it is there
LATENCY_NOTES = {"gateway": "(target p50 <= 1.25)", "nginx": "(nginx with TLS both sides, for reference)"}
THROUGHPUT_NOTES = {"gateway": "(target >= 0.7)", "nginx": "(for reference)"}


def ensure_tools() -> str | None:
    """Install nginx and wrk with apt-get if missing; the reason part 2 cannot run, or None."""
    nginx = shutil.which("nginx") or (Path("/usr/sbin/nginx").exists() and "/usr/sbin/nginx")
    if not nginx or shutil.which("wrk") is None:
        if shutil.which("apt-get") is None:
            return "apt-get is not available"
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        result = subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "nginx-light", "wrk"],
                                capture_output=True, text=True, env=env, timeout=600)
        if result.returncode != 0:
            return "apt-get install nginx-light wrk failed: " + result.stderr.strip()[-300:]
    if shutil.which("wrk") is None or not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()):
        return "nginx or wrk is missing after installation"
    return None


def nginx_pids(master: int) -> list[int]:
    """The nginx master and its workers."""
    children = Path(f"/proc/{master}/task/{master}/children")
    return [master, *(int(p) for p in children.read_text().split())] if children.exists() else [master]


def nginx_conf(prefix: Path, port: int, backend: int, *, tls: tuple[Path, Path] | None = None,
               backend_tls: bool = False) -> Path:
    """nginx as a plain reverse proxy with kept upstream connections; HTTPS on both sides when asked."""
    prefix.mkdir(exist_ok=True)
    conf = prefix / "nginx.conf"
    listen = f"listen 127.0.0.1:{port}{' ssl' if tls else ''};"
    certificate = f"ssl_certificate {tls[0]}; ssl_certificate_key {tls[1]};" if tls else ""
    upstream_tls = "proxy_ssl_session_reuse on;" if backend_tls else ""
    conf.write_text(f"""
worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {prefix}/body;
  proxy_temp_path {prefix}/proxy;
  upstream backend {{ server 127.0.0.1:{backend}; keepalive 64; }}
  server {{
    {listen}
    {certificate}
    location / {{
      proxy_pass {'https' if backend_tls else 'http'}://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      {upstream_tls}
    }}
  }}
}}
""")
    return conf


def start_nginx(work: Path, name: str, port: int, backend: int, **options: Any) -> Proc:
    prefix = work / name
    conf = nginx_conf(prefix, port, backend, **options)
    return Proc([shutil.which("nginx") or "/usr/sbin/nginx", "-p", str(prefix), "-c", str(conf)],
                log=work / f"{name}.log")


# --- the run ------------------------------------------------------------------------------------------------
def seed(base: str, verify: Any, kubeconfig: str) -> tuple[str, str]:
    """A project, its manager 'bench' and the cluster imported; returns (cluster id, gateway token)."""
    with httpx.Client(base_url=base, verify=verify, timeout=60,
                      headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as admin:
        call(admin, "POST", "/api/v1/businesses", {"id": 100, "name": "Bench", "maintainers": ["admin"]})
        call(admin, "POST", "/api/v1/projects", {"code": "bench", "name": "Bench"})
        call(admin, "POST", "/api/v1/projects/bench/enable", {"business_id": 100})
        call(admin, "POST", "/api/v1/users", {"username": "bench", "password": "password-123"})
        token = call(admin, "POST", "/api/v1/tokens", {"username": "bench", "expires": "1d"})["token"]
        call(admin, "POST", "/api/v1/projects/bench/members", {"username": "bench", "role": "manager"})
    with httpx.Client(base_url=base, verify=verify, timeout=60,
                      headers={"Authorization": f"Bearer {token}"}) as user:
        cluster = call(user, "POST", "/api/v1/clusters", {"project": "bench", "name": "kubesim",
                                                          "kubeconfig": kubeconfig})
        issued = call(user, "POST", f"/api/v1/clusters/{cluster['id']}/kubeconfig", {"expires": "2h"})
    gateway_token = yaml.safe_load(issued["kubeconfig"])["users"][0]["user"]["token"]
    return cluster["id"], gateway_token


def add_static_cluster(data_dir: Path, backend_port: int) -> str:
    """Register the static backend as a cluster of project 'bench' (straight into the database: it is no cluster)."""
    from shoal.clusters.models import Cluster, ClusterStatus
    from shoal.context import build_context
    from shoal.core.config import load_settings
    from shoal.kube import Credential

    async def insert() -> None:
        ctx = build_context(load_settings(data_dir=data_dir))
        credential = Credential(server=f"http://127.0.0.1:{backend_port}", token="static-backend")
        async with ctx.db.session() as session:
            session.add(Cluster(id="BCS-K8S-STATIC", project_code="bench", name="static", environment="prod",
                                status=ClusterStatus.RUNNING.value, kube_system_uid="static",
                                server_url=credential.server, credential=ctx.secrets.encrypt(credential.to_json())))
        await ctx.db.dispose()

    asyncio.run(insert())
    return "BCS-K8S-STATIC"


def part_kubesim(work: Path, args: argparse.Namespace, with_nginx: bool) -> tuple[Proc, Path, str]:
    sim_dir = work / "kubesim"
    sim = Proc([sys.executable, "-m", "kubesim.cli", "serve", "--port", str(port := free_port()), "--nodes", "3",
                "--out", str(sim_dir)], log=work / "kubesim.log")
    kube_url = f"https://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not (sim_dir / "admin.kubeconfig").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    wait_http(kube_url + "/version", verify=False)
    kube_ca = ssl.create_default_context(cafile=str(sim_dir / "ca.crt"))
    kubeconfig = (sim_dir / "admin.kubeconfig").read_text()
    kube_token = yaml.safe_load(kubeconfig)["users"][0]["user"]["token"]
    with httpx.Client(verify=kube_ca, headers={"Authorization": f"Bearer {kube_token}"}) as http:
        http.post(f"{kube_url}/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", json=RBAC).raise_for_status()

    data_dir = work / "data"
    shoal_port = free_port()
    shoal = start_shoal(data_dir, shoal_port, tls=True)
    shoal_ca = ssl.create_default_context(cafile=str(data_dir / "tls" / "ca.crt"))
    base = f"https://127.0.0.1:{shoal_port}"
    nginx_port = free_port()  # for reference: nginx proxying HTTPS to the same kubesim, with Shoal's certificate
    nginx = (start_nginx(work, "nginx-tls", nginx_port, port, backend_tls=True,
                         tls=(data_dir / "tls" / "server.crt", data_dir / "tls" / "server.key"))
             if with_nginx else None)
    try:
        cluster_id, gateway_token = seed(base, shoal_ca, kubeconfig)
        direct = f"{kube_url}/api/v1/nodes"
        through = f"{base}/clusters/{cluster_id}/api/v1/nodes"
        with httpx.Client(verify=shoal_ca, headers={"Authorization": f"Bearer {gateway_token}"}) as http:
            answer = http.get(through)
            answer.raise_for_status()
            assert len(answer.json()["items"]) == 3, answer.text

        targets = [("direct", direct, kube_token, kube_ca)]
        if nginx is not None:
            targets.append(("nginx", f"https://127.0.0.1:{nginx_port}/api/v1/nodes", kube_token, shoal_ca))
        targets.append(("gateway", through, gateway_token, shoal_ca))
        times = dict(zip((t[0] for t in targets), latency([t[1:] for t in targets], args.requests, args.rounds),
                         strict=True))
        print(f"GET /api/v1/nodes latency over {args.requests} sequential requests each, in {args.rounds} "
              "alternating blocks (HTTPS, keep-alive):")
        for name, measured in times.items():
            print(f"  {name:8} p50 {measured.p(0.5):6.2f} ms  p99 {measured.p(0.99):6.2f} ms")
        alone = times["direct"]
        for name, measured in times.items():
            if name != "direct":
                print(f"  {name:8} / direct: p50 {measured.p(0.5) / alone.p(0.5):.2f} (paired blocks, median "
                      f"{measured.paired(alone):.2f})  p99 {measured.p(0.99) / alone.p(0.99):.2f}   "
                      f"{LATENCY_NOTES[name]}")

        rounds = []
        for _ in range(args.rounds):  # alternate, and compare each proxy's run with the direct run beside it
            rounds.append({name: throughput(url, token, verify, args.seconds) for name, url, token, verify in targets})
        print(f"GET /api/v1/nodes throughput, {throughput_tool()}, {args.rounds} alternating rounds of "
              f"{args.seconds:g}s each:")
        for rates in rounds:
            print("  " + "   ".join(f"{name} {rate:6.0f} req/s" for name, rate in rates.items())
                  + "   " + "   ".join(f"{name}/direct {rate / rates['direct']:.2f}"
                                      for name, rate in rates.items() if name != "direct"))
        for name, _, _, _ in targets[1:]:
            median = statistics.median(rates[name] / rates["direct"] for rates in rounds)
            print(f"  median {name}/direct {median:.2f}   {THROUGHPUT_NOTES[name]}")
    finally:
        if nginx is not None:
            nginx.stop()
        shoal.stop()
        sim.stop()
    return shoal, data_dir, gateway_token


def part_static(work: Path, data_dir: Path, gateway_token: str, args: argparse.Namespace) -> None:
    backend_port, nginx_port, shoal_port = free_port(), free_port(), free_port()
    backend = Proc([sys.executable, str(Path(__file__).resolve()), "--backend", str(backend_port),
                    "--backend-kind", args.backend_kind], log=work / "backend.log")
    wait_http(f"http://127.0.0.1:{backend_port}/")
    nginx = start_nginx(work, "nginx", nginx_port, backend_port)
    cluster_id = add_static_cluster(data_dir, backend_port)
    shoal = start_shoal(data_dir, shoal_port, tls=False, extra={"SHOAL_WORKER_IN_PROCESS": "false"})
    each_port = free_port()  # the same gateway writing one audit row per read instead of counting alike reads
    each = start_shoal(data_dir, each_port, tls=False, extra={"SHOAL_WORKER_IN_PROCESS": "false",
                                                               "SHOAL_GATEWAY__AUDIT_AGGREGATE_READS": "false"})
    try:
        wait_http(f"http://127.0.0.1:{nginx_port}/")
        gateway_url = f"http://127.0.0.1:{shoal_port}/clusters/{cluster_id}/api/v1/nodes"
        check = httpx.get(gateway_url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert check.status_code == 200, check.text
        direct = wrk(f"http://127.0.0.1:{backend_port}/api/v1/nodes", None, args.seconds)
        rounds = []
        for _ in range(args.rounds):  # nginx and the gateway take turns; each round's pair is compared
            proxied, nginx_cpu = wrk_cpu(f"http://127.0.0.1:{nginx_port}/api/v1/nodes", None, args.seconds,
                                         nginx_pids(nginx.proc.pid))
            gateway, gateway_cpu = wrk_cpu(gateway_url, ADMIN_TOKEN, args.seconds, [shoal.proc.pid])
            rounds.append((proxied, gateway, nginx_cpu, gateway_cpu))
        every = wrk(gateway_url.replace(f":{shoal_port}/", f":{each_port}/"), ADMIN_TOKEN, args.seconds)
        print(f"static backend ({args.backend_kind}), wrk -t2 -c32, {args.seconds:g}s each, plain HTTP:")
        print(f"  direct          {direct:8.0f} req/s")
        for proxied, gateway, nginx_cpu, gateway_cpu in rounds:
            print(f"  nginx (1 worker) {proxied:6.0f} req/s ({proxied / direct:.2f} of direct, {nginx_cpu:.1f} us CPU "
                  f"per request)   shoal gateway {gateway:6.0f} req/s ({gateway_cpu:.1f} us)   "
                  f"gateway / nginx {gateway / proxied:.2f}")
        median = statistics.median(gateway / proxied for proxied, gateway, _, _ in rounds)
        print(f"  median gateway / nginx {median:.2f}   (target >= 0.5)")
        print(f"  the same, one audit row per read (SHOAL_GATEWAY__AUDIT_AGGREGATE_READS=false): {every:.0f} req/s, "
              f"{every / statistics.median(p for p, _, _, _ in rounds):.2f} of nginx")
        # What one more hop costs a lone sequential client on this machine, for nginx as for Shoal.
        plain, via_nginx, via_gateway = latency([(f"http://127.0.0.1:{backend_port}/api/v1/nodes", "-", False),
                                                (f"http://127.0.0.1:{nginx_port}/api/v1/nodes", "-", False),
                                                (gateway_url, ADMIN_TOKEN, False)], args.requests, args.rounds)
        s50, n50, w50 = plain.p(0.5), via_nginx.p(0.5), via_gateway.p(0.5)
        print(f"  sequential p50: direct {s50:.2f} ms, nginx {n50:.2f} ms (+{n50 - s50:.2f}), "
              f"shoal gateway {w50:.2f} ms (+{w50 - s50:.2f})")
    finally:
        each.stop()
        shoal.stop()
        nginx.stop()
        backend.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="sequential requests for latency")
    parser.add_argument("--seconds", type=float, default=4, help="length of each throughput run")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds of each comparison")
    parser.add_argument("--skip-nginx", action="store_true", help="only part 1")
    parser.add_argument("--backend-kind", choices=("uvicorn", "raw"), default="uvicorn",
                        help="static backend: a one-process uvicorn app (default) or a raw asyncio protocol")
    parser.add_argument("--backend", type=int, help=argparse.SUPPRESS)
    args, _ = parser.parse_known_args()
    if args.backend:
        serve_backend(args.backend, args.backend_kind)
        return
    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as tmp:
        work = Path(tmp)
        reason = "--skip-nginx" if args.skip_nginx else ensure_tools()
        if reason is not None:
            print(f"nginx comparisons skipped: {reason}")
        _, data_dir, token = part_kubesim(work, args, with_nginx=reason is None)
        if reason is None:
            part_static(work, data_dir, token, args)


if __name__ == "__main__":
    main()
