"""Issue 13, finding 4: SSRF through cluster addresses.

Proves, over real sockets, kubesim and the real app:

- the default policy refuses loopback (``localhost`` included: the name is resolved and
  the resolved address checked), Shoal's own host and database host; link-local and the
  cloud metadata addresses are refused whatever the policy says; private ranges pass;
- every dial point obeys it at connect time: the check, the kube client (import, nodes,
  health), the gateway's pooled h1 connections, its aiohttp path and its websockets;
- a cluster imported while its address was allowed is refused by the gateway and the
  health loop once the policy is tightened (checked on the next connect, not at import);
- the check's answer about a non-Kubernetes address (Shoal's own port) does not reflect
  the page, and port states are not told apart.

The session's policy is ``allow=loopback`` (tests/conftest.py); tests that need the
default install it with the ``strict`` fixture.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import re
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from kubesim.runner import Simulator
from shoal.api.app import create_app
from shoal.clusters.health import HealthLoop
from shoal.clusters.models import Cluster
from shoal.context import AppContext, build_context
from shoal.core.config import Settings
from shoal.core.errors import ShoalError
from shoal.kube import addresses
from shoal.kube.addresses import AddressPolicy, AddressRefused, PolicyError
from shoal.kube.client import KubeClient
from shoal.kube.credentials import Credential
from shoal.kube.kubeconfig import parse_kubeconfig
from shoal.kube.pool import Upstream, UpstreamRefused
from shoal.tasks.worker import Worker, WorkerSettings, load_task_modules
from tests.conftest import TEST_ADDRESS_POLICY
from tests.support.api import enabled_project

load_task_modules()


@pytest.fixture
def db_url(tmp_path: Path, sqlite_template: Path) -> str:
    """SQLite only: nothing here depends on the database engine."""
    path = tmp_path / "shoal.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    simulator = Simulator(nodes=1, seed_workloads=False).start()
    try:
        yield simulator
    finally:
        simulator.stop()


@pytest.fixture
def strict() -> Iterator[AddressPolicy]:
    """The default policy (nothing allowed beyond the defaults), restored to the session's afterwards."""
    policy = AddressPolicy.parse("")
    addresses.install(policy)
    try:
        yield policy
    finally:
        addresses.install(AddressPolicy.parse(TEST_ADDRESS_POLICY))


def _kubeconfig(sim: Simulator, server: str) -> str:
    doc = yaml.safe_load(sim.kubeconfig("admin"))
    doc["clusters"][0]["cluster"]["server"] = server
    return yaml.safe_dump(doc)


def _port(sim: Simulator) -> int:
    return int(sim.url.rsplit(":", 1)[1])


def _own_address() -> str:
    """A non-loopback address of this machine (from its interfaces)."""
    out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, check=True).stdout.split()
    found = [a for a in out if not ipaddress.ip_address(a).is_loopback and not ipaddress.ip_address(a).is_link_local]
    assert found, out
    return found[0]


# --- the policy itself -------------------------------------------------------------------------

@pytest.mark.parametrize(("address", "reason"), [
    ("127.0.0.1", "loopback"), ("127.9.9.9", "loopback"), ("::1", "loopback"), ("::ffff:127.0.0.1", "loopback"),
    ("169.254.169.254", "metadata"), ("fd00:ec2::254", "metadata"), ("100.100.100.200", "metadata"),
    ("169.254.0.23", "metadata"), ("::ffff:169.254.169.254", "metadata"), ("64:ff9b::a9fe:a9fe", "metadata"),
    ("2002:a9fe:a9fe::1", "metadata"), ("169.254.10.1", "link_local"), ("fe80::1", "link_local"),
    ("0.0.0.0", "not_unicast"), ("::", "not_unicast"), ("224.0.0.1", "not_unicast"),
    ("255.255.255.255", "not_unicast"),
    ("10.1.2.3", None), ("172.16.0.1", None), ("192.168.1.1", None), ("fd12::1", None), ("8.8.8.8", None),
])
def test_default_verdicts(address: str, reason: str | None) -> None:
    assert AddressPolicy.parse("").verdict(address) == reason


