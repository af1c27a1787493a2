"""Driving the real kubectl's streaming commands (exec, attach, port-forward) over either protocol.

kubectl 1.37 speaks websockets by default — ``v5.channel.k8s.io`` for exec/attach, SPDY
tunnelled in a websocket (``SPDY/3.1+portforward.k8s.io``) for port-forward — and plain
SPDY/3.1 upgrades with ``KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false`` and
``KUBECTL_PORT_FORWARD_WEBSOCKETS=false`` (``staging/src/k8s.io/kubectl/pkg/cmd/exec/exec.go``,
``.../portforward/portforward.go``). Used by the direct tests and the gateway's.
"""

from __future__ import annotations

import contextlib
import re
import socket
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

from tests.kubesim.lines import read_until

#: environment per protocol; both variables are set so one name selects one wire form for every command
PROTOCOLS: dict[str, dict[str, str]] = {
    "websocket": {"KUBECTL_REMOTE_COMMAND_WEBSOCKETS": "true", "KUBECTL_PORT_FORWARD_WEBSOCKETS": "true"},
    "spdy": {"KUBECTL_REMOTE_COMMAND_WEBSOCKETS": "false", "KUBECTL_PORT_FORWARD_WEBSOCKETS": "false"},
}

#: the pods the streaming tests use: a shell, a web server declaring 8080, a ``cat`` reading stdin
PODS: list[dict[str, Any]] = [
    {"metadata": {"name": "stream-shell"}, "spec": {"containers": [
        {"name": "main", "image": "busybox:1.36", "env": [{"name": "GREETING", "value": "hello"}]}]}},
    {"metadata": {"name": "stream-web"}, "spec": {"containers": [
        {"name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 8080}]}]}},
    {"metadata": {"name": "stream-cat"}, "spec": {"containers": [
        {"name": "cat", "image": "busybox:1.36", "command": ["cat"], "stdin": True}]}},
]


#: kubectl's own log at -v=4 says when it gives up on websockets (client-go/transport/websocket fallback
#: dialers, staging/src/k8s.io/client-go/tools/remotecommand/fallback.go and portforward/fallback_dialer.go)
VERBOSE = "-v=4"
_KLOG = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+ ")


def split_log(stderr: str) -> tuple[str, str]:
    """kubectl's stderr as (what the command wrote, klog lines)."""
    lines = stderr.splitlines(keepends=True)
    return "".join(x for x in lines if not _KLOG.match(x)), "".join(x for x in lines if _KLOG.match(x))


def assert_protocol_used(protocol: str, log: str) -> None:
    """Over websockets kubectl must not have fallen back to SPDY; with SPDY asked for, it never tried websockets."""
    if protocol == "websocket":
        assert "fallback" not in log.lower(), log
    else:
        assert "WebSocket" not in log, log


def receive_all(sock: socket.socket, timeout: float = 10.0) -> bytes:
    """Everything the peer sends until it closes."""
    sock.settimeout(timeout)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


@contextlib.contextmanager
def port_forward(start: Callable[[], subprocess.Popen[str]]) -> Iterator[tuple[int, subprocess.Popen[str]]]:
    """Start ``kubectl port-forward … :8080`` (kubectl picks the local port); yield that port and the process."""
    proc = start()
    try:
        line = read_until(proc, lambda text: text.startswith("Forwarding from 127.0.0.1:"))[-1]
        match = re.match(r"Forwarding from 127\.0\.0\.1:(\d+) ->", line)
        assert match, line
        yield int(match.group(1)), proc
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.wait(timeout=10)


def http_through(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: web\r\n\r\n")
        return receive_all(sock)


def echo_through(port: int, payload: bytes) -> bytes:
    """Bytes that are not HTTP come back as they went; the answer is read until it is complete."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(payload)
        sock.settimeout(10)
        data = b""
        while len(data) < len(payload):
            chunk = sock.recv(65536)
            assert chunk, data
            data += chunk
        return data
