"""Fixtures of the gateway tests: a real ``shoal server`` over HTTPS in front of kubesim, people, kubeconfigs.

``world`` (one per test module, it takes a few seconds): kubesim (3 nodes) whose
RBAC binds Shoal's impersonated groups (manager -> cluster-admin, developer ->
edit, viewer -> view); a ``shoal server`` subprocess with no TLS settings
(HTTPS with its generated CA, the default); project ``alpha`` with mona (manager), dave (developer), vera
(viewer), project ``beta`` with eve (manager); the kubesim cluster imported into
alpha through the API. ``kubectl`` runs the real kubectl 1.37 with a
kubeconfig issued by Shoal for the named user and its own HOME per test.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from kubesim.runner import Simulator
from shoal.demo import grant_shoal_groups
from shoal.gateway.kubeconfig import kubeconfig_yaml
from tests.support.server import ShoalProcess

KUBECTL = str(Path(sys.executable).parent / "kubectl")
ADMIN_TOKEN = "shoal_gateway-test-admin-token-0123456789"
PEOPLE = {"mona": ("alpha", "manager"), "dave": ("alpha", "developer"), "vera": ("alpha", "viewer"),
          "eve": ("beta", "manager")}

Kubectl = Callable[..., subprocess.CompletedProcess[str]]


class TlsShoal(ShoalProcess):
    """``shoal server`` in a subprocess with no TLS settings: HTTPS with the CA it generates (the default)."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None) -> None:
        super().__init__(data_dir, {
            "SHOAL_ADMIN_TOKEN": ADMIN_TOKEN, "SHOAL_LOG_JSON": "true",
            "SHOAL_LOG_LEVEL": "WARNING", "SHOAL_CLUSTER_HEALTH_ENABLED": "false",
            "SHOAL_GATEWAY__AUDIT_FLUSH_SECONDS": "0.2", **(env or {})}, scheme="https")


@dataclass
class World:
    sim: Simulator
    shoal: TlsShoal
    cluster_id: str
    tokens: dict[str, str]
    kubeconfigs: dict[str, str] = field(default_factory=dict)

    def api(self, user: str = "admin") -> httpx.Client:
        token = ADMIN_TOKEN if user == "admin" else self.tokens[user]
        return httpx.Client(base_url=self.shoal.url, verify=self.shoal.ca, timeout=30,
                            headers={"Authorization": f"Bearer {token}", "Accept-Language": "en"})


def _post(client: httpx.Client, url: str, body: dict[str, Any], *codes: int) -> httpx.Response:
    """Make a seeding call, retrying a refusal for a moment: the API commits a request's transaction
    after its response has gone out (FastAPI's request-scoped dependencies), so the next call may
    briefly not see what the previous one created."""
    deadline = time.monotonic() + 20
    while True:
        response = client.post(url, json=body)
        if response.status_code in (codes or (200, 201)):
            return response
        assert 400 <= response.status_code < 500 and time.monotonic() < deadline, response.text
        time.sleep(0.05)


def build_world(root: Path, env: dict[str, str] | None = None) -> tuple[World, Callable[[], None]]:
    sim = Simulator(nodes=3).start()
    grant_shoal_groups(sim)
    shoal = TlsShoal(root / "data", env)
    try:
        shoal.start()
    except BaseException:
        sim.stop()
        raise
    world = World(sim=sim, shoal=shoal, cluster_id="", tokens={})
    with world.api() as admin:
        _post(admin, "/api/v1/businesses", {"id": 100, "name": "Biz", "maintainers": ["admin"]})
        for code in ("alpha", "beta"):
            _post(admin, "/api/v1/projects", {"code": code, "name": code.title()}, 201)
            _post(admin, f"/api/v1/projects/{code}/enable", {"business_id": 100})
        for name, (project, role) in PEOPLE.items():
            _post(admin, "/api/v1/users", {"username": name, "password": "password-123"})
            world.tokens[name] = _post(admin, "/api/v1/tokens", {"username": name, "expires": "1d"}).json()["token"]
            _post(admin, f"/api/v1/projects/{project}/members", {"username": name, "role": role})
    with world.api("mona") as mona:
        imported = _post(mona, "/api/v1/clusters", {"project": "alpha", "name": "kubesim",
                                                    "kubeconfig": sim.kubeconfig("admin")}, 201).json()
        world.cluster_id = imported["id"]
    for name in PEOPLE:
        if name == "eve":  # no right to a kubeconfig for alpha's cluster: she points kubectl at it with her API token
            text = kubeconfig_yaml(server=f"{shoal.url}/clusters/{world.cluster_id}", cluster_id=world.cluster_id,
                                   username=name, token=world.tokens[name], ca_pem=Path(shoal.ca).read_text())
        else:
            with world.api(name) as client:
                text = _post(client, f"/api/v1/clusters/{world.cluster_id}/kubeconfig", {}, 201).json()["kubeconfig"]
        path = root / f"{name}.kubeconfig"
        path.write_text(text)
        path.chmod(0o600)
        world.kubeconfigs[name] = str(path)

    def stop() -> None:
        shoal.stop()
        sim.stop()

    return world, stop


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    built, stop = build_world(tmp_path_factory.mktemp("gateway"))
    try:
        yield built
    finally:
        stop()


@pytest.fixture
def kubectl_env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir()
    return {**os.environ, "HOME": str(home), "KUBECACHEDIR": str(home / "cache")}


@pytest.fixture
def kubectl(world: World, kubectl_env: dict[str, str]) -> Kubectl:
    """``kubectl(*args, user="mona")`` with Shoal's kubeconfig for ``user``; returns the CompletedProcess."""

    def run(*args: str, user: str = "mona", check: bool = True, timeout: float = 60, stdin: str | None = None,
            kubeconfig: str | None = None) -> subprocess.CompletedProcess[str]:
        cmd = [KUBECTL, "--kubeconfig", kubeconfig or world.kubeconfigs[user], *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=kubectl_env, timeout=timeout, input=stdin)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} as {user} failed ({proc.returncode}):\n{proc.stdout}\n"
                                 f"{proc.stderr}\n--- server log ---\n{world.shoal.output()[-3000:]}")
        return proc

    return run


@pytest.fixture
def kubectl_popen(world: World, kubectl_env: dict[str, str]) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start a long-running kubectl (``-w``, ``logs -f``); killed at teardown."""
    started: list[subprocess.Popen[str]] = []

    def start(*args: str, user: str = "mona") -> subprocess.Popen[str]:
        proc = subprocess.Popen([KUBECTL, "--kubeconfig", world.kubeconfigs[user], *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=kubectl_env)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.kill()
        proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
