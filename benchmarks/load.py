"""Benchmark: loading and validating a package (``load_package``) vs the DuckDB floor.

The load is what every ``dipstick check`` and ``validate`` pays before any indicator: the
model's YAML, then each table read, typed, checked rule by rule and copied into DuckDB. The
floor is ``benchmarks/check.py``'s: one DuckDB pass over the same columns. Each load runs in
a fresh child process (imports done before the clock starts); CPU is user + system of the
child's load, threads included, which is what to read on a shared machine. Run:

    python benchmarks/load.py [--dir /tmp/dipstick-large] [--repeat 3] [--before OLD_SRC]

With ``--before`` (a ``src`` folder of older code, e.g. from ``git archive``) the two are run
alternately, before then after, in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from check import floor_seconds
from machine import timed

SRC = Path(__file__).resolve().parent.parent / "src"
CHILD = """
import json, resource, sys, time
from dipstick.package import load_package, read_model
import dipstick.indicators.registry  # imported by the load; not the load's cost
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
t, c = time.perf_counter(), cpu()
read_model(__import__("pathlib").Path(sys.argv[1]))
model_wall, model_cpu = time.perf_counter() - t, cpu() - c
t, c = time.perf_counter(), cpu()
load_package(sys.argv[1]).close()
print(json.dumps({"wall": time.perf_counter() - t, "cpu": cpu() - c,
                  "model_wall": model_wall, "model_cpu": model_cpu}))
"""


def load(src: Path, root: Path) -> dict[str, float]:
    """One load in a child process whose ``dipstick`` is the one under ``src``."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    out = subprocess.run([sys.executable, "-c", CHILD, str(root)], env=env, check=True,
                         capture_output=True, text=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/dipstick-large"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--before", type=Path, help="a src folder of the code to compare")
    args = parser.parse_args()
    versions = ([("before", args.before)] if args.before else []) + [("after", SRC)]
    runs: dict[str, list[dict[str, float]]] = {name: [] for name, _ in versions}
    floors: list[tuple[float, float]] = []
    for _ in range(args.repeat):
        _, wall, cpu = timed(lambda: floor_seconds(args.dir))
        floors.append((wall, cpu))
        for name, src in versions:
            runs[name].append(load(src, args.dir))
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end")
    fcpu = statistics.median(c for _, c in floors)
    print(f"DuckDB floor (one pass, same columns): {statistics.median(w for w, _ in floors):.2f}"
          f" s wall, {fcpu:.2f} s CPU")
    for name, rs in runs.items():
        def med(k: str, rs: list[dict[str, float]] = rs) -> str:
            each = ", ".join(f"{r[k]:.2f}" for r in rs)
            return f"{statistics.median(r[k] for r in rs):.2f} s ({each})"

        print(f"{name}: load_package wall {med('wall')}")
        print(f"{name}: load_package CPU  {med('cpu')} = "
              f"{statistics.median(r['cpu'] for r in rs) / fcpu:.1f}× the floor's CPU")
        print(f"{name}:   of which the model (dipstick.yaml) CPU {med('model_cpu')}")


if __name__ == "__main__":
    main()
