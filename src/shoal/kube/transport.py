"""TLS contexts for managed clusters and the low-level probes of the kubeconfig check.

Who uses it: ``kube.client`` (every request's TLS context comes from
:func:`ssl_context`) and the check's DNS → TCP → TLS steps (:func:`resolve`,
:func:`tcp_connect`, :func:`tls_handshake`), which need to tell those failures
apart — a client library folds them into one "connect error".

Contexts are cached by a digest of the CA, client certificate and key, so a
sweep over thousands of clusters that share a CA builds one context, not
thousands (loading a CA costs about a millisecond).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl
import tempfile
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from threading import Lock

from cryptography import x509

from shoal.kube.addresses import check_address
from shoal.kube.credentials import Credential

__all__ = ["ProbeError", "TlsInfo", "resolve", "ssl_context", "tcp_connect", "tls_handshake"]

_CACHE_SIZE = 256
_contexts: OrderedDict[str, ssl.SSLContext] = OrderedDict()
_lock = Lock()


class ProbeError(Exception):
    """A network step failed; ``kind`` says which way (dns, refused, timeout, unreachable, tls_*)."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail[:300]


def _load_client_cert(ctx: ssl.SSLContext, cert_pem: str, key_pem: str) -> None:
    # The ssl module loads key pairs only from files: write them to a private temporary
    # directory for the duration of the call.
    with tempfile.TemporaryDirectory(prefix="shoal-kube-") as tmp:
        cert_path, key_path = os.path.join(tmp, "tls.crt"), os.path.join(tmp, "tls.key")
        for path, data in ((cert_path, cert_pem), (key_path, key_pem)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(data)
        ctx.load_cert_chain(cert_path, key_path)


def _build(credential: Credential) -> ssl.SSLContext:
    if credential.insecure:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif credential.ca_pem:
        ctx = ssl.create_default_context(cadata=credential.ca_pem)
    else:
        ctx = ssl.create_default_context()
    if credential.client_cert_pem and credential.client_key_pem:
        _load_client_cert(ctx, credential.client_cert_pem, credential.client_key_pem)
    return ctx


def ssl_context(credential: Credential) -> ssl.SSLContext:
    """The (shared, cached) TLS context for ``credential``; raises ``ssl.SSLError`` for bad PEM."""
    key = credential.tls_fingerprint()
    with _lock:
        cached = _contexts.get(key)
        if cached is not None:
            _contexts.move_to_end(key)
            return cached
    ctx = _build(credential)
    with _lock:
        _contexts[key] = ctx
        while len(_contexts) > _CACHE_SIZE:
            _contexts.popitem(last=False)
    return ctx


async def resolve(host: str, port: int, seconds: float) -> list[str]:
    """The addresses of ``host`` (an IP literal resolves to itself)."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(seconds):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except TimeoutError as e:
        raise ProbeError("dns", f"no answer within {seconds:g}s") from e
    except OSError as e:
        raise ProbeError("dns", str(e)) from e
    addresses = sorted({str(info[4][0]) for info in infos})
    if not addresses:
        raise ProbeError("dns", "no address")
    return addresses


async def tcp_connect(address: str, port: int, seconds: float) -> None:
    """Open and close a TCP connection to ``address`` (an IP the caller resolved); the address policy
    is checked first (``AddressRefused``)."""
    check_address(address)
    try:
        async with asyncio.timeout(seconds):
            _, writer = await asyncio.open_connection(address, port)
    except TimeoutError as e:
        raise ProbeError("timeout", f"no answer within {seconds:g}s") from e
    except ConnectionRefusedError as e:
        raise ProbeError("refused", str(e)) from e
    except OSError as e:
        raise ProbeError("unreachable", str(e)) from e
    writer.close()
    await _closed(writer)


async def _closed(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, ssl.SSLError):
        await writer.wait_closed()


@dataclass(frozen=True)
class TlsInfo:
    version: str
    server_not_after: datetime | None


def _tls_kind(error: ssl.SSLCertVerificationError) -> str:
    code = getattr(error, "verify_code", 0)
    message = str(getattr(error, "verify_message", "") or error).lower()
    if code == 10 or "expired" in message:
        return "tls_expired"
    if code == 62 or "hostname" in message or "ip address mismatch" in message:
        return "tls_hostname"
    return "tls_unknown_ca"


async def tls_handshake(credential: Credential, address: str, host: str, port: int, seconds: float) -> TlsInfo:
    """Complete a TLS handshake as the client would, and report the server certificate's expiry."""
    check_address(address, host, credential.server)
    ctx = ssl_context(credential)
    server_name = credential.tls_server_name or host
    try:
        async with asyncio.timeout(seconds):
            _, writer = await asyncio.open_connection(address, port, ssl=ctx, server_hostname=server_name)
    except TimeoutError as e:
        raise ProbeError("timeout", f"TLS handshake did not finish within {seconds:g}s") from e
    except ssl.SSLCertVerificationError as e:
        raise ProbeError(_tls_kind(e), str(getattr(e, "verify_message", "") or e)) from e
    except ssl.SSLError as e:
        raise ProbeError("tls_other", e.reason or str(e)) from e
    except OSError as e:
        raise ProbeError("unreachable", str(e)) from e
    ssl_object = writer.get_extra_info("ssl_object")
    not_after = None
    version = ""
    if isinstance(ssl_object, ssl.SSLObject):
        version = ssl_object.version() or ""
        der = ssl_object.getpeercert(binary_form=True)
        if der:
            not_after = x509.load_der_x509_certificate(der).not_valid_after_utc.astimezone(UTC)
    writer.close()
    await _closed(writer)
    return TlsInfo(version, not_after)
