"""``pods/portforward`` in all three forms clients use, answered by a built-in responder.

* Websocket channels (``?ports=80&ports=8080``, subprotocol ``v4.channel.k8s.io``; the
  official Python client's ``portforward``): port *i* gets data channel ``2i`` and
  error channel ``2i+1``, each opened by the server with a frame carrying the port
  number (2 bytes, little-endian) — ``pkg/kubelet/cri/streaming/portforward/websocket.go``.
* SPDY/3.1 (``X-Stream-Protocol-Version: portforward.k8s.io``; kubectl with
  ``KUBECTL_PORT_FORWARD_WEBSOCKETS=false``): per forwarded connection the client
  opens an ``error`` and a ``data`` stream sharing ``requestID`` and ``port``
  headers — ``pkg/kubelet/cri/streaming/portforward/httpstream.go``.
* SPDY inside a websocket (subprotocol ``SPDY/3.1+portforward.k8s.io``; kubectl
  1.37's default): the websocket's binary messages carry the SPDY byte stream —
  ``client-go/tools/portforward/tunneling_connection.go``.

Behind a port the pod declares, kubesim answers HTTP requests with a small text
page naming the pod and port (then closes, ``Connection: close``) and echoes
anything else; an undeclared port gets the "connection refused" error the kubelet reports.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from kubesim.spdy import SpdySession, SpdyStream

JSON = dict[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

__all__ = ["PORTFORWARD_PROTOCOL", "TUNNEL_SUBPROTOCOL", "serve_portforward", "serve_spdy_portforward",
           "websocket_pipe"]

PORTFORWARD_PROTOCOL = "portforward.k8s.io"
TUNNEL_SUBPROTOCOL = "SPDY/3.1+portforward.k8s.io"

_METHODS = (b"GET ", b"HEAD ", b"POST ", b"PUT ", b"DELETE ", b"PATCH ", b"OPTIONS ")


def _http_reply(pod: str, port: int) -> bytes:
    body = f"kubesim: pod {pod} port {port}\n".encode()
    head = (f"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n").encode()
    return head + body


def declared_ports(pod: JSON) -> set[int]:
    return {int(p.get("containerPort", 0)) for c in pod.get("spec", {}).get("containers") or []
            for p in c.get("ports") or []}


def refused(pod: JSON, port: int) -> str:
    """The kubelet's message for a port nothing listens on (``portforward/httpstream.go``)."""
    meta = pod["metadata"]
    return (f"error forwarding port {port} to pod {meta['name']}, uid {meta.get('uid', '')}: "
            f"failed to connect to localhost:{port}: connection refused")


class PortService:
    """What listens on a declared port: an HTTP responder, else an echo."""

    def __init__(self, pod: str, port: int) -> None:
        self.pod = pod
        self.port = port
        self._buf = bytearray()

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """Bytes to send back for ``data``, and whether the service then closes the connection."""
        self._buf.extend(data)
        if bytes(self._buf[:8]).startswith(_METHODS) or (len(self._buf) < 8 and any(
                m.startswith(bytes(self._buf)) for m in _METHODS)):
            if b"\r\n\r\n" in self._buf:
                self._buf.clear()
                return _http_reply(self.pod, self.port), True
            return b"", False
        out = bytes(self._buf)
        self._buf.clear()
        return out, False


async def serve_portforward(receive: Receive, send: Send, subprotocol: str, pod: JSON, ports: list[int]) -> None:
    """Websocket channels: accept and serve every requested port until the client closes."""
    await send({"type": "websocket.accept", "subprotocol": subprotocol})
    name = pod["metadata"]["name"]
    declared = declared_ports(pod)
    for i, port in enumerate(ports):
        for channel in (2 * i, 2 * i + 1):
            await send({"type": "websocket.send", "bytes": bytes([channel]) + port.to_bytes(2, "little")})
    services = {i: PortService(name, port) for i, port in enumerate(ports)}
    with contextlib.suppress(asyncio.CancelledError):
        while True:
            msg = await receive()
            if msg["type"] == "websocket.disconnect":
                return
            data = msg.get("bytes") or b""
            if not data or data[0] % 2 or data[0] // 2 >= len(ports):
                continue
            index = data[0] // 2
            port = ports[index]
            if port not in declared:
                error = f"an error occurred forwarding {port} -> {port}: {refused(pod, port)}"
                await send({"type": "websocket.send", "bytes": bytes([2 * index + 1]) + error.encode()})
                continue
            reply, _ = services[index].feed(data[1:])
            if reply:
                await send({"type": "websocket.send", "bytes": bytes([2 * index]) + reply})


async def _forward(pod: JSON, declared: set[int], data: SpdyStream, error: SpdyStream) -> None:
    """One forwarded connection: the data stream to the port's service, failures on the error stream."""
    try:
        port = int(data.header("port"))
    except ValueError:
        await error.write(f"invalid port header {data.header('port')!r}".encode())
        port = 0
    else:
        if port not in declared:
            await error.write(refused(pod, port).encode())
        else:
            service = PortService(pod["metadata"]["name"], port)
            while chunk := await data.read():
                reply, close = service.feed(chunk)
                if reply:
                    await data.write(reply)
                if close:
                    break
    await data.close()
    await error.close()


async def serve_spdy_portforward(read: Callable[[], Awaitable[bytes]], write: Callable[[bytes], Awaitable[None]],
                                 close: Callable[[], None], pod: JSON) -> None:
    """SPDY port-forward: pair streams by ``requestID``, forward each pair, until the client leaves."""
    declared = declared_ports(pod)
    pending: dict[str, dict[str, SpdyStream]] = {}
    tasks: set[asyncio.Task[None]] = set()

    def on_stream(stream: SpdyStream) -> None:
        pair = pending.setdefault(stream.header("requestID") or stream.header("port"), {})
        pair[stream.header("streamType")] = stream
        if "data" in pair and "error" in pair:
            pending.pop(stream.header("requestID") or stream.header("port"), None)
            task = asyncio.ensure_future(_forward(pod, declared, pair["data"], pair["error"]))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    session = SpdySession(read, write, on_stream)
    try:
        await session.run()
    finally:
        for task in list(tasks):
            task.cancel()
        close()


def websocket_pipe(receive: Receive, send: Send) -> tuple[Callable[[], Awaitable[bytes]],
                                                            Callable[[bytes], Awaitable[None]]]:
    """A byte pipe over websocket binary messages (``tunneling_connection.go``): no framing of its own."""

    async def read() -> bytes:
        while True:
            msg = await receive()
            if msg["type"] == "websocket.disconnect":
                return b""
            data = msg.get("bytes")
            if data:
                return bytes(data)

    async def write(data: bytes) -> None:
        await send({"type": "websocket.send", "bytes": data})

    return read, write
