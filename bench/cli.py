"""Start-up of the ``shoal`` command next to a bare interpreter's, measured in one run.

Run with ``python -m bench cli`` (``BENCH_RUNS`` rounds, default 15). It starts a
real ``shoal server`` (SQLite, loopback) and then, round after round, runs as
separate processes: ``python -c pass``, ``python -m shoal --help``, a client
command (``shoal project list``, one API call) and, for scale, the same API call
alone from inside this process. Rounds interleave every figure, so a load that
drifts during the run (the machine is shared) weighs on all of them; medians are
reported, and each command's time over the bare interpreter's. Figures go to
docs/benchmarks.md.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from tests.support.server import ShoalProcess

TOKEN = "shoal_bench-cli-token-0123456789abcdef"
RUNS = int(os.environ.get("BENCH_RUNS", "15"))


def _timed(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{argv} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return elapsed


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        server = ShoalProcess(Path(tmp) / "data", {"SHOAL_ADMIN_TOKEN": TOKEN, "SHOAL_LOG_LEVEL": "WARNING"})
        server.start()
        try:
            env = {**os.environ, "SHOAL_URL": server.url, "SHOAL_TOKEN": TOKEN, "SHOAL_LANG": "en",
                   "SHOAL_CONFIG": str(Path(tmp) / "none.json")}
            headers = {"Authorization": f"Bearer {TOKEN}"}
            verify: str | bool = server.ca if server.url.startswith("https://") else True
            commands = {
                "python -c pass": [sys.executable, "-c", "pass"],
                "shoal --help": [sys.executable, "-m", "shoal", "--help"],
                "shoal project list": [sys.executable, "-m", "shoal", "project", "list"],
            }
            times: dict[str, list[float]] = {name: [] for name in [*commands, "the API call alone"]}
            with httpx.Client(base_url=server.url, headers=headers, verify=verify) as api:
                api.get("/api/v1/projects").raise_for_status()
                for _ in range(RUNS):
                    for name, argv in commands.items():
                        times[name].append(_timed(argv, env))
                    started = time.perf_counter()
                    api.get("/api/v1/projects").raise_for_status()
                    times["the API call alone"].append(time.perf_counter() - started)
        finally:
            server.stop()
    bare = statistics.median(times["python -c pass"])
    print(f"{RUNS} interleaved rounds; load average at the end: {os.getloadavg()[0]:.2f}")
    print(f"{'what':<24} {'median s':>9} {'min s':>7} {'- bare s':>9} {'x bare':>7}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<24} {median:>9.3f} {min(values):>7.3f} {median - bare:>9.3f} {median / bare:>7.1f}")


if __name__ == "__main__":
    main()
