"""Fixtures: a kubesim in a background thread, and the real kubectl pointed at it.

``sim`` gives each test a fresh simulator (3 nodes, seeded kube-proxy DaemonSet and
coredns Deployment); ``kubectl`` runs ``.venv/bin/kubectl`` with its own HOME so
discovery caches never leak between tests.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kubesim.runner import Simulator

KUBECTL = str(Path(sys.executable).parent / "kubectl")

Kubectl = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def sim() -> Iterator[Simulator]:
    simulator = Simulator(nodes=3).start()
    try:
        yield simulator
    finally:
        simulator.stop()


@pytest.fixture
def kubectl_env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir()
    return {**os.environ, "HOME": str(home), "KUBECACHEDIR": str(home / "cache")}


@pytest.fixture
def kubectl(sim: Simulator, kubectl_env: dict[str, str]) -> Kubectl:
    """Run kubectl as ``identity`` (admin, viewer, admin-cert); returns the CompletedProcess."""

    def run(*args: str, identity: str = "admin", check: bool = True, timeout: float = 60,
            stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        cmd = [KUBECTL, "--kubeconfig", sim.kubeconfig_path(identity), *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=kubectl_env, timeout=timeout,
                              input=stdin)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n"
                                 f"{proc.stderr}")
        return proc

    return run


@pytest.fixture
def kubectl_popen(sim: Simulator, kubectl_env: dict[str, str]) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start a long-running kubectl (``-w``, ``logs -f``); killed at teardown."""
    procs: list[subprocess.Popen[str]] = []

    def start(*args: str, identity: str = "admin") -> subprocess.Popen[str]:
        proc = subprocess.Popen([KUBECTL, "--kubeconfig", sim.kubeconfig_path(identity), *args],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=kubectl_env)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
