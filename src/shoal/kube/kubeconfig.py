"""Read a pasted kubeconfig into a :class:`Credential`, refusing what the server cannot use.

Who calls it: the kubeconfig check (R19) as its first step, and through it the
import and the credential rotation. Only the current context is read. Refused,
each with its own message key (``check.parse.*``) and hint:

- YAML that does not parse (with line and column);
- a missing ``current-context`` or a context, cluster or user it names;
- file references (``certificate-authority``, ``client-certificate``,
  ``client-key``, ``tokenFile``): the files live on the user's machine, not ours;
- ``exec`` and ``auth-provider`` users: the server cannot run the plugin, and
  the tokens they mint expire within hours;
- basic auth (removed from Kubernetes) and users with no credential at all.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import yaml

from shoal.kube.credentials import Credential

__all__ = ["KubeconfigProblem", "ParsedKubeconfig", "parse_kubeconfig"]

#: Paste limit: real kubeconfigs are a few KiB; a megabyte is certainly a mistake.
MAX_BYTES = 1_000_000


class KubeconfigProblem(Exception):
    """The kubeconfig cannot be used; ``key``/``hint`` are message keys, ``params`` fill them."""

    def __init__(self, key: str, hint: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.hint = hint
        self.params = params


@dataclass(frozen=True)
class ParsedKubeconfig:
    credential: Credential
    context: str
    cluster: str
    user: str
    warnings: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


def _named(doc: dict[str, Any], section: str, name: str, inner: str) -> dict[str, Any] | None:
    entries = doc.get(section) or []
    if not isinstance(entries, list):
        return None
    for entry in entries:
        if isinstance(entry, dict) and entry.get("name") == name:
            value = entry.get(inner)
            return value if isinstance(value, dict) else {}
    return None


def _pem(value: Any, field_name: str) -> str:
    try:
        raw = base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError) as e:
        raise KubeconfigProblem("check.parse.bad_base64", "hint.check.parse_base64", entry=field_name) from e
    text = raw.decode("ascii", errors="replace")
    if "-----BEGIN" not in text:
        raise KubeconfigProblem("check.parse.bad_pem", "hint.check.parse_base64", entry=field_name)
    return text


def _load(text: str) -> dict[str, Any]:
    if len(text.encode()) > MAX_BYTES:
        raise KubeconfigProblem("check.parse.too_large", "hint.check.parse_paste", max=MAX_BYTES)
    if not text.strip():
        raise KubeconfigProblem("check.parse.empty", "hint.check.parse_paste")
    try:
        doc = yaml.safe_load(text)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
        raise KubeconfigProblem("check.parse.yaml", "hint.check.parse_paste", line=line, column=column,
                                problem=str(e.problem or e.context or "syntax error")) from e
    except yaml.YAMLError as e:
        raise KubeconfigProblem("check.parse.yaml", "hint.check.parse_paste", line=0, column=0,
                                problem=type(e).__name__) from e
    if not isinstance(doc, dict):
        raise KubeconfigProblem("check.parse.not_mapping", "hint.check.parse_paste")
    return doc


def parse_kubeconfig(text: str) -> ParsedKubeconfig:
    """Parse ``text``; raise :class:`KubeconfigProblem` for anything Shoal cannot use."""
    doc = _load(text)
    current = doc.get("current-context")
    if not current or not isinstance(current, str):
        raise KubeconfigProblem("check.parse.no_current_context", "hint.check.parse_context")
    context = _named(doc, "contexts", current, "context")
    if context is None:
        raise KubeconfigProblem("check.parse.context_missing", "hint.check.parse_context", name=current)
    cluster_name, user_name = str(context.get("cluster") or ""), str(context.get("user") or "")
    cluster = _named(doc, "clusters", cluster_name, "cluster")
    if cluster is None:
        raise KubeconfigProblem("check.parse.cluster_missing", "hint.check.parse_context", name=cluster_name,
                                context=current)
    user = _named(doc, "users", user_name, "user")
    if user is None:
        raise KubeconfigProblem("check.parse.user_missing", "hint.check.parse_context", name=user_name,
                                context=current)

    server = str(cluster.get("server") or "").strip()
    if not server:
        raise KubeconfigProblem("check.parse.no_server", "hint.check.parse_context", name=cluster_name)
    parts = urlsplit(server)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise KubeconfigProblem("check.parse.bad_server", "hint.check.parse_server", server=server)
    for ref in ("certificate-authority",):
        if cluster.get(ref):
            raise KubeconfigProblem("check.parse.file_reference", "hint.check.parse_embed", entry=ref)
    warnings: list[tuple[str, dict[str, Any]]] = []
    if cluster.get("proxy-url"):
        warnings.append(("check.parse.proxy_ignored", {"proxy": str(cluster["proxy-url"])}))
    ca = _pem(cluster["certificate-authority-data"], "certificate-authority-data") \
        if cluster.get("certificate-authority-data") else None
    insecure = bool(cluster.get("insecure-skip-tls-verify"))

    if user.get("exec"):
        command = str((user["exec"] or {}).get("command", "")) if isinstance(user["exec"], dict) else ""
        raise KubeconfigProblem("check.parse.exec", "hint.check.parse_static", user=user_name, command=command)
    if user.get("auth-provider"):
        provider = user["auth-provider"]
        name = str(provider.get("name", "")) if isinstance(provider, dict) else ""
        raise KubeconfigProblem("check.parse.auth_provider", "hint.check.parse_static", user=user_name,
                                provider=name)
    for ref in ("client-certificate", "client-key", "tokenFile"):
        if user.get(ref):
            raise KubeconfigProblem("check.parse.file_reference", "hint.check.parse_embed", entry=ref)
    token = str(user["token"]).strip() if user.get("token") else None
    cert = _pem(user["client-certificate-data"], "client-certificate-data") \
        if user.get("client-certificate-data") else None
    key = _pem(user["client-key-data"], "client-key-data") if user.get("client-key-data") else None
    if bool(cert) != bool(key):
        raise KubeconfigProblem("check.parse.cert_without_key", "hint.check.parse_embed", user=user_name)
    if not token and not cert:
        if user.get("username") or user.get("password"):
            raise KubeconfigProblem("check.parse.basic_auth", "hint.check.parse_static", user=user_name)
        raise KubeconfigProblem("check.parse.no_credentials", "hint.check.parse_static", user=user_name)
    credential = Credential(server=server.rstrip("/"), ca_pem=ca, token=token, client_cert_pem=cert,
                            client_key_pem=key, insecure=insecure,
                            tls_server_name=str(cluster["tls-server-name"]) if cluster.get("tls-server-name")
                            else None, user=user_name)
    return ParsedKubeconfig(credential, current, cluster_name, user_name, warnings)
