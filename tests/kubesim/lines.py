"""Reading a long-running process's output line by line, with a deadline."""

from __future__ import annotations

import queue
import subprocess
import threading
import time
from collections.abc import Callable

from kubesim.cluster import VirtualCluster


def read_until(proc: subprocess.Popen[str], match: Callable[[str], bool], timeout: float = 15.0) -> list[str]:
    """Lines of ``proc.stdout`` up to and including the first that ``match``es.

    Raises AssertionError with everything read so far if none does in time.
    """
    lines: queue.Queue[str | None] = queue.Queue()
    assert proc.stdout is not None
    stdout = proc.stdout

    def pump() -> None:
        for line in stdout:
            lines.put(line)
            if match(line):
                break
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    seen: list[str] = []
    while True:
        try:
            line = lines.get(timeout=timeout)
        except queue.Empty as e:
            raise AssertionError(f"no matching line within {timeout}s; got {seen!r}") from e
        if line is None:
            raise AssertionError(f"stream ended without a matching line; got {seen!r}")
        seen.append(line)
        if match(line):
            return seen


def wait_for_watch(cluster: VirtualCluster, plural: str, group: str = "", timeout: float = 15.0) -> None:
    """Block until some client holds a watch on ``plural`` (so later changes reach it)."""
    rt = cluster.rt(plural, group)
    deadline = time.monotonic() + timeout
    while cluster.store.watch_count(rt) == 0:
        if time.monotonic() > deadline:
            raise AssertionError(f"no watch on {plural} within {timeout}s")
        time.sleep(0.02)
