"""Pytest fixtures for any test suite that needs a Kubernetes API: ``pytest_plugins = ["kubesim.testing"]``.

Fixtures:

* ``kubesim`` — a fresh one-cluster :class:`~kubesim.runner.Simulator` (3 nodes,
  seeded kube-proxy DaemonSet and coredns Deployment) served over HTTPS from a
  background thread; stopped after the test.
* ``kubesim_factory`` — ``kubesim_factory(nodes=…, clusters=…, seed_workloads=…)``
  for other shapes; every simulator it made is stopped after the test.

Typical use::

    def test_register(kubesim):
        kubeconfig = kubesim.kubeconfig_path("admin")        # or "viewer", "admin-cert"
        cluster = kubesim.cluster()                          # VirtualCluster: seed, faults, rules
        cluster.grant_group("team-a", ROLE_EDIT, namespaces=["team-a"])
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from kubesim.runner import Simulator

__all__ = ["kubesim", "kubesim_factory"]


@pytest.fixture
def kubesim_factory() -> Iterator[Callable[..., Simulator]]:
    started: list[Simulator] = []

    def make(**kwargs: Any) -> Simulator:
        sim = Simulator(**kwargs).start()
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


@pytest.fixture
def kubesim(kubesim_factory: Callable[..., Simulator]) -> Simulator:
    return kubesim_factory(nodes=3)
