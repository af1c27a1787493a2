"""The one layer through which Shoal talks to managed clusters.

Nothing else in Shoal builds Kubernetes clients or imports a Kubernetes client
library (an import-linter contract in pyproject enforces it). A stored
:class:`Credential` (server URL, CA, bearer token or client certificate) becomes
a :class:`KubeClient` through :func:`connect`; errors leave as
``shoal.core.errors`` classes.

Modules
    ``credentials``  the credential and its (encrypted-at-rest) JSON form
    ``kubeconfig``   pasted kubeconfig -> credential, refusing exec/auth-provider users and file references
    ``addresses``    which addresses a cluster may be dialled at (SHOAL_CLUSTER_ADDRESS_POLICY); every
                     connection to a cluster is checked there when it is opened
    ``transport``    TLS contexts (cached) and the DNS/TCP/TLS probes of the check
    ``client``       the HTTP client and the one place errors are translated
    ``quantity``     Kubernetes resource quantities (``500m``, ``16Gi``) as numbers
"""

from shoal.kube.addresses import AddressPolicy, AddressRefused, check_address
from shoal.kube.client import JSON, KubeClient, VersionInfo, connect
from shoal.kube.credentials import Credential
from shoal.kube.kubeconfig import KubeconfigProblem, ParsedKubeconfig, parse_kubeconfig
from shoal.kube.quantity import parse_cpu, parse_quantity
from shoal.kube.transport import ProbeError, TlsInfo, resolve, ssl_context, tcp_connect, tls_handshake

__all__ = [
    "JSON",
    "AddressPolicy",
    "AddressRefused",
    "Credential",
    "KubeClient",
    "KubeconfigProblem",
    "ParsedKubeconfig",
    "ProbeError",
    "TlsInfo",
    "VersionInfo",
    "check_address",
    "connect",
    "parse_cpu",
    "parse_kubeconfig",
    "parse_quantity",
    "resolve",
    "ssl_context",
    "tcp_connect",
    "tls_handshake",
]
