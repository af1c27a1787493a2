"""SPDY/3.1 as Kubernetes streams use it: one codec and one server session.

kubectl and client-go speak SPDY/3.1 (moby/spdystream) for exec, attach and
port-forward when websockets are off, and tunnel SPDY inside a websocket for
their default port-forward. The wire format is the SPDY/3 draft
(https://www.chromium.org/spdy/spdy-protocol/spdy-protocol-draft3-1/):

* every frame has an 8-byte head; a control frame sets the top bit and carries
  version 3 and a type, a data frame carries a 31-bit stream id;
* header blocks (SYN_STREAM, SYN_REPLY, HEADERS) are ``count, (len name, len value)*``
  with 32-bit big-endian lengths, compressed by one zlib stream per direction that
  starts from SPDY/3's fixed dictionary and is sync-flushed after every block;
* streams opened by the client have odd ids; FLAG_FIN half-closes a stream.

The session here is the server end: it answers every SYN_STREAM with a
SYN_REPLY at once (as ``httpstream/spdy/connection.go`` does), echoes PINGs,
ignores SETTINGS and WINDOW_UPDATE (spdystream enforces no flow control and
Kubernetes payloads stay small), and hands each stream to a callback.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

__all__ = [
    "DICTIONARY", "FLAG_FIN", "Frame", "FrameReader", "HeaderCodec", "SpdySession", "SpdyStream",
    "control_frame", "data_frame",
]

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN = 0x01
RST_PROTOCOL_ERROR, RST_INVALID_STREAM, RST_CANCEL = 1, 2, 5
#: a DATA frame's payload is split at this size (the length field allows 16 MiB; spdystream reads any)
MAX_DATA = 32 * 1024


def _dictionary() -> bytes:
    """SPDY/3's header compression dictionary (draft 3, section 2.6.10.1): 1423 bytes.

    Built from its parts — length-prefixed header names and values, then a run of
    common status texts, dates and content types — rather than pasted as one blob.
    """
    words = (
        "options", "head", "post", "put", "delete", "trace", "accept", "accept-charset", "accept-encoding",
        "accept-language", "accept-ranges", "age", "allow", "authorization", "cache-control", "connection",
        "content-base", "content-encoding", "content-language", "content-length", "content-location",
        "content-md5", "content-range", "content-type", "date", "etag", "expect", "expires", "from", "host",
        "if-match", "if-modified-since", "if-none-match", "if-range", "if-unmodified-since", "last-modified",
        "location", "max-forwards", "pragma", "proxy-authenticate", "proxy-authorization", "range", "referer",
        "retry-after", "server", "te", "trailer", "transfer-encoding", "upgrade", "user-agent", "vary", "via",
        "warning", "www-authenticate", "method", "get", "status", "200 OK", "version", "HTTP/1.1", "url",
        "public", "set-cookie", "keep-alive", "origin",
    )
    tail = (
        "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
        "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized"
        "403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable"
        "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
        "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
        "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
    )
    return b"".join(struct.pack(">I", len(w)) + w.encode() for w in words) + tail.encode()


DICTIONARY = _dictionary()


@dataclass
class Frame:
    """One decoded frame: ``kind`` is a control type, or 0 for DATA."""

    kind: int
    flags: int
    payload: bytes
    stream_id: int = 0


def control_frame(kind: int, flags: int, payload: bytes) -> bytes:
    return struct.pack(">HHI", 0x8000 | VERSION, kind, (flags << 24) | len(payload)) + payload


def data_frame(stream_id: int, flags: int, payload: bytes) -> bytes:
    return struct.pack(">II", stream_id & 0x7FFFFFFF, (flags << 24) | len(payload)) + payload


class FrameReader:
    """Cuts a byte stream (which may split or join frames anywhere) into frames."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Frame]:
        self._buf.extend(data)
        frames: list[Frame] = []
        while len(self._buf) >= 8:
            first, second = struct.unpack_from(">II", self._buf)
            length = second & 0xFFFFFF
            if len(self._buf) < 8 + length:
                break
            payload = bytes(self._buf[8:8 + length])
            del self._buf[:8 + length]
            flags = second >> 24
            if first & 0x80000000:
                version = (first >> 16) & 0x7FFF
                if version != VERSION:
                    raise ValueError(f"unsupported SPDY version {version}")
                frames.append(Frame(first & 0xFFFF, flags, payload))
            else:
                frames.append(Frame(0, flags, payload, first & 0x7FFFFFFF))
        return frames


class HeaderCodec:
    """Header blocks of one session: a compressor for ours, a decompressor for the peer's."""

    def __init__(self) -> None:
        self._deflate = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, 15, 8,
                                         zlib.Z_DEFAULT_STRATEGY, DICTIONARY)
        self._inflate = zlib.decompressobj(15, DICTIONARY)

    def encode(self, headers: list[tuple[str, str]]) -> bytes:
        raw = bytearray(struct.pack(">I", len(headers)))
        for name, value in headers:
            n, v = name.lower().encode(), value.encode()
            raw += struct.pack(">I", len(n)) + n + struct.pack(">I", len(v)) + v
        return self._deflate.compress(bytes(raw)) + self._deflate.flush(zlib.Z_SYNC_FLUSH)

    def decode(self, block: bytes) -> dict[str, list[str]]:
        """Names lower-cased; a value holding NULs is several values (SPDY/3 section 2.6.10)."""
        raw = self._inflate.decompress(block) if block else b""
        (count,), pos = struct.unpack_from(">I", raw), 4
        out: dict[str, list[str]] = {}
        for _ in range(count):
            (n,) = struct.unpack_from(">I", raw, pos)
            name = raw[pos + 4:pos + 4 + n].decode("latin-1").lower()
            pos += 4 + n
            (v,) = struct.unpack_from(">I", raw, pos)
            value = raw[pos + 4:pos + 4 + v].decode("latin-1")
            pos += 4 + v
            out.setdefault(name, []).extend(value.split("\x00"))
        return out


