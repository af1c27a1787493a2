"""HTTP/1.1 connections handled like Go's net/http, which serves the real kube-apiserver.

The gateway in front of a cluster relays bytes on kept-alive connections, so how the
API server treats a connection after each request decides what the gateway must
guard against (request smuggling behind a declined Upgrade). Go's ``net/http``
(src/net/http/server.go, ``(*conn).serve``) reads one request, runs the handler, and —
unless the handler hijacked the connection (what the API server does to upgrade exec,
attach, port-forward and websocket watches) or the request said ``Connection: close``
(``closeAfterReply`` / ``shouldReuseConnection``) — reads the next request from the same
connection, answering pipelined requests strictly in order. An ``Upgrade`` header on a
path that does not upgrade is simply ignored: the request is answered as an ordinary
one and the connection stays open for the next.

uvicorn's httptools protocol differs in two places, fixed here:

* llhttp pauses at the end of any request with ``Connection: Upgrade``; uvicorn then
  drops what followed in the same read (a pipelined request) and leaves the client
  waiting forever. Here the rest is fed on as the next request.
* uvicorn hands every ``Upgrade: websocket`` request to the websocket protocol, so a
  websocket handshake on, say, ``/api/v1/namespaces`` got a 500 and a closed
  connection. Here only the paths kubesim upgrades (a pod's ``exec``, ``attach`` and
  ``portforward``) switch protocols; any other is served as plain HTTP.
"""

from __future__ import annotations

import re

import httptools

from kubesim.tls import CertRecordingProtocol

__all__ = ["GoLikeHttpProtocol", "upgrades"]

_UPGRADING = re.compile(r"/api/v1/namespaces/[^/]+/pods/[^/]+/(exec|attach|portforward)/?$")


def upgrades(url: bytes) -> bool:
    """Whether a request for ``url`` (request-target bytes) is one the server switches protocols for."""
    try:
        path = httptools.parse_url(url).path or b""
    except httptools.HttpParserInvalidURLError:
        return False
    return _UPGRADING.search(path.decode("latin-1")) is not None


class GoLikeHttpProtocol(CertRecordingProtocol):
    """uvicorn's httptools protocol with net/http's keep-alive after a declined Upgrade."""

    def _should_upgrade(self) -> bool:
        return super()._should_upgrade() and upgrades(self.url)

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        while data:
            try:
                self.parser.feed_data(data)
                return
            except httptools.HttpParserError:
                msg = "Invalid HTTP request received."
                self.logger.warning(msg)
                self.send_400_response(msg)
                return
            except httptools.HttpParserUpgrade as upgrade:
                if self._should_upgrade():
                    self.handle_websocket_upgrade()
                    return
                # declined: the request was an ordinary one (already dispatched); the bytes
                # after it are the next request, which httptools' parser (resumed) reads on
                offset = int(upgrade.args[0]) if upgrade.args else len(data)
                data = data[offset:]
