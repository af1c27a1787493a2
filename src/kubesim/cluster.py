"""One virtual cluster: its store, nodes, identities, logs, simulation and faults.

A simulator process serves many of these (``--clusters K``); each has its own
``kube-system`` UID, nodes and bearer tokens. Tests hold a :class:`VirtualCluster`
to seed objects, grant rules to impersonated users and groups, flip nodes
NotReady or inject faults, all from their own thread.
"""

from __future__ import annotations

import copy
import secrets
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any

from kubesim.aggregator import ApiServiceController
from kubesim.authz import ROLE_READ_ALL, Identity, Policy, Rule
from kubesim.controllers import Simulation
from kubesim.crds import CrdController
from kubesim.defaults import apply_defaults
from kubesim.logs import LogBook
from kubesim.podutil import NODES
from kubesim.rbac import StoreRbac
from kubesim.resources import Registry, ResourceType, by_plural
from kubesim.store import Store, now_iso

JSON = dict[str, Any]

__all__ = ["ADMIN", "API_AUDIENCE", "VIEWER", "Faults", "RequestRecord", "TokenBinding", "VirtualCluster"]

ADMIN = Identity("kubesim-admin", ("system:masters",))
VIEWER = Identity("kubesim-viewer", ("kubesim:viewers",))
KUBELET_VERSION = "v1.37.1"
# the API server's own audience (--api-audiences, which defaults to the issuer; kubeadm and kind
# set the issuer to this URL): a ServiceAccount token is accepted only if it names it
API_AUDIENCE = "https://kubernetes.default.svc.cluster.local"


@dataclass(frozen=True)
class TokenBinding:
    """What a TokenRequest bound a ServiceAccount token to, re-checked on every use.

    As the real service-account authenticator (pkg/serviceaccount/claims.go ``Validate``):
    the token's audiences must intersect the audiences asked for, the ServiceAccount must
    still exist with the same UID, and so must the Pod, Secret or Node it is bound to.
    """

    audiences: tuple[str, ...]
    namespace: str
    service_account: str
    service_account_uid: str
    bound_plural: str = ""  # "pods", "secrets", "nodes" or "" for an unbound token
    bound_name: str = ""
    bound_uid: str = ""


@dataclass
class Faults:
    """Failure modes switched on by tests; times are ``time.monotonic()`` deadlines."""

    latency: float = 0.0
    error_code: int = 0
    error_until: float = 0.0
    unreachable_until: float = 0.0
    # "hang": requests wait until the fault ends (a black-holed network);
    # "reset": connections are aborted at once (a refused/reset connection)
    unreachable_mode: str = "hang"

    def error_active(self) -> bool:
        return self.error_code != 0 and time.monotonic() < self.error_until

    def unreachable(self) -> bool:
        return time.monotonic() < self.unreachable_until


@dataclass(frozen=True)
class RequestRecord:
    """One request the cluster received, as the API server's audit log has it (audit.k8s.io Event:
    ``verb``/``requestURI``, ``user.username`` and ``impersonatedUser.username``), so a test can say
    which requests ran and as whom — e.g. that none ran with a gateway's own credential un-impersonated."""

    method: str
    uri: str
    user: str  # who authenticated: token, client certificate, or system:anonymous
    impersonated_user: str = ""  # "" when the request was not impersonated
    peer: str = ""  # the client's host:port, which names the connection the request came on


#: requests kept per cluster (the oldest are dropped first)
REQUEST_LOG_SIZE = 2000


