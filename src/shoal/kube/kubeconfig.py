"""Read a pasted kubeconfig into a :class:`Credential`, refusing what the server cannot use.

Who calls it: the kubeconfig check (R19) as its first step, and through it the
import and the credential rotation (in a thread: parsing is CPU-bound); the CLI
reads files with :func:`load_yaml` before sending them. Only the current context
is read. Refused, each with its own message key (``check.parse.*``) and hint:

- more than :data:`MAX_BYTES`, YAML anchors and aliases (a few hundred bytes of
  nested aliases expand to gigabytes: refused before anything is expanded),
  nesting deeper than :data:`MAX_DEPTH`;
- YAML that does not parse (with line and column);
- a value of the wrong type where kubectl expects text (server, token, names,
  certificate data…) or true/false — never turned into text with ``str()``;
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

__all__ = ["MAX_BYTES", "MAX_DEPTH", "KubeconfigProblem", "ParsedKubeconfig", "load_yaml", "parse_kubeconfig"]

#: Paste limit. A kubeconfig for one context with an embedded CA and client certificate is 5-10 KiB;
#: a merged ~/.kube/config of a few dozen contexts stays under 256 KiB, and the pure-Python YAML
#: parsers read 256 KiB in about 10 ms (libyaml) or 0.2-0.5 s (pure Python, where libyaml is missing), in a thread.
MAX_BYTES = 256 * 1024
#: A kubeconfig nests about five levels (users -> item -> user -> exec -> env -> item).
MAX_DEPTH = 20


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


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader that refuses anchors and aliases and bounds nesting.

    Why: ``safe_load`` shares aliased nodes, and the first ``str()`` or walk of the
    result expands them, so ~500 bytes of nested aliases (a "billion laughs")
    become gigabytes. kubectl and cloud consoles never write anchors, so refusing
    them costs nothing. Refused at the first anchor or alias event, before any node is built.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        mark = event.start_mark
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise KubeconfigProblem("check.parse.alias", "hint.check.parse_flat", line=mark.line + 1,
                                    column=mark.column + 1)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise KubeconfigProblem("check.parse.too_deep", "hint.check.parse_flat", max=MAX_DEPTH,
                                        line=mark.line + 1)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


#: libyaml is there (the usual wheels): scan its events, then build with its safe loader (~20x the pure-Python speed)
_FAST = bool(getattr(yaml, "__with_libyaml__", False))
_OPEN = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_CLOSE = (yaml.MappingEndEvent, yaml.SequenceEndEvent)


def _scan(text: str) -> None:
    """What :class:`_Loader` refuses, checked on libyaml's event stream (nothing is built or expanded)."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.CSafeLoader):
        mark = event.start_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise KubeconfigProblem("check.parse.alias", "hint.check.parse_flat", line=line, column=column)
        if isinstance(event, _OPEN):
            depth += 1
            if depth >= MAX_DEPTH:
                raise KubeconfigProblem("check.parse.too_deep", "hint.check.parse_flat", max=MAX_DEPTH, line=line)
        elif isinstance(event, _CLOSE):
            depth -= 1


