"""The kube layer: kubeconfig refusals, secrets hidden in reprs, and only Shoal errors leave the client."""

from __future__ import annotations

import base64
import datetime
from typing import Any

import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kubesim.certs import CertificateAuthority, KeyPair
from kubesim.runner import Simulator, kubeconfig_yaml
from shoal.clusters.check import check_kubeconfig
from shoal.clusters.settings import ClusterSettings
from shoal.core.errors import ClusterUnreachable, Conflict, Invalid, NotFound, ShoalError
from shoal.kube import Credential, KubeconfigProblem, connect, parse_kubeconfig
from tests.support.server import free_port

BASE = {"apiVersion": "v1", "kind": "Config", "current-context": "c",
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
        "clusters": [{"name": "k", "cluster": {"server": "https://10.0.0.1:6443"}}],
        "users": [{"name": "u", "user": {"token": "secret-token-123"}}]}


def _doc(**user: Any) -> str:
    doc = yaml.safe_load(yaml.safe_dump(BASE))
    doc["users"][0]["user"] = user
    return yaml.safe_dump(doc)


@pytest.mark.parametrize(("text", "key"), [
    (_doc(**{"auth-provider": {"name": "oidc"}}), "check.parse.auth_provider"),
    (_doc(username="a", password="b"), "check.parse.basic_auth"),
    (_doc(), "check.parse.no_credentials"),
    (_doc(**{"client-certificate-data": base64.b64encode(b"-----BEGIN CERTIFICATE-----").decode()}),
     "check.parse.cert_without_key"),
    (_doc(**{"client-certificate-data": "%%%", "client-key-data": "%%%"}), "check.parse.bad_base64"),
    (_doc(tokenFile="/var/run/token"), "check.parse.file_reference"),
    (yaml.safe_dump({**BASE, "current-context": "other"}), "check.parse.context_missing"),
    (yaml.safe_dump({k: v for k, v in BASE.items() if k != "current-context"}), "check.parse.no_current_context"),
    (yaml.safe_dump({**BASE, "clusters": [{"name": "k", "cluster": {"server": "ftp://x"}}]}),
     "check.parse.bad_server"),
    ("", "check.parse.empty"),
])
def test_kubeconfig_refusals(text: str, key: str) -> None:
    with pytest.raises(KubeconfigProblem) as caught:
        parse_kubeconfig(text)
    assert caught.value.key == key


def test_credential_repr_hides_secrets() -> None:
    credential = parse_kubeconfig(yaml.safe_dump(BASE)).credential
    assert credential.token == "secret-token-123"
    assert "secret-token-123" not in repr(credential) and "token" in repr(credential)
    assert Credential.from_json(credential.to_json()) == credential


async def test_only_shoal_errors_leave_the_client(shared_sim: Simulator) -> None:
    good = parse_kubeconfig(shared_sim.kubeconfig("admin")).credential
    closed = Credential(server=f"https://127.0.0.1:{free_port()}", token="t")
    other_ca = Credential(server=good.server, ca_pem=CertificateAuthority().cert_pem.decode(), token="t")
    bad_token = Credential(server=good.server, ca_pem=good.ca_pem, token="nope")
    cases: list[tuple[Credential, str, type[ShoalError], str]] = [
        (closed, "/version", ClusterUnreachable, "error.cluster_connect"),
        (other_ca, "/version", ClusterUnreachable, "error.cluster_tls"),
        (bad_token, "/version", ClusterUnreachable, "error.cluster_unauthorized"),
        (good, "/api/v1/namespaces/nope", NotFound, "error.kube_not_found"),
    ]
    for credential, path, kind, code in cases:
        with pytest.raises(kind) as caught:
            async with connect(credential, call_timeout=5) as kube:
                await kube.get(path)
        assert caught.value.code == code, (credential, caught.value.code)
        assert "nope" not in str(caught.value) or code == "error.kube_not_found"


async def test_status_codes_and_garbage_are_translated() -> None:
    async def answer(request: web.Request) -> web.Response:
        status = int(request.path.rsplit("/", 1)[-1])
        if status == 299:
            return web.Response(status=200, text="<html>not json</html>")
        return web.json_response({"kind": "Status", "message": "x" * 5000, "reason": "R"}, status=status)

    app = web.Application()
    app.router.add_get("/status/{code}", answer)
    expected = {409: Conflict, 422: Invalid, 403: ClusterUnreachable, 500: ClusterUnreachable,
                429: ClusterUnreachable, 299: ClusterUnreachable}
    async with TestServer(app, host="127.0.0.1") as server, \
            connect(Credential(server=str(server.make_url("")).rstrip("/"), token="t")) as kube:
        for status, kind in expected.items():
            with pytest.raises(kind) as caught:
                await kube.get(f"/status/{status}")
            assert len(caught.value.params.get("detail", "")) <= 301  # truncated: a secret never reaches logs whole


async def test_hostname_mismatch_is_said_plainly(shared_sim: Simulator) -> None:
    doc = yaml.safe_load(shared_sim.kubeconfig("admin"))
    doc["clusters"][0]["cluster"]["tls-server-name"] = "api.wrong.example"
    report = await check_kubeconfig(yaml.safe_dump(doc), settings=ClusterSettings())
    failure = report.failure
    assert failure is not None and failure.name == "tls" and failure.message == "check.tls.hostname", failure


def _short_lived_client_cert(sim: Simulator, days: int) -> KeyPair:
    """A cluster-admin client certificate of the simulator's CA that expires in ``days`` days."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:masters"),
                         x509.NameAttribute(NameOID.COMMON_NAME, "kubesim-admin")])
    ca_cert = x509.load_pem_x509_certificate(sim.ca.cert_pem)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(sim.ca._key, hashes.SHA256()))
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM), key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


async def test_client_certificate_expiring_soon_passes_with_a_warning(shared_sim: Simulator) -> None:
    pair = _short_lived_client_cert(shared_sim, days=10)
    text = kubeconfig_yaml(shared_sim.url, shared_sim.ca.cert_pem, "soon", client=pair)
    report = await check_kubeconfig(text, settings=ClusterSettings())
    assert report.ok, [i.render("en") for i in report.items]
    item = next(i for i in report.items if i.name == "certificate").render("en")
    assert item["passed"] and "expires on" in item["warning"] and "in 9 days" in item["warning"]
