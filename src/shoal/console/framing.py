"""The console websocket's framing, compatible with the original platform's front end.

Who calls it: the websocket route (``api.routes.console``) and the tests.
Client -> server: text frames whose first character is the channel, followed by
base64 data — ``0`` stdin (the bytes typed or pasted), ``4`` resize (a JSON
object ``{"rows": …, "cols": …}``; plain JSON after the ``4`` is accepted too).
Server -> client: text frames holding the terminal's output in base64.
Unknown channels and malformed frames are ignored, as the original did.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

__all__ = ["RESIZE", "STDIN", "Resize", "Stdin", "decode", "encode_output", "resize_frame", "stdin_frame"]

STDIN = "0"
RESIZE = "4"


@dataclass(frozen=True)
class Stdin:
    data: bytes


@dataclass(frozen=True)
class Resize:
    rows: int
    cols: int


def _b64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def decode(frame: str) -> Stdin | Resize | None:
    """What a client frame asks for; None for anything unknown or malformed."""
    if not frame:
        return None
    channel, payload = frame[0], frame[1:]
    if channel == STDIN:
        data = _b64(payload)
        return Stdin(data) if data else None
    if channel == RESIZE:
        raw = payload.encode() if payload.lstrip().startswith("{") else _b64(payload)
        if raw is None:
            return None
        try:
            size = json.loads(raw)
            rows, cols = int(size["rows"]), int(size["cols"])
        except (ValueError, TypeError, KeyError):
            return None
        return Resize(rows, cols) if rows > 0 and cols > 0 else None
    return None


def encode_output(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def stdin_frame(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return STDIN + base64.b64encode(raw).decode("ascii")


def resize_frame(rows: int, cols: int) -> str:
    return RESIZE + base64.b64encode(json.dumps({"rows": rows, "cols": cols}).encode()).decode("ascii")
