"""``pods/portforward`` over websocket (channel protocol), answered by a built-in responder.

The websocket form the client libraries use (``?ports=80&ports=8080``, subprotocol
``v4.channel.k8s.io``): port *i* gets data channel ``2i`` and error channel
``2i+1``, each opened by the server with a frame carrying the port number (2 bytes,
little-endian). Behind a port the pod declares, kubesim answers HTTP requests with
a small text page naming the pod and port, and echoes anything else; an undeclared
port gets the "connection refused" error the kubelet reports. kubectl's own
port-forward tunnels SPDY inside the websocket and is not supported.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

JSON = dict[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

__all__ = ["serve_portforward"]

_METHODS = (b"GET ", b"HEAD ", b"POST ", b"PUT ", b"DELETE ", b"PATCH ", b"OPTIONS ")


def _http_reply(pod: str, port: int) -> bytes:
    body = f"kubesim: pod {pod} port {port}\n".encode()
    head = (f"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n").encode()
    return head + body


async def serve_portforward(receive: Receive, send: Send, subprotocol: str, pod: JSON, ports: list[int]) -> None:
    """Accept the websocket and serve every requested port until the client closes."""
    await send({"type": "websocket.accept", "subprotocol": subprotocol})
    name = pod["metadata"]["name"]
    uid = pod["metadata"].get("uid", "")
    declared = {int(p.get("containerPort", 0)) for c in pod.get("spec", {}).get("containers") or []
                for p in c.get("ports") or []}
    for i, port in enumerate(ports):
        for channel in (2 * i, 2 * i + 1):
            await send({"type": "websocket.send", "bytes": bytes([channel]) + port.to_bytes(2, "little")})
    buffers: dict[int, bytearray] = {i: bytearray() for i in range(len(ports))}
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
                error = (f"an error occurred forwarding {port} -> {port}: error forwarding port {port} to pod "
                         f"{name}, uid {uid}: failed to connect to localhost:{port}: connection refused")
                await send({"type": "websocket.send", "bytes": bytes([2 * index + 1]) + error.encode()})
                continue
            buf = buffers[index]
            buf.extend(data[1:])
            if bytes(buf[:8]).startswith(_METHODS):
                if b"\r\n\r\n" in buf:
                    buf.clear()
                    await send({"type": "websocket.send", "bytes": bytes([2 * index]) + _http_reply(name, port)})
            else:
                await send({"type": "websocket.send", "bytes": bytes([2 * index]) + bytes(buf)})
                buf.clear()
