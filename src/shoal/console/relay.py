"""A loopback TLS relay in front of a plain-HTTP server, so the console's kubectl can send its token.

Who calls it: ``console.sessions`` (once, on the first console of a server that
serves plain HTTP). kubectl sends a bearer token only over HTTPS, so a server
without ``SHOAL_TLS_*`` could not let its own console's kubectl through the
gateway. The relay listens on ``127.0.0.1`` (a free port), terminates TLS with
a certificate made in memory for ``127.0.0.1`` by a throw-away CA whose PEM
goes into the sessions' kubeconfigs, and copies bytes to the server's own
plain listener. Nothing but processes on this host can reach it, and the
gateway still authenticates and authorises every request.

With the console sandbox (``console.sandbox``) the relay does not listen on the
host at all: each session's network namespace has a listening socket made by
the server (:meth:`TlsRelay.listen`), and that is the only way out of it.
:func:`forward` does the same without TLS for a server that serves HTTPS
itself: the session's ``127.0.0.1:<port>`` is piped to the server's listener.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import socket
import ssl
import tempfile
from functools import partial
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["TlsRelay", "forward"]

_CHUNK = 65536


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _certificates() -> tuple[bytes, bytes, bytes]:
    """(CA PEM, server certificate PEM, server key PEM) for 127.0.0.1, valid for a year."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Shoal console relay CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=365))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return _pem(ca), _pem(cert), key_pem


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def _pipe(target_host: str, target_port: int, reader: asyncio.StreamReader,
                writer: asyncio.StreamWriter) -> None:
    """Copy one accepted connection to a new one to ``target_host:target_port`` and back, until both ends close."""
    try:
        up_reader, up_writer = await asyncio.open_connection(target_host, target_port)
    except OSError:
        writer.close()
        return
    tasks = [asyncio.ensure_future(_copy(reader, up_writer)), asyncio.ensure_future(_copy(up_reader, writer))]
    try:
        await asyncio.wait(tasks, return_when=asyncio.ALL_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def forward(sock: socket.socket, target_host: str, target_port: int) -> asyncio.Server:
    """Accept on ``sock`` (a session namespace's listener) and pipe each connection to the target, as is."""
    return await asyncio.start_server(partial(_pipe, target_host, target_port), sock=sock)


class TlsRelay:
    """``https://127.0.0.1:<port>`` -> ``http://<target_host>:<target_port>``."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.ca_pem = ""
        self.port = 0
        self._server: asyncio.Server | None = None
        self._context: ssl.SSLContext | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    async def start(self, *, port: int | None = None) -> None:
        """Make the certificates; listen on a free loopback port of the host unless ``port`` is given.

        With ``port`` (the sandbox), nothing listens on the host: :meth:`listen` serves the sessions'
        own sockets, and ``port`` is the number they listen on inside their namespaces.
        """
        ca, cert, key = _certificates()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        # load_cert_chain reads files only: write them to a private directory and remove it at once.
        with tempfile.TemporaryDirectory(prefix="shoal-relay-") as folder:
            cert_file, key_file = Path(folder) / "cert.pem", Path(folder) / "key.pem"
            cert_file.write_bytes(cert)
            key_file.touch(mode=0o600)
            key_file.write_bytes(key)
            context.load_cert_chain(cert_file, key_file)
        self._context = context
        self.ca_pem = ca.decode()
        if port is not None:
            self.port = port
            return
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=context)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def listen(self, sock: socket.socket) -> asyncio.Server:
        """Terminate TLS on ``sock`` (a session namespace's listener) and relay to the server's plain port."""
        assert self._context is not None, "start() first"
        return await asyncio.start_server(self._serve, sock=sock, ssl=self._context)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _pipe(self.target_host, self.target_port, reader, writer)

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None
