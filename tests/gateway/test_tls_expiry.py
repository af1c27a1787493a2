"""The TLS settings (HTTPS unless SHOAL_PLAIN_HTTP), the Secure cookie rule, and a certificate near its end.

Real ``shoal server`` processes: one whose generated certificate expires in 10 days is renewed on start with the
same CA (so kubeconfigs already handed out keep verifying); one serving an operator's certificate that expires in
10 days says so in its log, in ``/readyz`` and in a banner admins (only) see on every page.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import ValidationError

from shoal.core.config import Settings
from shoal.gateway.tls import tls_files
from tests.support.server import ShoalProcess

ADMIN_TOKEN = "shoal_tls-expiry-admin-token-0123456789"
ADMIN_PASSWORD = "admin-password-123"


def _settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(data_dir=tmp_path, secret_key="k", **values)  # type: ignore[arg-type]


def test_https_is_the_default_and_plain_http_only_explicit(tmp_path: Path) -> None:
    default = _settings(tmp_path)
    assert default.tls_enabled and default.tls_generated and default.base_url.startswith("https://")
    plain = _settings(tmp_path, plain_http=True)
    assert not plain.tls_enabled and plain.base_url.startswith("http://") and tls_files(plain) is None
    assert not (tmp_path / "tls").exists()  # plain HTTP generates nothing
    own = _settings(tmp_path, tls_cert="/etc/shoal/tls.crt", tls_key="/etc/shoal/tls.key")
    assert own.tls_enabled and not own.tls_generated
    with pytest.raises(ValidationError, match="SHOAL_PLAIN_HTTP"):
        _settings(tmp_path, plain_http=True, tls_cert="/etc/shoal/tls.crt")
    with pytest.raises(ValidationError, match="SHOAL_TLS_KEY"):
        _settings(tmp_path, tls_key="/etc/shoal/tls.key")


@pytest.mark.parametrize(("values", "secure"), [
    ({}, True),                                                               # HTTPS by default
    ({"plain_http": True}, False),                                            # plain HTTP, no proxy
    ({"plain_http": True, "public_url": "https://shoal.example.com"}, True),  # behind a TLS-terminating proxy
    ({"public_url": "http://shoal.example.com"}, False),                      # users come in over http
    ({"plain_http": True, "cookie_secure": True}, True),                      # the explicit setting wins
    ({"cookie_secure": False}, False),
])
def test_secure_cookie_follows_how_users_reach_shoal(tmp_path: Path, values: dict[str, object], secure: bool) -> None:
    assert _settings(tmp_path, **values).secure_cookies is secure


def test_generated_certificate_names_listen_host_and_public_host(tmp_path: Path) -> None:
    settings = _settings(tmp_path, listen="192.0.2.10:8443", public_url="https://shoal.example.com:8443/")
    files = tls_files(settings)
    assert files is not None and files.ca == tmp_path / "tls" / "ca.crt"
    cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.DNSName)) == {"localhost", "shoal.example.com"}
    assert set(san.get_values_for_type(x509.IPAddress)) == {ipaddress.ip_address(a) for a in
                                                           ("127.0.0.1", "::1", "192.0.2.10")}


def _issue(ca_cert: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, days: int) -> tuple[str, str]:
    """A server certificate for 127.0.0.1/localhost signed by ``ca`` that ends in ``days`` days: (cert, key) PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "short")]))
            .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                        x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("::1"))]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return cert.public_bytes(serialization.Encoding.PEM).decode(), pem


def _ca_of(directory: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = serialization.load_pem_private_key((directory / "ca.key").read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return x509.load_pem_x509_certificate((directory / "ca.crt").read_bytes()), key


def _expires(path: Path) -> datetime.datetime:
    return x509.load_pem_x509_certificate(path.read_bytes()).not_valid_after_utc


def test_generated_certificate_near_its_end_is_renewed_on_start_with_the_same_ca(tmp_path: Path) -> None:
    data = tmp_path / "data"
    tls = data / "tls"
    tls_files(_settings(data))  # the CA a first start made; its kubeconfigs embed ca.crt
    ca_before = (tls / "ca.crt").read_bytes()
    cert, key = _issue(*_ca_of(tls), days=10)
    (tls / "server.crt").write_text(cert)
    (tls / "server.key").write_text(key)
    shoal = ShoalProcess(data, {"SHOAL_ADMIN_TOKEN": ADMIN_TOKEN, "SHOAL_CLUSTER_HEALTH_ENABLED": "false"},
                         scheme="https")
    try:
        shoal.start()  # readiness is checked with the old ca.crt: what a kubeconfig handed out earlier trusts
        now = datetime.datetime.now(datetime.UTC)
        assert _expires(tls / "server.crt") - now > datetime.timedelta(days=300)
        assert (tls / "ca.crt").read_bytes() == ca_before
        ready = httpx.get(f"{shoal.url}/readyz", verify=ssl.create_default_context(cadata=ca_before.decode()))
        assert ready.json() == {"status": "ok", "database": "ok"}  # nothing to warn about after the renewal
    finally:
        log = shoal.stop()
    assert "expires on" not in log


def test_own_certificate_near_its_end_is_reported_to_log_readyz_and_admins(tmp_path: Path) -> None:
    data = tmp_path / "data"
    tls = data / "tls"
    tls_files(_settings(tmp_path / "elsewhere"))  # an operator's private CA, made the same way
    ca_cert, ca_key = _ca_of(tmp_path / "elsewhere" / "tls")
    tls.mkdir(parents=True)
    cert, key = _issue(ca_cert, ca_key, days=10)
    (tls / "server.crt").write_text(cert)
    (tls / "server.key").write_text(key)
    (tls / "ca.crt").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    shoal = ShoalProcess(data, {
        "SHOAL_TLS_CERT": str(tls / "server.crt"), "SHOAL_TLS_KEY": str(tls / "server.key"),
        "SHOAL_TLS_CA": str(tls / "ca.crt"), "SHOAL_ADMIN_TOKEN": ADMIN_TOKEN, "SHOAL_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "SHOAL_CLUSTER_HEALTH_ENABLED": "false", "SHOAL_LOG_JSON": "false"}, scheme="https")
    try:
        shoal.start()
        assert (tls / "server.crt").read_text() == cert  # an operator's certificate is never replaced
        expires = _expires(tls / "server.crt")
        with httpx.Client(base_url=shoal.url, verify=shoal.ca, timeout=30) as client:
            assert client.get("/readyz").json() == {"status": "ok", "database": "ok",
                                                    "certificate": f"expires {expires.isoformat()}"}
            made = client.post("/api/v1/users", json={"username": "nina", "password": "password-123"},
                               headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
            assert made.status_code == 201, made.text

        def page(username: str, password: str) -> str:
            with httpx.Client(base_url=shoal.url, verify=shoal.ca, timeout=30,
                              headers={"Accept-Language": "en"}) as client:
                login = client.post("/api/v1/auth/login", json={"username": username, "password": password})
                assert login.status_code == 200, login.text
                answer = client.get("/")
                assert answer.status_code == 200, answer.text
                return answer.text

        admin_page = page("admin", ADMIN_PASSWORD)
        assert 'data-testid="tls-expiring"' in admin_page
        assert expires.strftime("%Y-%m-%d") in admin_page and str(tls / "server.crt") in admin_page
        assert 'data-testid="tls-expiring"' not in page("nina", "password-123")
    finally:
        log = shoal.stop()
    assert f"expires on {expires.isoformat()}" in log, log[-2000:]