def test_default_refuses_own_host_and_database_host() -> None:
    own = _own_address()
    policy = AddressPolicy.parse("", listen="0.0.0.0:8080", database_url="postgresql+asyncpg://u:p@10.9.8.7:5432/db")
    assert policy.verdict(own) == "own_host"
    assert policy.verdict("10.9.8.7") == "database"
    assert policy.verdict("10.9.8.8") is None
    allowed = AddressPolicy.parse(f"allow={own},10.9.8.7/32", database_url="postgresql://u@10.9.8.7/db")
    assert allowed.verdict(own) is None and allowed.verdict("10.9.8.7") is None


def test_allow_reopens_defaults_but_never_metadata_or_link_local() -> None:
    policy = AddressPolicy.parse("allow=loopback,0.0.0.0/0,::/0,kind.example;deny=10.20.0.0/16")
    assert policy.verdict("127.0.0.1") is None and policy.verdict("::1") is None
    assert policy.verdict("169.254.169.254") == "metadata"
    assert policy.verdict("fe80::1") == "link_local"
    assert policy.verdict("10.20.1.1") == "denied"
    narrow = AddressPolicy.parse("allow=kind.example")
    assert narrow.verdict("127.0.0.1", "kind.example") is None
    assert narrow.verdict("127.0.0.1", "other.example") == "loopback"
    assert narrow.verdict("169.254.169.254", "kind.example") == "metadata"


@pytest.mark.parametrize(("spec", "says"), [
    ("allow=169.254.169.254", "can never be allowed"), ("allow=fe80::/64", "can never be allowed"),
    ("allow=100.100.100.200", "can never be allowed"), ("allow=not an address", "is not an address"),
    ("deny=example.com", "is not an address"), ("permit=10.0.0.0/8", "is not allow=<list> or deny=<list>"),
])
def test_bad_policies_stop_start_up_with_the_entry(spec: str, says: str, settings: Settings) -> None:
    with pytest.raises(PolicyError, match=re.escape(says)):
        AddressPolicy.parse(spec)
    with pytest.raises(PolicyError, match=re.escape(says)):
        build_context(settings.model_copy(update={"cluster_address_policy": spec}))
    addresses.install(AddressPolicy.parse(TEST_ADDRESS_POLICY))


def test_the_demo_allows_kubesims_address_and_nothing_more(monkeypatch: pytest.MonkeyPatch) -> None:
    from shoal.demo import demo_address_policy

    monkeypatch.delenv("SHOAL_CLUSTER_ADDRESS_POLICY")
    assert demo_address_policy() == "allow=127.0.0.1"
    demo = AddressPolicy.parse(demo_address_policy())
    assert demo.verdict("127.0.0.1") is None
    assert demo.verdict("127.0.0.2") == "loopback" and demo.verdict("169.254.169.254") == "metadata"
    monkeypatch.setenv("SHOAL_CLUSTER_ADDRESS_POLICY", "deny=10.0.0.0/8")
    assert AddressPolicy.parse(demo_address_policy()).verdict("10.1.1.1") == "denied"


# --- every dial point, over real sockets -------------------------------------------------------

async def test_localhost_is_resolved_and_refused_at_every_dial_point(sim: Simulator, strict: AddressPolicy) -> None:
    server = f"https://localhost:{_port(sim)}"
    credential = Credential(server=server, token="t", insecure=True)
    kube = KubeClient(credential, timeout=5)
    with pytest.raises(AddressRefused) as caught:
        await kube.version()
    await kube.close()
    assert caught.value.reason == "loopback" and caught.value.params["address"] in ("127.0.0.1", "::1")

    upstream = Upstream("k", credential, max_connections=2, connect_timeout=5)

    async def body() -> AsyncIterator[bytes]:
        yield b"{}"

    try:
        for attempt in (upstream.open(),  # the front's pooled h1 connections
                        upstream.send("GET", b"/version", [], None, read_timeout=5),  # the ASGI gateway (h1)
                        upstream.send("POST", b"/api/v1/namespaces", [], body(), read_timeout=5),  # aiohttp
                        upstream.websocket(b"/api/v1/namespaces/default/pods/p/exec?command=ls", [], [])):
            with pytest.raises(AddressRefused) as refused:
                await attempt
            assert refused.value.reason == "loopback"
    finally:
        await upstream.aclose()


