"""kubesim: an in-memory Kubernetes API server for tests, benchmarks and the demo.

The real kubectl 1.37 and the official ``kubernetes`` Python client accept it:
HTTPS with its own CA, bearer-token and client-certificate users, RBAC-like
authorisation with impersonation, discovery (aggregated and legacy), OpenAPI v3
for ``kubectl apply``, Table printing, watches, the common subresources (log,
exec over websocket, eviction honouring PodDisruptionBudgets, scale, token) and a
light control plane (scheduler, kubelet, Deployment/ReplicaSet/DaemonSet/Job
controllers, events).

Entry points:

* ``Simulator`` (``kubesim.runner``) — in-process server: ``Simulator(nodes=3).start()``
  (or ``start_in_thread(nodes=3)``),
  ``.url``, ``.kubeconfig_path("admin"|"viewer"|"admin-cert", cluster=None)``,
  ``.cluster(name)`` → ``VirtualCluster``; ``.stop()``. Also a context manager.
* ``SubprocessSimulator`` — ``kubesim serve`` as a child process.
* ``kubesim serve --port P --nodes N --out DIR [--clusters K]`` — the CLI.
* ``kubesim.testing`` — pytest fixtures ``kubesim`` and ``kubesim_factory``.
* ``VirtualCluster`` (``kubesim.cluster``) — seed objects (``create``/``get``/``delete``),
  grant rules to (impersonated) users and groups (``grant_user``/``grant_group`` with
  ``kubesim.authz.ROLE_VIEW``/``ROLE_EDIT``/``ROLE_ADMIN``/``ROLE_CLUSTER_ADMIN`` — the real
  bootstrap roles' rules — ``ROLE_READ_ALL`` or own ``Rule``s), flip nodes NotReady, append
  container logs, inject faults (``fail_requests``, ``set_latency``, ``set_unreachable``, ``expire_token``).

Several virtual clusters share one port: ``https://127.0.0.1:PORT/clusters/<name>``;
requests without the prefix go to the first cluster.
"""

from kubesim.authz import ROLE_ADMIN, ROLE_CLUSTER_ADMIN, ROLE_EDIT, ROLE_READ_ALL, ROLE_VIEW, Identity, Rule
from kubesim.cluster import VirtualCluster
from kubesim.runner import Simulator, SubprocessSimulator, start_in_thread

__all__ = [
    "ROLE_ADMIN",
    "ROLE_CLUSTER_ADMIN",
    "ROLE_EDIT",
    "ROLE_READ_ALL",
    "ROLE_VIEW",
    "Identity",
    "Rule",
    "Simulator",
    "SubprocessSimulator",
    "VirtualCluster",
    "start_in_thread",
]
