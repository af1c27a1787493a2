"""Container logs of simulated pods, with followers for ``kubectl logs -f``.

The simulated kubelet writes a few start-up lines per container; tests append
more with :meth:`LogBook.append` and see them arrive on a follow stream. Followers
are woken thread-safely, since tests append from their own thread.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime

__all__ = ["LogBook", "LogFollower", "LogLine"]


@dataclass(frozen=True)
class LogLine:
    timestamp: str
    text: str

    def render(self, timestamps: bool) -> str:
        return f"{self.timestamp} {self.text}\n" if timestamps else f"{self.text}\n"


@dataclass(eq=False)
class LogFollower:
    """A ``follow=true`` reader: receives new lines, then None when the pod goes away."""

    loop: asyncio.AbstractEventLoop
    key: tuple[str, str, str]
    queue: asyncio.Queue[LogLine | None] = field(default_factory=asyncio.Queue)

    def push(self, line: LogLine | None) -> None:
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.queue.put_nowait, line)


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LogBook:
    """Log lines per (namespace, pod, container)."""

    # bound per container so long benchmarks do not grow without limit
    MAX_LINES = 1000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lines: dict[tuple[str, str, str], list[LogLine]] = {}
        self._followers: set[LogFollower] = set()

    def start_container(self, ns: str, pod: str, container: str, image: str, node: str) -> None:
        """The lines a freshly started container prints in the simulation."""
        self.append(ns, pod, container, f"kubesim: container {container} started (image {image}) on {node}")

    def append(self, ns: str, pod: str, container: str, text: str) -> None:
        """Add lines (split on newlines) to a container's log and wake its followers."""
        key = (ns, pod, container)
        new = [LogLine(_stamp(), t) for t in text.splitlines() or [""]]
        with self._lock:
            lines = self._lines.setdefault(key, [])
            lines.extend(new)
            del lines[: max(0, len(lines) - self.MAX_LINES)]
            followers = [f for f in self._followers if f.key == key]
        for f in followers:
            for line in new:
                f.push(line)

    def read(self, ns: str, pod: str, container: str) -> list[LogLine]:
        with self._lock:
            return list(self._lines.get((ns, pod, container), []))

    def follow(self, ns: str, pod: str, container: str,
               loop: asyncio.AbstractEventLoop) -> tuple[list[LogLine], LogFollower]:
        """The lines so far and a follower for the ones to come, atomically."""
        f = LogFollower(loop, (ns, pod, container))
        with self._lock:
            self._followers.add(f)
            return list(self._lines.get((ns, pod, container), [])), f

    def unfollow(self, f: LogFollower) -> None:
        with self._lock:
            self._followers.discard(f)

    def close_pod(self, ns: str, pod: str) -> None:
        """The pod is gone: end its follow streams and forget its logs."""
        with self._lock:
            for key in [k for k in self._lines if k[:2] == (ns, pod)]:
                del self._lines[key]
            followers = [f for f in self._followers if f.key[:2] == (ns, pod)]
        for f in followers:
            f.push(None)