async def test_allowed_loopback_connects_and_tls_verifies_the_name(sim: Simulator) -> None:
    """The session's allow=loopback lets the same dial points through (the refusal above is the policy's);
    the connection goes to the checked address and TLS still verifies the name against kubesim's CA."""
    credential = parse_kubeconfig(_kubeconfig(sim, f"https://localhost:{_port(sim)}")).credential
    assert not credential.insecure and credential.ca_pem
    kube = KubeClient(credential, timeout=5)
    try:
        assert (await kube.version())["gitVersion"].startswith("v1.")
    finally:
        await kube.close()
    upstream = Upstream("k", credential, max_connections=2, connect_timeout=5)
    try:
        response = await upstream.send("GET", b"/version", [], None, read_timeout=5)
        body = b"".join([chunk async for chunk in response.chunks()])
        await response.aclose()
        assert response.status == 200 and b"gitVersion" in body
    finally:
        await upstream.aclose()


@pytest.fixture
async def redirector() -> AsyncIterator[str]:
    """A server on loopback that answers everything with a redirect to the metadata address."""
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 302 Found\r\nlocation: http://169.254.169.254/latest/meta-data/\r\n"
                         b"content-length: 0\r\nconnection: close\r\n\r\n")
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        await server.wait_closed()


async def test_redirects_are_not_followed(redirector: str) -> None:
    kube = KubeClient(Credential(server=redirector, token="t"), timeout=5)
    try:
        with pytest.raises(ShoalError) as caught:
            await kube.version()
    finally:
        await kube.close()
    assert not isinstance(caught.value, AddressRefused) and caught.value.params["status"] == 302
    upstream = Upstream("k", Credential(server=redirector, token="t"), max_connections=2, connect_timeout=5)
    try:
        with pytest.raises(UpstreamRefused) as refused:
            await upstream.websocket(b"/api/v1/namespaces/default/pods/p/exec?command=ls", [], [])
        assert refused.value.status == 302
    finally:
        await upstream.aclose()


# --- the check API ---------------------------------------------------------------------------

async def _check(client: httpx.AsyncClient, headers: dict[str, str], kubeconfig: str, lang: str = "en"
                 ) -> dict[str, object]:
    r = await client.post("/api/v1/clusters/check", json={"project": "alpha", "kubeconfig": kubeconfig},
                          headers={**headers, "Accept-Language": lang})
    assert r.status_code == 200, r.text
    failed = [i for i in r.json()["checks"] if not i["passed"] and not i["skipped"]]
    assert len(failed) == 1, r.json()
    return dict(failed[0])