class _PeerGone(Exception):
    """The peer sent GOAWAY: it opens no more streams and the session ends."""


Read = Callable[[], Awaitable[bytes]]
Write = Callable[[bytes], Awaitable[None]]


@dataclass(eq=False)
class SpdyStream:
    """A client-opened stream: its headers, what the client sent, and our half."""

    session: SpdySession
    id: int
    headers: dict[str, list[str]]
    inbox: asyncio.Queue[bytes] = field(default_factory=asyncio.Queue)
    remote_closed: bool = False
    local_closed: bool = False

    def header(self, name: str) -> str:
        return (self.headers.get(name.lower()) or [""])[0]

    async def read(self) -> bytes:
        """The next chunk from the client; ``b""`` once it half-closed (or the session ended)."""
        if self.remote_closed and self.inbox.empty():
            return b""
        return await self.inbox.get()

    async def read_all(self) -> bytes:
        chunks = bytearray()
        while chunk := await self.read():
            chunks += chunk
        return bytes(chunks)

    async def write(self, data: bytes) -> None:
        if self.local_closed or self.session.closed:
            return
        for start in range(0, len(data), MAX_DATA):
            await self.session.send(data_frame(self.id, 0, data[start:start + MAX_DATA]))

    async def close(self) -> None:
        """Half-close: FLAG_FIN on an empty DATA frame."""
        if not self.local_closed and not self.session.closed:
            self.local_closed = True
            await self.session.send(data_frame(self.id, FLAG_FIN, b""))

    def _eof(self) -> None:
        if not self.remote_closed:
            self.remote_closed = True
            self.inbox.put_nowait(b"")


class SpdySession:
    """The server end of one SPDY/3.1 connection over any byte pipe (TLS socket, websocket messages)."""

    def __init__(self, read: Read, write: Write, on_stream: Callable[[SpdyStream], None]) -> None:
        self._read = read
        self._write = write
        self._on_stream = on_stream
        self._codec = HeaderCodec()
        self._reader = FrameReader()
        self._lock = asyncio.Lock()
        self.streams: dict[int, SpdyStream] = {}
        self.closed = False
        self.done = asyncio.Event()

    async def send(self, frame: bytes) -> None:
        async with self._lock:
            if not self.closed:
                await self._write(frame)

    async def _reply(self, stream_id: int) -> None:
        # compressing and writing under one lock keeps the peer's zlib stream in step
        async with self._lock:
            if not self.closed:
                block = self._codec.encode([])
                await self._write(control_frame(SYN_REPLY, 0, struct.pack(">I", stream_id) + block))

    async def run(self) -> None:
        """Read frames until the peer goes away (or breaks the protocol); then end every stream."""
        try:
            while True:
                data = await self._read()
                if not data:
                    break
                for frame in self._reader.feed(data):
                    await self._dispatch(frame)
        except _PeerGone:
            pass
        except (ValueError, zlib.error, struct.error):
            with contextlib.suppress(Exception):
                await self.send(control_frame(GOAWAY, 0, struct.pack(">II", 0, RST_PROTOCOL_ERROR)))
        finally:
            self.closed = True
            for stream in self.streams.values():
                stream._eof()
            self.done.set()

    async def _dispatch(self, frame: Frame) -> None:
        if frame.kind == 0:
            stream = self.streams.get(frame.stream_id)
            if stream is None:
                await self.send(control_frame(RST_STREAM, 0, struct.pack(">II", frame.stream_id, RST_INVALID_STREAM)))
                return
            if frame.payload:
                stream.inbox.put_nowait(frame.payload)
            if frame.flags & FLAG_FIN:
                stream._eof()
        elif frame.kind == SYN_STREAM:
            stream_id = struct.unpack_from(">I", frame.payload)[0] & 0x7FFFFFFF
            stream = SpdyStream(self, stream_id, self._codec.decode(frame.payload[10:]))
            self.streams[stream_id] = stream
            await self._reply(stream_id)
            if frame.flags & FLAG_FIN:
                stream._eof()
            self._on_stream(stream)
        elif frame.kind == HEADERS:
            self._codec.decode(frame.payload[4:])  # keeps the zlib stream in step; nothing to act on
        elif frame.kind == RST_STREAM:
            stream_id = struct.unpack_from(">I", frame.payload)[0] & 0x7FFFFFFF
            reset = self.streams.get(stream_id)
            if reset is not None:
                reset.local_closed = True
                reset._eof()
        elif frame.kind == PING:
            await self.send(control_frame(PING, 0, frame.payload[:4]))
        elif frame.kind == GOAWAY:
            raise _PeerGone
        # SETTINGS, WINDOW_UPDATE and unknown control frames are ignored (SPDY/3 section 2.2.1)

    async def goaway(self) -> None:
        last = max(self.streams, default=0)
        await self.send(control_frame(GOAWAY, 0, struct.pack(">II", last, 0)))
        self.closed = True
