"""On a server that serves HTTPS itself (the default), the console's kubectl goes straight to it.

No relay: the session's kubeconfig names ``https://127.0.0.1:<port>/clusters/{id}`` and embeds the
server's own CA. Driven over ``wss://`` with the original framing.
"""

from __future__ import annotations

import base64
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.sync.client import connect

from shoal.console.framing import stdin_frame
from tests.console.conftest import plain
from tests.gateway.conftest import World, build_world


@pytest.fixture(scope="module")
def tls_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    built, stop = build_world(tmp_path_factory.mktemp("console-tls"))
    try:
        yield built
    finally:
        stop()


def test_console_over_https(tls_world: World) -> None:
    with tls_world.api("mona") as mona:
        created = mona.post(f"/api/v1/clusters/{tls_world.cluster_id}/console/sessions")
    assert created.status_code == 201, created.text
    url = created.json()["websocket_url"]
    assert url.startswith("wss://127.0.0.1:")
    context = ssl.create_default_context(cafile=tls_world.shoal.ca)
    with connect(url, ssl=context, open_timeout=30,
                 additional_headers={"Authorization": f"Bearer {tls_world.tokens['mona']}"}) as socket:
        screen = ""

        def until(needle: str) -> None:
            nonlocal screen
            deadline = time.monotonic() + 60
            while needle not in plain(screen):
                assert time.monotonic() < deadline, plain(screen)[-2000:]
                screen += base64.b64decode(socket.recv(timeout=60)).decode(errors="replace")

        until("kubectl>")
        socket.send(stdin_frame("kubectl config view -o jsonpath='{.clusters[0].cluster.server}' ; echo\r"))
        until("not supported")  # chaining is refused even here
        socket.send(stdin_frame("kubectl config view -o jsonpath='{.clusters[0].cluster.server}'\r"))
        until(f"https://127.0.0.1:{tls_world.shoal.port}/clusters/{tls_world.cluster_id}")
        socket.send(stdin_frame("kubectl get nodes\r"))
        for name in tls_world.sim.cluster().node_names():
            until(name)
    assert Path(tls_world.shoal.ca).exists()