@pytest.fixture
async def mona(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> dict[str, str]:
    return (await enabled_project(client, admin_headers, {"mona": "manager"}))["mona"]


async def test_check_refuses_localhost_by_default_and_says_how_to_allow(
        client: httpx.AsyncClient, mona: dict[str, str], sim: Simulator, strict: AddressPolicy) -> None:
    kubeconfig = _kubeconfig(sim, f"https://localhost:{_port(sim)}")
    item = await _check(client, mona, kubeconfig)
    assert item["name"] == "dns"
    assert "loopback address" in str(item["message"]) and "localhost" in str(item["message"])
    assert "SHOAL_CLUSTER_ADDRESS_POLICY=allow=" in str(item["hint"])
    zh = await _check(client, mona, kubeconfig, "zh-CN")
    assert "回环地址" in str(zh["message"]) and "SHOAL_CLUSTER_ADDRESS_POLICY" in str(zh["hint"])


@pytest.mark.parametrize("server", ["http://169.254.169.254/", "https://[fd00:ec2::254]:443",
                                    "http://100.100.100.200", "https://[::ffff:169.254.169.254]"])
async def test_check_refuses_metadata_whatever_the_policy(
        client: httpx.AsyncClient, mona: dict[str, str], sim: Simulator, server: str) -> None:
    started = time.perf_counter()
    item = await _check(client, mona, _kubeconfig(sim, server))
    assert time.perf_counter() - started < 2  # refused before any connection attempt
    assert item["name"] == "dns" and "metadata address" in str(item["message"])
    assert "can never be allowed" in str(item["hint"])


async def test_check_does_not_reflect_what_answers_at_shoals_own_port(
        client: httpx.AsyncClient, mona: dict[str, str], sim: Simulator, api_server: str) -> None:
    async with httpx.AsyncClient() as plain_client:
        page = await plain_client.get(f"{api_server}/version")
    assert page.status_code >= 400 and page.text  # Shoal answers with a page of its own
    fragments = {w for w in re.findall(r"[A-Za-z_]{5,}", page.text)} - {"error"}
    assert fragments, page.text
    plain = await _check(client, mona, _kubeconfig(sim, api_server))
    assert plain["name"] == "version"
    assert plain["message"] == f"{api_server} answered, but not as a Kubernetes API server."
    text = f"{plain['message']} {plain['hint']}"
    assert not [f for f in fragments if f in text], fragments
    tls = await _check(client, mona, _kubeconfig(sim, api_server.replace("http://", "https://")))
    assert tls["name"] == "tls"
    assert tls["message"] == ("The TLS handshake with 127.0.0.1 failed: the address does not speak TLS that "
                              "Shoal can use.")


async def test_check_calls_a_redirect_not_kubernetes(client: httpx.AsyncClient, mona: dict[str, str],
                                                     sim: Simulator, redirector: str) -> None:
    item = await _check(client, mona, _kubeconfig(sim, redirector))
    assert item["name"] == "version"
    assert item["message"] == f"{redirector} answered, but not as a Kubernetes API server."


async def test_check_does_not_tell_port_states_apart(client: httpx.AsyncClient, mona: dict[str, str],
                                                     sim: Simulator) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    item = await _check(client, mona, _kubeconfig(sim, f"https://127.0.0.1:{closed}"))
    assert item["name"] == "tcp"
    assert item["message"] == f"Could not connect to 127.0.0.1:{closed} within 5 s."


# --- tightened after import: the gateway and the health loop refuse -----------------------------

async def test_policy_tightened_after_import_is_obeyed_by_gateway_and_health_loop(
        client: httpx.AsyncClient, ctx: AppContext, mona: dict[str, str], sim: Simulator) -> None:
    # imported while loopback is allowed (the session's policy), through the API and the import task
    r = await client.post("/api/v1/clusters", json={"project": "alpha", "name": "local",
                                                    "kubeconfig": _kubeconfig(sim, f"https://localhost:{_port(sim)}")},
                          headers=mona)
    assert r.status_code == 201, r.text
    cluster = r.json()
    worker = Worker(ctx.db, WorkerSettings(lease_seconds=5, poll_interval=0.05, concurrency=2), app=ctx,
                    name="address-test-worker")
    await worker.drain([cluster["import_task_id"]], within=60)
    async with ctx.db.session() as session:
        row = await session.get(Cluster, cluster["id"])
        assert row is not None and row.status == "RUNNING", row and row.status_message
        encrypted = row.credential
    health = HealthLoop(ctx)
    try:
        assert (await health.probe(cluster["id"], encrypted)).ok

        addresses.install(AddressPolicy.parse(""))  # tightened: loopback refused again
        try:
            probe = await health.probe(cluster["id"], encrypted)
            assert not probe.ok and "loopback address" in probe.error, probe
            headers = {**mona, "Accept-Language": "en"}
            base = f"/clusters/{cluster['id']}"
            app = create_app(ctx, with_web=False)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://shoal.test") as gw:
                try:
                    answers = [await gw.get(f"{base}/api/v1/namespaces", headers=headers),  # h1
                               await gw.post(f"{base}/api/v1/namespaces", headers=headers,  # aiohttp
                                             json={"metadata": {"name": "x"}})]
                finally:
                    await app.state.gateway.aclose()
            for answer in answers:
                assert answer.status_code == 503, answer.text
                assert "loopback address" in answer.text and "SHOAL_CLUSTER_ADDRESS_POLICY" in answer.text
        finally:
            addresses.install(AddressPolicy.parse(TEST_ADDRESS_POLICY))
    finally:
        await health.close()