def _kind(value: Any) -> str:
    """How a wrong value reads in a message (the value itself is never echoed: it may be a secret)."""
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, bytes):
        return "binary data"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _text(value: Any, entry: str) -> str:
    """A text field ('' when absent); any other type is refused (kubectl refuses it too)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    raise KubeconfigProblem("check.parse.not_string", "hint.check.parse_flat", entry=entry, found=_kind(value))


def _flag(value: Any, entry: str) -> bool:
    if value is None or isinstance(value, bool):
        return bool(value)
    raise KubeconfigProblem("check.parse.not_bool", "hint.check.parse_flat", entry=entry, found=_kind(value))


def _mapping(value: Any, entry: str) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    raise KubeconfigProblem("check.parse.not_mapping_entry", "hint.check.parse_flat", entry=entry,
                            found=_kind(value))


def _named(doc: dict[str, Any], section: str, name: str, inner: str) -> dict[str, Any] | None:
    entries = doc.get(section)
    if entries is None:
        return None
    if not isinstance(entries, list):
        raise KubeconfigProblem("check.parse.not_list", "hint.check.parse_flat", entry=section, found=_kind(entries))
    for entry in entries:
        if not isinstance(entry, dict):
            raise KubeconfigProblem("check.parse.not_mapping_entry", "hint.check.parse_flat", entry=section,
                                    found=_kind(entry))
        if _text(entry.get("name"), f"{section}[].name") == name:
            return _mapping(entry.get(inner), f"{section}[{name}].{inner}")
    return None


def _pem(value: Any, field_name: str) -> str:
    text = _text(value, field_name)
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise KubeconfigProblem("check.parse.bad_base64", "hint.check.parse_base64", entry=field_name) from e
    decoded = raw.decode("ascii", errors="replace")
    if "-----BEGIN" not in decoded:
        raise KubeconfigProblem("check.parse.bad_pem", "hint.check.parse_base64", entry=field_name)
    return decoded


def load_yaml(text: str) -> dict[str, Any]:
    """The kubeconfig's top-level mapping: size, anchors/aliases and depth are checked while reading.

    CPU-bound: callers on the event loop run it in a thread.
    """
    if len(text) > MAX_BYTES or len(text.encode()) > MAX_BYTES:
        raise KubeconfigProblem("check.parse.too_large", "hint.check.parse_flat", max=MAX_BYTES // 1024)
    if not text.strip():
        raise KubeconfigProblem("check.parse.empty", "hint.check.parse_paste")
    loader: _Loader | None = None
    try:
        if _FAST:
            _scan(text)  # anchors, aliases and depth, from libyaml's events, before anything is built
            doc = yaml.load(text, Loader=yaml.CSafeLoader)  # the safe loader, in C
        else:
            loader = _Loader(text)  # the reader refuses control characters here already
            doc = loader.get_single_data()
    except yaml.reader.ReaderError as e:  # a control character or NUL: binary data, most likely
        line = text.count("\n", 0, e.position) + 1
        column = e.position - (text.rfind("\n", 0, e.position) + 1) + 1
        raise KubeconfigProblem("check.parse.yaml", "hint.check.parse_paste", line=line, column=column,
                                problem=f"character #x{e.character:04x} is not allowed in YAML text") from e
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
        raise KubeconfigProblem("check.parse.yaml", "hint.check.parse_paste", line=line, column=column,
                                problem=str(e.problem or e.context or "syntax error")) from e
    except yaml.YAMLError as e:
        raise KubeconfigProblem("check.parse.yaml", "hint.check.parse_paste", line=0, column=0,
                                problem=type(e).__name__) from e
    except (ValueError, RecursionError) as e:  # a scalar the loader cannot convert (an int of 5000 digits)
        raise KubeconfigProblem("check.parse.yaml", "hint.check.parse_paste", line=0, column=0,
                                problem="a value is too long or too deep to read") from e
    finally:
        if loader is not None:
            loader.dispose()
    if not isinstance(doc, dict):
        raise KubeconfigProblem("check.parse.not_mapping", "hint.check.parse_paste")
    return doc


def parse_kubeconfig(text: str) -> ParsedKubeconfig:
    """Parse ``text``; raise :class:`KubeconfigProblem` for anything Shoal cannot use (CPU-bound: see load_yaml)."""
    doc = load_yaml(text)
    current = _text(doc.get("current-context"), "current-context")
    if not current:
        raise KubeconfigProblem("check.parse.no_current_context", "hint.check.parse_context")
    context = _named(doc, "contexts", current, "context")
    if context is None:
        raise KubeconfigProblem("check.parse.context_missing", "hint.check.parse_context", name=current)
    cluster_name = _text(context.get("cluster"), f"contexts[{current}].context.cluster")
    user_name = _text(context.get("user"), f"contexts[{current}].context.user")
    cluster = _named(doc, "clusters", cluster_name, "cluster")
    if cluster is None:
        raise KubeconfigProblem("check.parse.cluster_missing", "hint.check.parse_context", name=cluster_name,
                                context=current)
    user = _named(doc, "users", user_name, "user")
    if user is None:
        raise KubeconfigProblem("check.parse.user_missing", "hint.check.parse_context", name=user_name,
                                context=current)

    server = _text(cluster.get("server"), "server").strip()
    if not server:
        raise KubeconfigProblem("check.parse.no_server", "hint.check.parse_context", name=cluster_name)
    parts = urlsplit(server)
    try:
        hostname, _ = parts.hostname, parts.port
    except ValueError:
        hostname = None
    if parts.scheme not in ("https", "http") or not hostname:
        raise KubeconfigProblem("check.parse.bad_server", "hint.check.parse_server", server=server[:200])
    if _text(cluster.get("certificate-authority"), "certificate-authority"):
        raise KubeconfigProblem("check.parse.file_reference", "hint.check.parse_embed", entry="certificate-authority")
    warnings: list[tuple[str, dict[str, Any]]] = []
    proxy = _text(cluster.get("proxy-url"), "proxy-url")
    if proxy:
        warnings.append(("check.parse.proxy_ignored", {"proxy": proxy[:200]}))
    ca_data = cluster.get("certificate-authority-data")
    ca = _pem(ca_data, "certificate-authority-data") if ca_data else None
    insecure = _flag(cluster.get("insecure-skip-tls-verify"), "insecure-skip-tls-verify")
    tls_server_name = _text(cluster.get("tls-server-name"), "tls-server-name") or None

    if user.get("exec"):
        command = _text(_mapping(user["exec"], "exec").get("command"), "exec.command")
        raise KubeconfigProblem("check.parse.exec", "hint.check.parse_static", user=user_name, command=command[:200])
    if user.get("auth-provider"):
        provider = _text(_mapping(user["auth-provider"], "auth-provider").get("name"), "auth-provider.name")
        raise KubeconfigProblem("check.parse.auth_provider", "hint.check.parse_static", user=user_name,
                                provider=provider[:200])
    for ref in ("client-certificate", "client-key", "tokenFile"):
        if _text(user.get(ref), ref):
            raise KubeconfigProblem("check.parse.file_reference", "hint.check.parse_embed", entry=ref)
    token = _text(user.get("token"), "token").strip() or None
    cert_data, key_data = user.get("client-certificate-data"), user.get("client-key-data")
    cert = _pem(cert_data, "client-certificate-data") if cert_data else None
    key = _pem(key_data, "client-key-data") if key_data else None
    if bool(cert) != bool(key):
        raise KubeconfigProblem("check.parse.cert_without_key", "hint.check.parse_embed", user=user_name)
    if not token and not cert:
        if user.get("username") or user.get("password"):
            raise KubeconfigProblem("check.parse.basic_auth", "hint.check.parse_static", user=user_name)
        raise KubeconfigProblem("check.parse.no_credentials", "hint.check.parse_static", user=user_name)
    credential = Credential(server=server.rstrip("/"), ca_pem=ca, token=token, client_cert_pem=cert,
                            client_key_pem=key, insecure=insecure, tls_server_name=tls_server_name, user=user_name)
    return ParsedKubeconfig(credential, current, cluster_name, user_name, warnings)
