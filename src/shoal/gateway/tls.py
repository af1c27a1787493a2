"""HTTPS for ``shoal server``: the certificate files to serve with and the CA kubeconfigs embed.

Who calls it: ``shoal.server.serve`` (which files to hand uvicorn) and the
kubeconfig builder (which CA to embed). kubectl sends bearer tokens only over
HTTPS, so the gateway is useless to it on plain HTTP. HTTPS is the default:

* ``SHOAL_TLS_CERT`` / ``SHOAL_TLS_KEY`` (and ``SHOAL_TLS_CA`` when a private CA
  signed the certificate): the operator's own files;
* otherwise (the default): on first start a CA and a server certificate
  (EC P-256; for ``127.0.0.1``, ``localhost``, ``::1``, the listen host and the host
  of ``SHOAL_PUBLIC_URL``) are written to ``<data_dir>/tls/``; kubeconfigs and
  console sessions embed the CA, so kubectl verifies the server without any
  system trust store change. The server certificate is re-issued (same CA, so
  kubeconfigs already handed out keep working) when the host names change or
  it is within 30 days of expiry;
* ``SHOAL_PLAIN_HTTP=true``: no TLS at all (behind a TLS-terminating proxy).

:func:`expiry_warning` tells the log, ``/readyz`` and the admins' UI banner when
the served certificate expires within those 30 days (an operator's own
certificate is never renewed by Shoal).
"""

from __future__ import annotations

import datetime
import functools
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from shoal.core.config import Settings, write_private

__all__ = ["WARN_BEFORE", "TlsFiles", "ca_pem", "certificate_expiry", "expiry_warning", "tls_files"]

WARN_BEFORE = datetime.timedelta(days=30)
_RENEW_BEFORE = WARN_BEFORE


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path
    ca: Path | None


def _hosts(settings: Settings) -> list[str]:
    hosts = ["127.0.0.1", "localhost", "::1"]
    for host in (settings.host, urlsplit(settings.public_url).hostname if settings.public_url else None):
        if host and host not in hosts and host not in ("0.0.0.0", "::"):
            hosts.append(host)
    return hosts


def _key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _san(hosts: list[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


def _make_ca(directory: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Shoal self-signed CA")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    write_private(directory / "ca.key", _key_pem(key))
    (directory / "ca.crt").write_text(cert.public_bytes(serialization.Encoding.PEM).decode())


def _needs_server_cert(cert_path: Path, hosts: list[str]) -> bool:
    if not cert_path.exists():
        return True
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    if cert.not_valid_after_utc - datetime.datetime.now(datetime.UTC) < _RENEW_BEFORE:
        return True
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return True
    return set(san) != set(_san(hosts))


def _make_server_cert(directory: Path, hosts: list[str]) -> None:
    ca_key = serialization.load_pem_private_key((directory / "ca.key").read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    ca_cert = x509.load_pem_x509_certificate((directory / "ca.crt").read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[-1])]))
            .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=397))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(_san(hosts), critical=False)
            .sign(ca_key, hashes.SHA256()))
    write_private(directory / "server.key", _key_pem(key))
    (directory / "server.crt").write_text(cert.public_bytes(serialization.Encoding.PEM).decode())


def tls_files(settings: Settings) -> TlsFiles | None:
    """The files to serve HTTPS with (generating the self-signed ones if asked); None for plain HTTP."""
    if settings.tls_cert:
        return TlsFiles(Path(settings.tls_cert), Path(settings.tls_key or settings.tls_cert),
                        Path(settings.tls_ca) if settings.tls_ca else None)
    if not settings.tls_enabled:
        return None
    directory = settings.data_dir / "tls"
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not (directory / "ca.crt").exists() or not (directory / "ca.key").exists():
        _make_ca(directory)
    hosts = _hosts(settings)
    if _needs_server_cert(directory / "server.crt", hosts):
        _make_server_cert(directory, hosts)
    return TlsFiles(directory / "server.crt", directory / "server.key", directory / "ca.crt")


def ca_pem(settings: Settings) -> str | None:
    """The CA a kubeconfig should trust for this server, or None (a publicly trusted certificate, or HTTP)."""
    if settings.tls_cert:
        return Path(settings.tls_ca).read_text() if settings.tls_ca else None
    if settings.tls_generated:
        files = tls_files(settings)
        return files.ca.read_text() if files is not None and files.ca is not None else None
    return None


def certificate_expiry(settings: Settings) -> datetime.datetime | None:
    """When the certificate this server serves expires (None: plain HTTP, or no readable certificate yet)."""
    if not settings.tls_enabled:
        return None
    path = Path(settings.tls_cert) if settings.tls_cert else settings.data_dir / "tls" / "server.crt"
    try:
        return _not_after(path, path.stat().st_mtime_ns)
    except (OSError, ValueError):
        return None


@functools.lru_cache(maxsize=8)
def _not_after(path: Path, _mtime_ns: int) -> datetime.datetime:
    """A certificate file's expiry, parsed once per version of the file (``/readyz`` asks on every probe)."""
    return x509.load_pem_x509_certificate(path.read_bytes()).not_valid_after_utc


def expiry_warning(settings: Settings, now: datetime.datetime | None = None) -> datetime.datetime | None:
    """The served certificate's expiry when it falls within :data:`WARN_BEFORE` (or has passed), else None."""
    expires = certificate_expiry(settings)
    if expires is None:
        return None
    return expires if expires - (now or datetime.datetime.now(datetime.UTC)) < WARN_BEFORE else None
