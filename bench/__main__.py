"""Run every benchmark module in this package (``python -m bench``), or the ones named (``python -m bench tasks``).

A benchmark is any ``bench/<name>.py`` with a ``main() -> None`` that prints its
own figures; adding one needs no change here.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
import traceback
from pathlib import Path


def discover() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)])
                  if not m.name.startswith("_"))


def main(argv: list[str]) -> int:
    names = argv or discover()
    unknown = [n for n in names if n not in discover()]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(discover())}", file=sys.stderr)
        return 2
    failed = 0
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        entry = getattr(module, "main", None)
        if entry is None:
            continue
        print(f"== bench.{name} ==", flush=True)
        started = time.perf_counter()
        # Each benchmark parses its own options; under the runner it gets none, so its defaults apply.
        sys.argv = [f"bench/{name}.py"]
        try:
            entry()
        except Exception as e:  # one broken benchmark must not hide the others' figures
            failed += 1
            print(f"bench.{name} failed: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
            traceback.print_exc()
        print(f"== bench.{name} done in {time.perf_counter() - started:.1f}s ==\n", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
