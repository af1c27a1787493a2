"""asciinema v2 recordings of console sessions (``ConsoleSettings.record``), replayable by admins.

Who calls it: ``console.sessions`` (write, while a session runs) and the
console routes (list and read, admins only). A recording holds what the
terminal showed (output and resizes), never the keystrokes: passwords typed
into ``kubectl exec`` shells are not echoed, so they are not kept either.
Files live in ``<data_dir>/console/recordings/<session id>.cast``, mode 0600.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

__all__ = ["Recorder", "RecordingInfo", "list_recordings", "recording_path"]

_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


def recordings_dir(data_dir: Path) -> Path:
    return data_dir / "console" / "recordings"


def recording_path(data_dir: Path, session_id: str) -> Path | None:
    """The file of a session's recording, or None for an id that is not one of ours."""
    if not _ID.match(session_id):
        return None
    path = recordings_dir(data_dir) / f"{session_id}.cast"
    return path if path.is_file() else None


class Recorder:
    """Appends asciinema v2 events to one file."""

    def __init__(self, path: Path, *, rows: int, cols: int, title: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        self._file: IO[str] = os.fdopen(fd, "w", encoding="utf-8")
        self._start = time.monotonic()
        header = {"version": 2, "width": cols, "height": rows, "timestamp": int(time.time()),
                  "env": {"TERM": "xterm-256color"}, "title": title}
        self._file.write(json.dumps(header) + "\n")

    def _event(self, kind: str, data: str) -> None:
        self._file.write(json.dumps([round(time.monotonic() - self._start, 6), kind, data]) + "\n")

    def output(self, data: bytes) -> None:
        self._event("o", data.decode("utf-8", errors="replace"))

    def resize(self, rows: int, cols: int) -> None:
        self._event("r", f"{cols}x{rows}")

    def close(self) -> None:
        self._file.close()


@dataclass(frozen=True)
class RecordingInfo:
    session_id: str
    title: str
    started_at: datetime
    size: int


def list_recordings(data_dir: Path) -> list[RecordingInfo]:
    """Every recording, newest first."""
    found: list[RecordingInfo] = []
    folder = recordings_dir(data_dir)
    if not folder.is_dir():
        return found
    for path in folder.glob("*.cast"):
        try:
            with path.open(encoding="utf-8") as handle:
                header = json.loads(handle.readline() or "{}")
        except (OSError, ValueError):
            continue
        found.append(RecordingInfo(session_id=path.stem, title=str(header.get("title", "")),
                                   started_at=datetime.fromtimestamp(int(header.get("timestamp", 0)), UTC),
                                   size=path.stat().st_size))
    return sorted(found, key=lambda r: r.started_at, reverse=True)
