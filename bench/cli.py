"""Start-up of the ``shoal`` command next to a bare interpreter's, measured in one run.

Run with ``python -m bench cli`` (``BENCH_RUNS`` rounds, default 15). It starts a
real ``shoal server`` (SQLite, loopback) and then, round after round, runs as
separate processes: ``python -c pass``, ``python -m shoal --help``, a client
command (``shoal project list``, one API call) and, for scale, the same API call
alone from inside this process. Rounds interleave every figure, so a load that
drifts during the run (the machine is shared) weighs on all of them; medians are
reported, and each command's time over the bare interpreter's — wall clock and
CPU time (user + system of the child, which a busy machine inflates less). With
``BENCH_CLI_BASELINE=/path/to/other/src`` the same commands also run from that
tree (e.g. main before a change), in the same rounds. Figures go to
docs/benchmarks.md.
"""

from __future__ import annotations

import os
import resource
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


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall-clock and CPU seconds of one run of ``argv``."""
    cpu, started = _cpu(), time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{argv} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return elapsed, _cpu() - cpu


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        server = ShoalProcess(Path(tmp) / "data", {"SHOAL_ADMIN_TOKEN": TOKEN, "SHOAL_LOG_LEVEL": "WARNING"})
        server.start()
        try:
            env = {**os.environ, "SHOAL_URL": server.url, "SHOAL_TOKEN": TOKEN, "SHOAL_LANG": "en",
                   "SHOAL_CONFIG": str(Path(tmp) / "none.json")}
            headers = {"Authorization": f"Bearer {TOKEN}"}
            verify: str | bool = server.ca if server.url.startswith("https://") else True
            shoal = [sys.executable, "-m", "shoal"]
            commands: dict[str, tuple[list[str], dict[str, str]]] = {
                "python -c pass": ([sys.executable, "-c", "pass"], env),
                "shoal --help": ([*shoal, "--help"], env),
                "shoal project list": ([*shoal, "project", "list"], env),
            }
            baseline = os.environ.get("BENCH_CLI_BASELINE")
            if baseline:
                old = {**env, "PYTHONPATH": os.pathsep.join([baseline, *env.get("PYTHONPATH", "").split(os.pathsep)])}
                commands["baseline: shoal --help"] = ([*shoal, "--help"], old)
                commands["baseline: shoal project list"] = ([*shoal, "project", "list"], old)
            wall: dict[str, list[float]] = {name: [] for name in [*commands, "the API call alone"]}
            cpu: dict[str, list[float]] = {name: [] for name in commands}
            with httpx.Client(base_url=server.url, headers=headers, verify=verify) as api:
                api.get("/api/v1/projects").raise_for_status()
                for _ in range(RUNS):
                    for name, (argv, run_env) in commands.items():
                        elapsed, used = _timed(argv, run_env)
                        wall[name].append(elapsed)
                        cpu[name].append(used)
                    started = time.perf_counter()
                    api.get("/api/v1/projects").raise_for_status()
                    wall["the API call alone"].append(time.perf_counter() - started)
        finally:
            server.stop()
    bare = statistics.median(wall["python -c pass"])
    bare_cpu = statistics.median(cpu["python -c pass"])
    print(f"{RUNS} interleaved rounds; load average at the end: {os.getloadavg()[0]:.2f}")
    print(f"{'what':<30} {'wall s':>7} {'min s':>6} {'x bare':>7} {'cpu s':>6} {'x bare':>7}")
    for name, values in wall.items():
        median = statistics.median(values)
        line = f"{name:<30} {median:>7.3f} {min(values):>6.3f} {median / bare:>7.1f}"
        if name in cpu:
            used = statistics.median(cpu[name])
            line += f" {used:>6.3f} {used / bare_cpu:>7.1f}"
        print(line)


if __name__ == "__main__":
    main()
