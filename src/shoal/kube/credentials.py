"""A managed cluster's credential: where its API server is and how Shoal proves who it is.

Who uses it: ``kube.kubeconfig`` builds one from a pasted kubeconfig, the
cluster service stores it encrypted (``to_json`` then ``SecretBox``), and
``kube.client`` turns it back into a client. The repr never shows secrets.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Credential"]


@dataclass(frozen=True, repr=False)
class Credential:
    """Server URL, trusted CA and either a bearer token or a client certificate (PEM text)."""

    server: str
    ca_pem: str | None = None
    token: str | None = None
    client_cert_pem: str | None = None
    client_key_pem: str | None = None
    insecure: bool = False
    tls_server_name: str | None = None
    user: str = ""

    def __repr__(self) -> str:
        kind = "token" if self.token else "client-certificate" if self.client_cert_pem else "none"
        return f"Credential(server={self.server!r}, auth={kind}, insecure={self.insecure!r}, secrets=<hidden>)"

    @property
    def auth_kind(self) -> str:
        return "token" if self.token else "client-certificate" if self.client_cert_pem else "none"

    def tls_fingerprint(self) -> str:
        """A digest of everything that shapes the TLS context (used to share contexts between clients)."""
        material = "\0".join([self.ca_pem or "", self.client_cert_pem or "", self.client_key_pem or "",
                              "1" if self.insecure else "0"])
        return hashlib.sha256(material.encode()).hexdigest()

    @functools.cached_property
    def pool_key(self) -> str:
        """What tells two credentials' connections apart (server, token, TLS material); computed once."""
        return f"{self.server}\0{self.token or ''}\0{self.tls_fingerprint()}"

    def to_json(self) -> str:
        """Plaintext form for encryption at rest; never log it."""
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Credential:
        data: dict[str, Any] = json.loads(text)
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})
