"""HTTPS by default (issue 15): a ``shoal server`` started with no TLS settings serves HTTPS with a CA it generated.

The ``world`` server (tests.gateway.conftest) sets no ``SHOAL_TLS_*`` and no ``SHOAL_PLAIN_HTTP``: what a new user
gets from ``shoal server``. Checked here with real clients: the certificate's SANs (read back with
``cryptography`` from the handshake, not from Shoal's code), the real kubectl 1.37 with a kubeconfig downloaded
through the API and nothing else (``get --raw /version``, ``get ns``), the session cookie's ``Secure`` flag, and the
real ``shoal`` CLI finding the CA in the server's data dir by itself (or naming the file to trust when it cannot).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import certifi
import httpx
import pytest
from cryptography import x509

from tests.gateway.conftest import KUBECTL, World


def _served_certificate(port: int) -> x509.Certificate:
    """The certificate the server presents in a real TLS handshake (verification off: we read it, then check)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def test_no_tls_settings_serves_https_with_a_generated_ca(world: World) -> None:
    assert "SHOAL_PLAIN_HTTP" not in world.shoal.env and not any(k.startswith("SHOAL_TLS") for k in world.shoal.env)
    data = world.shoal.data_dir / "tls"
    assert {p.name for p in data.iterdir()} >= {"ca.crt", "ca.key", "server.crt", "server.key"}
    assert (data / "ca.key").stat().st_mode & 0o077 == 0 and (data / "server.key").stat().st_mode & 0o077 == 0
    served = _served_certificate(world.shoal.port)
    ca = x509.load_pem_x509_certificate((data / "ca.crt").read_bytes())
    served.verify_directly_issued_by(ca)  # raises unless the data dir's CA signed what is served
    san = served.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.DNSName)) >= {"localhost"}
    assert set(san.get_values_for_type(x509.IPAddress)) >= {ipaddress.ip_address("127.0.0.1"),
                                                           ipaddress.ip_address("::1")}
    # verified with the CA, for every SAN a client on this machine may dial
    for host in ("127.0.0.1", "localhost"):
        assert httpx.get(f"https://{host}:{world.shoal.port}/readyz", verify=ssl.create_default_context(
            cafile=str(data / "ca.crt")), timeout=10).json() == {"status": "ok", "database": "ok"}
    # and no plain HTTP on that port
    with pytest.raises(httpx.HTTPError):  # the TLS server drops a plain-HTTP request without an answer
        httpx.get(f"http://127.0.0.1:{world.shoal.port}/readyz", timeout=10)


def test_downloaded_kubeconfig_works_with_real_kubectl_and_no_setup(world: World, tmp_path: Path) -> None:
    with world.api("vera") as vera:
        issued = vera.post(f"/api/v1/clusters/{world.cluster_id}/kubeconfig", json={})
    assert issued.status_code == 201, issued.text
    config = tmp_path / "config"
    config.write_text(issued.json()["kubeconfig"])
    assert issued.json()["server"].startswith(f"https://127.0.0.1:{world.shoal.port}/clusters/")
    # a fresh HOME, no SSL_CERT_FILE, no --certificate-authority, no --insecure-skip-tls-verify: the CA is embedded
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSL_CERT")}
    env.update(HOME=str(tmp_path), KUBECACHEDIR=str(tmp_path / "cache"))
    version = subprocess.run([KUBECTL, "--kubeconfig", str(config), "get", "--raw", "/version"],
                             capture_output=True, text=True, env=env, timeout=60)
    assert version.returncode == 0, version.stderr
    assert '"gitVersion"' in version.stdout
    namespaces = subprocess.run([KUBECTL, "--kubeconfig", str(config), "get", "ns", "-o", "name"],
                                capture_output=True, text=True, env=env, timeout=60)
    assert namespaces.returncode == 0, namespaces.stderr
    assert "namespace/kube-system" in namespaces.stdout.split()


def test_session_cookie_is_secure_over_https(world: World) -> None:
    with httpx.Client(base_url=world.shoal.url, verify=world.shoal.ca, timeout=30) as client:
        answer = client.post("/api/v1/auth/login", json={"username": "mona", "password": "password-123"})
    assert answer.status_code == 200, answer.text
    cookies = answer.headers.get_list("set-cookie")
    assert len(cookies) == 2
    assert all("; secure" in cookie.lower() for cookie in cookies), cookies


def _shoal(*args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    """The real CLI, run from its own HOME (so no ./data of the checkout is found by accident)."""
    return subprocess.run([sys.executable, "-m", "shoal", *args], input=stdin, capture_output=True, text=True,
                          env=env, timeout=60, cwd=env["HOME"])


def test_cli_trusts_the_local_servers_ca_or_names_the_file(world: World, tmp_path: Path) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SHOAL_", "SSL_CERT"))}
    base.update(SHOAL_CONFIG=str(tmp_path / "config.json"), SHOAL_LANG="en", HOME=str(tmp_path), COLUMNS="300")
    login = ["login", "--url", world.shoal.url, "-u", "mona", "--password-stdin"]
    # pointed at a local server whose data dir it is told (as the server was): trusts its CA by itself
    found = _shoal(*login, env={**base, "SHOAL_DATA_DIR": str(world.shoal.data_dir)}, stdin="password-123\n")
    assert found.returncode == 0, found.stderr
    assert "Logged in to" in found.stdout
    # also where SSL_CERT_FILE names the system's bundle machine-wide (common): the local CA is added to it
    bundle = _shoal(*login, env={**base, "SHOAL_DATA_DIR": str(world.shoal.data_dir), "SSL_CERT_FILE": certifi.where()},
                    stdin="password-123\n")
    assert bundle.returncode == 0, bundle.stderr
    # from a directory with no data dir around and nothing configured: a clear message naming what to pass
    refused = _shoal(*login, env=base, stdin="password-123\n")
    assert refused.returncode == 1
    assert "Traceback" not in refused.stderr
    assert "is not trusted" in refused.stderr and "--ca" in refused.stderr and "SSL_CERT_FILE" in refused.stderr
    zh = _shoal(*login, env={**base, "SHOAL_LANG": "zh-CN"}, stdin="password-123\n")
    assert "证书不受信任" in zh.stderr and "Traceback" not in zh.stderr
    # the file it names: --ca (saved with the login, so later commands need nothing), SHOAL_CA, SSL_CERT_FILE
    explicit = _shoal(*login, "--ca", world.shoal.ca, env=base, stdin="password-123\n")
    assert explicit.returncode == 0, explicit.stderr
    listed = _shoal("cluster", "list", "--project", "alpha", env=base)
    assert listed.returncode == 0, listed.stderr
    assert world.cluster_id in listed.stdout
    for variable in ("SHOAL_CA", "SSL_CERT_FILE"):
        again = _shoal(*login, env={**base, variable: world.shoal.ca}, stdin="password-123\n")
        assert again.returncode == 0, (variable, again.stderr)
    missing = _shoal(*login, "--ca", str(tmp_path / "nope.crt"), env=base, stdin="password-123\n")
    assert missing.returncode == 1 and "cannot be read" in missing.stderr and "Traceback" not in missing.stderr
