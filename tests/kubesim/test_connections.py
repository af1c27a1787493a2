"""kubesim keeps HTTP/1.1 connections as Go's net/http (and so kube-apiserver) does, checked with raw sockets.

Source: golang/go src/net/http/server.go — ``(*conn).serve`` reads a request, runs the handler and,
unless the handler hijacked the connection or ``shouldReuseConnection`` says no (``closeAfterReply``,
set by a request's ``Connection: close``), loops to read the next request from the same connection:
pipelined requests are answered one after the other, in order, and an ``Upgrade`` header on a handler
that does not upgrade is ignored (the request is answered as an ordinary one, the connection kept).
"""

from __future__ import annotations

import base64
import json
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager

from kubesim.runner import Simulator

WEBSOCKET = ("Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
             f"Sec-WebSocket-Key: {base64.b64encode(b'0123456789abcdef').decode()}\r\n")
SPDY = "Connection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\n"


class Raw:
    """One TLS connection to kubesim: write bytes, read whole responses (Content-Length framed)."""

    def __init__(self, sock: ssl.SSLSocket, token: str) -> None:
        self.sock, self.token, self.buffer = sock, token, b""

    def request(self, method: str, path: str, extra: str = "", body: bytes = b"") -> bytes:
        return (f"{method} {path} HTTP/1.1\r\nHost: kubesim\r\nAuthorization: Bearer {self.token}\r\n"
                f"Content-Length: {len(body)}\r\n{extra}\r\n").encode() + body

    def send(self, *requests: bytes) -> None:
        self.sock.sendall(b"".join(requests))

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        self.buffer += data
        return bool(data)

    def response(self) -> tuple[int, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.buffer:
            assert self._fill(), f"connection closed before a response: {self.buffer!r}"
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers["content-length"])
        while len(self.buffer) < length:
            assert self._fill(), "connection closed inside a body"
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return int(lines[0].split(" ", 2)[1]), headers, body

    def closed(self) -> bool:
        """Whether the server has closed the connection (EOF within 0.5 s, nothing more sent); a server
        that closes after an answer does so at once, so half a second tells a kept connection apart."""
        self.sock.settimeout(0.5)
        try:
            return not self._fill() and self.buffer == b""
        except TimeoutError:
            return False


@contextmanager
def raw(sim: Simulator) -> Iterator[Raw]:
    host, port = sim.url.removeprefix("https://").rsplit(":", 1)
    ctx = ssl.create_default_context(cadata=sim.ca.cert_pem.decode())
    ctx.check_hostname = False
    with socket.create_connection((host, int(port)), timeout=10) as plain, \
            ctx.wrap_socket(plain, server_hostname=host) as sock:
        yield Raw(sock, sim.cluster().admin_token)


def test_a_declined_upgrade_keeps_the_connection_and_the_next_request_is_read(sim: Simulator) -> None:
    for upgrade in (SPDY, WEBSOCKET):
        with raw(sim) as conn:
            # an Upgrade on paths that do not upgrade, the next request pipelined behind it in the same write
            conn.send(conn.request("GET", "/api/v1/namespaces/kube-system", upgrade), conn.request("GET", "/version"))
            status, _, body = conn.response()
            assert status == 200 and json.loads(body)["metadata"]["name"] == "kube-system", upgrade
            status, _, body = conn.response()
            assert status == 200 and json.loads(body)["gitVersion"].startswith("v1."), upgrade
            # and the connection is still usable afterwards
            conn.send(conn.request("GET", "/healthz"))
            assert conn.response()[::2] == (200, b"ok")
            assert not conn.closed()


def test_a_refused_spdy_exec_keeps_the_connection_too(sim: Simulator) -> None:
    """An exec kubesim declines (the pod does not exist: 404 before any 101) is answered; what follows is
    the next request."""
    pod = "no-such-pod"
    with raw(sim) as conn:
        conn.send(conn.request("POST", f"/api/v1/namespaces/kube-system/pods/{pod}/exec?command=sh&stdout=true",
                               SPDY),
                  conn.request("DELETE", "/api/v1/namespaces/default/configmaps/nope"))
        status, _, _ = conn.response()
        assert status != 101
        status, _, body = conn.response()
        assert status == 404 and json.loads(body)["details"]["name"] == "nope"


def test_pipelined_requests_are_answered_in_order(sim: Simulator) -> None:
    with raw(sim) as conn:
        conn.send(conn.request("GET", "/api/v1/namespaces/default"),
                  conn.request("POST", "/api/v1/namespaces/default/configmaps", body=json.dumps(
                      {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "piped"}}).encode(),
                      extra="Content-Type: application/json\r\n"),
                  conn.request("GET", "/api/v1/namespaces/default/configmaps/piped"),
                  conn.request("GET", "/readyz"))
        assert json.loads(conn.response()[2])["metadata"]["name"] == "default"
        status, _, body = conn.response()
        assert status == 201 and json.loads(body)["metadata"]["name"] == "piped"
        status, _, body = conn.response()
        assert status == 200 and json.loads(body)["kind"] == "ConfigMap"  # ran after the create
        assert conn.response()[::2] == (200, b"ok")
        assert not conn.closed()


def test_connection_close_is_honoured(sim: Simulator) -> None:
    with raw(sim) as conn:
        conn.send(conn.request("GET", "/version", "Connection: close\r\n"), conn.request("GET", "/healthz"))
        status, headers, _ = conn.response()
        assert status == 200 and headers.get("connection") == "close"
        assert conn.closed()  # the request after it is not answered: the server closed the connection