def _node(cluster: str, index: int, control_plane: bool, taint: bool) -> JSON:
    name = f"{cluster}-control-plane" if control_plane else f"{cluster}-worker-{index}"
    ip = f"172.18.{index // 250}.{2 + index % 250}"
    now = now_iso()
    labels = {
        "beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
    }
    if control_plane:
        labels["node-role.kubernetes.io/control-plane"] = ""
        labels["node.kubernetes.io/exclude-from-external-load-balancers"] = ""
    resources = {"cpu": "4", "ephemeral-storage": "102626232Ki", "hugepages-1Gi": "0", "hugepages-2Mi": "0",
                 "memory": "16365052Ki", "pods": "110"}
    cond = [
        ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
        ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
    ]
    spec: JSON = {"podCIDR": f"10.244.{index}.0/24", "podCIDRs": [f"10.244.{index}.0/24"],
                  "providerID": f"kubesim://{cluster}/{name}"}
    if taint:
        spec["taints"] = [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]
    return {
        "metadata": {"name": name, "labels": labels, "annotations": {
            "node.alpha.kubernetes.io/ttl": "0",
            "volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
        "spec": spec,
        "status": {
            "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
            "allocatable": dict(resources), "capacity": dict(resources),
            "conditions": [{"type": t, "status": s, "reason": r, "message": m, "lastHeartbeatTime": now,
                            "lastTransitionTime": now} for t, s, r, m in cond],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "architecture": "amd64", "bootID": str(uuid.uuid4()),
                "containerRuntimeVersion": "containerd://2.1.4", "kernelVersion": "6.12.48-1-amd64",
                "kubeProxyVersion": KUBELET_VERSION, "kubeletVersion": KUBELET_VERSION,
                "machineID": uuid.uuid4().hex, "operatingSystem": "linux",
                "osImage": "Debian GNU/Linux 13 (trixie)", "systemUUID": str(uuid.uuid4()),
            },
            "images": [],
        },
    }


class VirtualCluster:
    """All state of one simulated cluster; every method is safe to call from any thread."""

    def __init__(self, name: str, nodes: int = 3, *, seed_workloads: bool = True,
                 history: int = 1000, identity_seed: str | None = None) -> None:
        """``identity_seed`` makes the kube-system UID a function of (seed, name), so a
        restarted simulator with the same seed is recognised as the same cluster."""
        self._identity_seed = identity_seed
        self.name = name
        self.store = Store(history)
        self.logs = LogBook()
        self.policy = Policy()
        self.policy.bind_group(VIEWER.groups[0], ROLE_READ_ALL)
        self.faults = Faults()
        self.requests: deque[RequestRecord] = deque(maxlen=REQUEST_LOG_SIZE)
        self._tokens: dict[str, Identity] = {}
        self._expiry: dict[str, float] = {}  # token -> time.time() after which it is refused
        self._bindings: dict[str, TokenBinding] = {}
        self._token_clock_skew = 0.0  # seconds added to the wall clock when checking token expiry
        self._tokens_lock = threading.Lock()
        self.admin_token = self.add_token(ADMIN)
        self.viewer_token = self.add_token(VIEWER)
        self.registry = Registry()
        self.crds = CrdController(self.store, self.registry)
        self.apiservices = ApiServiceController(self.store, self.registry)
        self.simulation = Simulation(self.store, self.logs, name)
        self.rbac = StoreRbac(self.store)
        self.rbac.extend(self.policy)
        self._seed(nodes, seed_workloads)

    # --- identities ---------------------------------------------------------------
    def add_token(self, identity: Identity, token: str | None = None, *,
                  expires_in: float | None = None, binding: TokenBinding | None = None) -> str:
        """Register a bearer token for ``identity`` (valid ``expires_in`` seconds, or forever);
        ``binding`` makes it a ServiceAccount token with audiences and a bound object."""
        token = token or f"kubesim-{self.name}-{secrets.token_urlsafe(24)}"
        with self._tokens_lock:
            self._tokens[token] = identity
            if expires_in is not None:
                self._expiry[token] = time.time() + self._token_clock_skew + expires_in
            if binding is not None:
                self._bindings[token] = binding
        return token

    def advance_token_clock(self, seconds: float) -> None:
        """Let ``seconds`` pass for token expiry only, so a test can see a 10-minute
        ServiceAccount token (the shortest TokenRequest allows) expire without waiting."""
        with self._tokens_lock:
            self._token_clock_skew += seconds

    def authenticate_token(self, token: str, audiences: tuple[str, ...] = (API_AUDIENCE,)) -> Identity | None:
        """The identity of a bearer token presented for ``audiences``, or None (401).

        Plain tokens (admin, viewer, ``add_token``) have no audience; ServiceAccount tokens
        from a TokenRequest are refused when their audiences miss ``audiences`` or their
        ServiceAccount or bound object is gone or was recreated (another UID).
        """
        who = self.identity_for_token(token)
        if who is None:
            return None
        with self._tokens_lock:
            binding = self._bindings.get(token)
        if binding is None:
            return who
        if not set(binding.audiences) & set(audiences):
            return None
        sa = self.store.try_get(by_plural("serviceaccounts"), binding.namespace, binding.service_account)
        if sa is None or sa["metadata"].get("uid") != binding.service_account_uid:
            return None
        if binding.bound_plural:
            ns = "" if binding.bound_plural == "nodes" else binding.namespace
            obj = self.store.try_get(by_plural(binding.bound_plural), ns, binding.bound_name)
            if obj is None or obj["metadata"].get("uid") != binding.bound_uid:
                return None
        return who

    def token_audiences(self, token: str) -> tuple[str, ...]:
        """The audiences a token was issued for (the API server's own for plain tokens)."""
        with self._tokens_lock:
            binding = self._bindings.get(token)
        return binding.audiences if binding is not None else (API_AUDIENCE,)

    def expire_token(self, token: str) -> None:
        """Make a token invalid from now on (requests get 401)."""
        with self._tokens_lock:
            self._tokens.pop(token, None)
            self._expiry.pop(token, None)
            self._bindings.pop(token, None)

    def identity_for_token(self, token: str) -> Identity | None:
        with self._tokens_lock:
            deadline = self._expiry.get(token)
            if deadline is not None and time.time() + self._token_clock_skew >= deadline:
                self._tokens.pop(token, None)
                self._expiry.pop(token, None)
                self._bindings.pop(token, None)
            return self._tokens.get(token)

    def grant_user(self, user: str, rules: tuple[Rule, ...] | list[Rule],
                   namespaces: list[str] | None = None) -> None:
        """Give ``user`` (typically an impersonated one) these rules."""
        self.policy.bind_user(user, rules, namespaces)

    def grant_group(self, group: str, rules: tuple[Rule, ...] | list[Rule],
                    namespaces: list[str] | None = None) -> None:
        """Give members of ``group`` these rules (e.g. ``ROLE_VIEW`` or ``ROLE_EDIT``)."""
        self.policy.bind_group(group, rules, namespaces)

    # --- seed ---------------------------------------------------------------------
    @property
    def kube_system_uid(self) -> str:
        return str(self.store.get(by_plural("namespaces"), "", "kube-system")["metadata"]["uid"])

    def _seed(self, nodes: int, workloads: bool) -> None:
        for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
            self.create_namespace(ns)
        self.rbac.seed()
        self.apiservices.seed()
        self.store.create(by_plural("storageclasses", "storage.k8s.io"), {
            "metadata": {"name": "standard", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": "rancher.io/local-path", "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate"})
        for pc_name, value in (("system-cluster-critical", 2000000000), ("system-node-critical", 2000001000)):
            self.store.create(by_plural("priorityclasses", "scheduling.k8s.io"), {
                "metadata": {"name": pc_name}, "value": value, "globalDefault": False,
                "preemptionPolicy": "PreemptLowerPriority",
                "description": "Used for system critical pods that must run in the cluster."})
        for i in range(nodes):
            self.store.create(NODES, _node(self.name, i, i == 0, taint=i == 0 and nodes > 1))
        self.create("services", {
            "metadata": {"name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.1", "clusterIPs": ["10.96.0.1"],
                     "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}],
                     "sessionAffinity": "None", "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
                     "internalTrafficPolicy": "Cluster"},
            "status": {"loadBalancer": {}},
        }, "default")
        self.store.create(by_plural("endpoints"), {
            "metadata": {"name": "kubernetes", "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
            "subsets": [{"addresses": [{"ip": "172.18.0.2"}],
                         "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}]}]}, "default")
        self.store.create(by_plural("endpointslices", "discovery.k8s.io"), {
            "metadata": {"name": "kubernetes", "labels": {"kubernetes.io/service-name": "kubernetes",
                                                          "endpointslice.kubernetes.io/managed-by":
                                                          "endpointslice-controller.k8s.io"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["172.18.0.2"], "conditions": {"ready": True, "serving": True,
                                                                        "terminating": False}}],
            "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}]}, "default")
        if not workloads:
            return
        self.create("daemonsets", {
            "metadata": {"name": "kube-proxy", "labels": {"k8s-app": "kube-proxy"}},
            "spec": {"selector": {"matchLabels": {"k8s-app": "kube-proxy"}}, "template": {
                "metadata": {"labels": {"k8s-app": "kube-proxy"}},
                "spec": {"containers": [{"name": "kube-proxy", "image": "registry.k8s.io/kube-proxy:v1.37.1"}],
                         "tolerations": [{"operator": "Exists"}], "priorityClassName": "system-node-critical"}}},
        }, "kube-system", group="apps")
        self.create("deployments", {
            "metadata": {"name": "coredns", "labels": {"k8s-app": "kube-dns"}},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"k8s-app": "kube-dns"}}, "template": {
                "metadata": {"labels": {"k8s-app": "kube-dns"}},
                "spec": {"containers": [{"name": "coredns", "image": "registry.k8s.io/coredns/coredns:v1.12.1",
                                         "ports": [{"name": "dns", "containerPort": 53, "protocol": "UDP"}]}],
                         "tolerations": [{"key": "node-role.kubernetes.io/control-plane",
                                          "effect": "NoSchedule"}]}}},
        }, "kube-system", group="apps")

    # --- convenience for tests ----------------------------------------------------------
    def rt(self, plural: str, group: str = "") -> ResourceType:
        return by_plural(plural, group)

    def create_namespace(self, name: str, labels: dict[str, str] | None = None) -> JSON:
        """Create a namespace with the defaults and companions the real cluster adds."""
        meta_labels = {"kubernetes.io/metadata.name": name, **(labels or {})}
        uid = None
        if self._identity_seed is not None and name == "kube-system":
            uid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"kubesim:{self._identity_seed}:{self.name}:kube-system"))
        ns = self.store.create(by_plural("namespaces"), {
            "metadata": {"name": name, "labels": meta_labels},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}, uid=uid)
        self.store.create(by_plural("serviceaccounts"), {"metadata": {"name": "default"}}, name)
        return ns

    def create(self, plural: str, obj: JSON, namespace: str = "", *, group: str = "") -> JSON:
        """Create an object as the API would (defaults, controllers) without HTTP."""
        rt = by_plural(plural, group)
        obj = apply_defaults(rt, copy.deepcopy(obj))
        return self.store.create(rt, obj, namespace)

    def get(self, plural: str, name: str, namespace: str = "", *, group: str = "") -> JSON:
        return copy.deepcopy(self.store.get(by_plural(plural, group), namespace, name))

    def delete(self, plural: str, name: str, namespace: str = "", *, group: str = "") -> JSON:
        return self.store.delete(by_plural(plural, group), namespace, name)

    def set_node_ready(self, name: str, ready: bool) -> None:
        """Flip a node's Ready condition, as when its kubelet stops or resumes reporting.

        A NotReady node gets the ``node.kubernetes.io/unreachable`` taints the node
        lifecycle controller adds (so no new pods land there) and its lease is no
        longer renewed; making it Ready again removes them.
        """
        unreachable = "node.kubernetes.io/unreachable"

        def change(node: JSON) -> None:
            for c in node["status"]["conditions"]:
                if c["type"] == "Ready":
                    c["status"] = "True" if ready else "Unknown"
                    c["reason"] = "KubeletReady" if ready else "NodeStatusUnknown"
                    c["message"] = ("kubelet is posting ready status" if ready
                                    else "Kubelet stopped posting node status.")
                    c["lastTransitionTime"] = now_iso()
                    c["lastHeartbeatTime"] = now_iso()
            taints = [t for t in node["spec"].get("taints") or [] if t.get("key") != unreachable]
            if not ready:
                taints += [{"key": unreachable, "effect": "NoSchedule", "timeAdded": now_iso()},
                           {"key": unreachable, "effect": "NoExecute", "timeAdded": now_iso()}]
            if taints:
                node["spec"]["taints"] = taints
            else:
                node["spec"].pop("taints", None)
        self.store.mutate(NODES, "", name, change, subresource="any")

    def heartbeat(self) -> None:
        """Renew the node leases (called periodically by the server; tests may call it)."""
        self.simulation.heartbeat()

    def set_termination_delay(self, seconds: float) -> None:
        """Keep deleted pods Terminating for up to ``seconds`` (their grace period caps it; 0 = at once)."""
        self.simulation.termination_delay = seconds

    def set_start_delay(self, seconds: float) -> None:
        """Keep new pods in ContainerCreating for ``seconds`` before they run (0 = at once)."""
        self.simulation.start_delay = seconds

    def node_names(self) -> list[str]:
        return [n["metadata"]["name"] for n in self.store.list(NODES)[0]]

    def append_log(self, namespace: str, pod: str, container: str, text: str) -> None:
        self.logs.append(namespace, pod, container, text)

    def fail_requests(self, code: int = 503, seconds: float = 3600.0) -> None:
        """Answer every request with ``code`` for ``seconds`` (0 clears)."""
        self.faults.error_code = code
        self.faults.error_until = time.monotonic() + seconds

    def set_unreachable(self, seconds: float = 3600.0, mode: str = "hang") -> None:
        """Be unreachable for ``seconds``: requests hang (``mode="hang"``) or connections reset."""
        if mode not in ("hang", "reset"):
            raise ValueError(f"unknown unreachable mode {mode!r}")
        self.faults.unreachable_mode = mode
        self.faults.unreachable_until = time.monotonic() + seconds

    def set_latency(self, seconds: float) -> None:
        self.faults.latency = seconds

    def clear_faults(self) -> None:
        self.faults = Faults()
